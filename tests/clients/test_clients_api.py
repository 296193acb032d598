"""Client management over HTTP (SPEC §2): admin only, keys shown once, rotation, deactivation."""

from __future__ import annotations

import httpx

from tests.conftest import Clients
from tests.factories import make_event


async def test_admin_creates_lists_rotates_and_deactivates_a_client(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    admin = await clients.make("admin")
    created = await http.post(
        "/v1/clients",
        json={"name": "SDP uji", "role": "prison", "facility_codes": [facility]},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["api_key"]
    assert key.startswith("rjk_")
    assert body["facility_codes"] == [facility]
    prison = {"Authorization": f"Bearer {key}"}
    posted = await http.post("/v1/release-events", json=make_event(facility), headers=prison)
    assert posted.status_code == 201

    listed = await http.get("/v1/clients", headers=admin.headers)
    assert listed.status_code == 200
    mine = [c for c in listed.json()["items"] if c["client_id"] == body["client_id"]]
    assert len(mine) == 1
    assert "api_key" not in mine[0]
    assert key not in listed.text

    rotated = await http.post(f"/v1/clients/{body['client_id']}/rotate-key", headers=admin.headers)
    assert rotated.status_code == 200
    new_key = rotated.json()["api_key"]
    assert new_key != key
    # The old key works during the grace period, the new one at once.
    for k in (key, new_key):
        ok = await http.get("/v1/reference/release-types", headers={"Authorization": f"Bearer {k}"})
        assert ok.status_code == 200

    gone = await http.delete(f"/v1/clients/{body['client_id']}", headers=admin.headers)
    assert gone.status_code == 204
    for k in (key, new_key):
        denied = await http.get(
            "/v1/reference/release-types", headers={"Authorization": f"Bearer {k}"}
        )
        assert denied.status_code == 401
        assert denied.headers["WWW-Authenticate"].startswith("Bearer")
        assert denied.json()["code"] == "UNAUTHENTICATED"


async def test_only_admin_manages_clients(http: httpx.AsyncClient, clients: Clients) -> None:
    for role in ("prison", "kemensos", "sentra", "auditor"):
        caller = await clients.make(role)
        response = await http.post(
            "/v1/clients", json={"name": "x", "role": "kemensos"}, headers=caller.headers
        )
        assert response.status_code == 403, role
        assert response.json()["code"] == "ROLE_NOT_PERMITTED"
        assert (await http.get("/v1/clients", headers=caller.headers)).status_code == 403


async def test_client_create_validation(http: httpx.AsyncClient, clients: Clients) -> None:
    admin = await clients.make("admin")
    cases = [
        ({"name": "x", "role": "warden"}, "/role", "INVALID_VALUE"),
        (
            {"name": "x", "role": "kemensos", "facility_codes": ["LP-A"]},
            "/facility_codes",
            "INVALID_VALUE",
        ),
        (
            {"name": "x", "role": "prison", "facility_codes": ["lower"]},
            "/facility_codes/0",
            "INVALID_VALUE",
        ),
        ({"name": "x", "role": "prison", "extra": 1}, "/extra", "UNKNOWN_FIELD"),
        ({"role": "prison"}, "/name", "FIELD_REQUIRED"),
        # A client that could read or post nothing is refused (SPEC §9).
        ({"name": "x", "role": "prison"}, "/facility_codes", "FIELD_REQUIRED"),
        ({"name": "x", "role": "sentra"}, "/sentra_codes", "FIELD_REQUIRED"),
        ({"name": "x", "role": "bapas"}, "/bapas_codes", "FIELD_REQUIRED"),
        # A sentra names its sentra: never `*` (SPEC §2).
        (
            {"name": "x", "role": "sentra", "sentra_codes": ["*"]},
            "/sentra_codes/0",
            "INVALID_VALUE",
        ),
        (
            {"name": "x", "role": "prison", "facility_codes": ["LP-A"], "bapas_codes": ["B-1"]},
            "/bapas_codes",
            "INVALID_VALUE",
        ),
    ]
    for body, pointer, code in cases:
        response = await http.post("/v1/clients", json=body, headers=admin.headers)
        assert response.status_code == 422, body
        errors = response.json()["errors"]
        assert {"pointer": pointer, "code": code} in [
            {"pointer": e.get("pointer"), "code": e["code"]} for e in errors
        ], errors


async def test_unknown_client_is_404(http: httpx.AsyncClient, clients: Clients) -> None:
    admin = await clients.make("admin")
    for cid in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = await http.delete(f"/v1/clients/{cid}", headers=admin.headers)
        assert response.status_code == 404
        assert response.json()["code"] == "CLIENT_NOT_FOUND"


async def test_create_rotate_and_deactivate_are_audited(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    """SPEC §8: every client change writes an audit row naming the client it changed; a
    refused change writes none."""
    admin = await clients.make("admin")
    auditor = await clients.make("auditor")
    headers = {**admin.headers, "X-Actor": "admin.pusat"}
    created = await http.post(
        "/v1/clients",
        json={"name": "Sentra uji", "role": "sentra", "sentra_codes": ["S-UJI"]},
        headers={**headers, "X-Request-ID": "client-create"},
    )
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    rotated = await http.post(
        f"/v1/clients/{client_id}/rotate-key",
        headers={**headers, "X-Request-ID": "client-rotate"},
    )
    assert rotated.status_code == 200, rotated.text
    deleted = await http.delete(
        f"/v1/clients/{client_id}", headers={**headers, "X-Request-ID": "client-deactivate"}
    )
    assert deleted.status_code == 204
    # Refused: a deactivated client's key cannot be rotated; an unknown client is a 404.
    again = await http.post(f"/v1/clients/{client_id}/rotate-key", headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "CLIENT_INACTIVE"
    unknown = await http.delete("/v1/clients/00000000-0000-0000-0000-000000000000", headers=headers)
    assert unknown.status_code == 404

    page = await http.get(
        "/v1/audit-events", params={"client_id": admin.client_id}, headers=auditor.headers
    )
    assert page.status_code == 200, page.text
    assert [
        (r["action"], r["outcome"], r["target_id"], r["actor"], r["request_id"], r["referral_id"])
        for r in page.json()["items"]
    ] == [
        ("client.create", "success", client_id, "admin.pusat", "client-create", None),
        ("client.rotate_key", "success", client_id, "admin.pusat", "client-rotate", None),
        ("client.deactivate", "success", client_id, "admin.pusat", "client-deactivate", None),
    ]


async def test_a_bapas_client_is_bound_to_bapas_codes(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    admin = await clients.make("admin")
    body = {"name": "Bapas Jakarta Timur", "role": "bapas", "bapas_codes": ["BAPAS-JAKTIM"]}
    created = await http.post("/v1/clients", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    out = created.json()
    assert (out["role"], out["bapas_codes"]) == ("bapas", ["BAPAS-JAKTIM"])
    assert out["facility_codes"] == [] and out["sentra_codes"] == []
