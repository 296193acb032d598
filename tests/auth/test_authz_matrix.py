"""Every endpoint, every role, own and other objects: the status each caller gets (SPEC §2).

One world per backend: facility A (own) and B (other), a referral of A assigned to sentra
X, and a webhook subscription of A's prison. "own" callers are bound to A or X, "other"
callers to B or Y. Each cell is one request; all mismatches are reported together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import ApiClient, Clients, facility_code
from tests.factories import make_event, supervised
from tests.webhooks.support import unsubscribe

BAPAS_A = f"BAPAS-{uuid.uuid4().hex[:6].upper()}"

ROLES = (
    "prison_own",
    "prison_other",
    "kemensos",
    "sentra_own",
    "sentra_other",
    "bapas_own",
    "bapas_other",
    "auditor",
    "admin",
)


@dataclass
class World:
    callers: dict[str, ApiClient]
    facility: str
    referral_id: str
    subscription_id: str
    sentra_x: str


async def build_world(http: httpx.AsyncClient, clients: Clients) -> World:
    fac_a, fac_b = facility_code(), facility_code()
    sentra_x, sentra_y = f"SX-{uuid.uuid4().hex[:6].upper()}", f"SY-{uuid.uuid4().hex[:6].upper()}"
    await clients.add_sentra(sentra_x, province="31", coverage=[])
    await clients.add_sentra(sentra_y, province="31", coverage=[])
    callers = {
        "prison_own": await clients.prison(fac_a),
        "prison_other": await clients.prison(fac_b),
        "kemensos": await clients.kemensos(),
        "sentra_own": await clients.sentra(sentra_x),
        "sentra_other": await clients.sentra(sentra_y),
        "bapas_own": await clients.bapas(BAPAS_A),
        "bapas_other": await clients.bapas(f"BAPAS-{uuid.uuid4().hex[:6].upper()}"),
        "auditor": await clients.make("auditor"),
        "admin": await clients.make("admin"),
    }
    # A supervised release: the Bapas that supervises it reads it too.
    event = supervised(make_event(fac_a))
    event["release"]["bapas_code"] = BAPAS_A
    posted = await http.post(
        "/v1/release-events", json=event, headers=callers["prison_own"].headers
    )
    assert posted.status_code == 201
    referral_id = posted.json()["referral"]["id"]
    kemensos = callers["kemensos"].headers
    for body in ({"action": "accept"}, {"action": "assign", "sentra_code": sentra_x}):
        etag = (await http.get(f"/v1/referrals/{referral_id}", headers=kemensos)).headers["ETag"]
        moved = await http.post(
            f"/v1/referrals/{referral_id}/transitions",
            json=body,
            headers={**kemensos, "If-Match": etag},
        )
        assert moved.status_code == 200, moved.text
    sub = await http.post(
        "/v1/webhook-subscriptions",
        json={"url": "https://hooks.rujukan.test/a", "event_types": ["referral.created"]},
        headers=callers["prison_own"].headers,
    )
    assert sub.status_code == 201, sub.text
    return World(callers, fac_a, referral_id, sub.json()["id"], sentra_x)


def _all(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def _readers(own: int, other: int, denied: int = 403) -> dict[str, int]:
    return {
        "prison_own": own,
        "prison_other": other,
        "kemensos": own,
        "sentra_own": own,
        "sentra_other": other,
        "bapas_own": own,
        "bapas_other": other,
        "auditor": denied,
        "admin": denied,
    }


def _record(field_workers: int, prison_bapas: int) -> dict[str, int]:
    """A §10 path of the own referral: other parties and non-readers see no referral."""
    return {
        **_all(404),
        "kemensos": field_workers,
        "sentra_own": field_workers,
        "prison_own": prison_bapas,
        "bapas_own": prison_bapas,
    }


def _prisons(own: int, other: int) -> dict[str, int]:
    return {**_all(403), "prison_own": own, "prison_other": other}


def _owner(status: int) -> dict[str, int]:
    """A's prison owns the subscription: every other reader gets a 404."""
    return {**_readers(404, 404), "prison_own": status}


def cells(w: World) -> list[tuple[str, str, Any, dict[str, int]]]:
    """(method, path, json body or None, expected status by caller)."""
    rid = w.referral_id
    f = w.facility
    base = f"/v1/referrals/{rid}"
    return [
        ("POST", "/v1/release-events", "EVENT", {**_all(403), "prison_own": 201}),
        # A batch is 207 for any prison; the item itself is 403 for another facility.
        (
            "POST",
            "/v1/release-events/batch",
            "BATCH",
            {**_all(403), "prison_own": 207, "prison_other": 207},
        ),
        ("GET", f"/v1/referrals/{rid}", None, _readers(200, 404)),
        ("GET", f"/v1/referrals/{rid}/history", None, _readers(200, 404)),
        (
            "POST",
            f"/v1/referrals/{rid}/transitions",
            {"action": "cancel", "reason_code": "other"},
            # Visibility, then the role, then the (stale) If-Match: callers who may cancel
            # get 412; auditor and admin read no referral, so they see none (404).
            {
                "prison_own": 412,
                "prison_other": 404,
                "kemensos": 412,
                "sentra_own": 403,
                "sentra_other": 404,
                "bapas_own": 403,
                "bapas_other": 404,
                "auditor": 404,
                "admin": 404,
            },
        ),
        ("GET", f"/v1/referrals?facility_code={f}", None, _readers(200, 200)),
        ("GET", f"/v1/referrals/stats?facility_code={f}", None, _readers(200, 200)),
        (
            "GET",
            f"/v1/referrals/export.csv?facility_code={f}",
            None,
            {**_all(403), "kemensos": 200},
        ),
        ("GET", "/v1/reference/pas-categories", None, _all(200)),
        ("GET", "/v1/reference/regencies?province_code=31", None, _all(200)),
        ("GET", "/v1/sentra", None, {**_all(200), "auditor": 403}),
        ("GET", f"/v1/sentra/{w.sentra_x}", None, {**_all(200), "auditor": 403}),
        ("POST", "/v1/sentra", "SENTRA", {**_all(403), "kemensos": 201, "admin": 201}),
        ("GET", "/v1/clients", None, {**_all(403), "admin": 200}),
        ("GET", "/v1/audit-events", None, {**_all(403), "auditor": 200, "admin": 200}),
        # Every reader manages its own subscriptions (SPEC §2); another's is a 404. The
        # subscription here is A's prison's.
        ("GET", "/v1/webhook-subscriptions", None, _readers(200, 200)),
        ("POST", "/v1/webhook-subscriptions", "SUBSCRIPTION", _readers(201, 201)),
        *(
            (method, f"/v1/webhook-subscriptions/{w.subscription_id}{tail}", None, _owner(status))
            for method, tail, status in (
                ("GET", "", 200),
                ("GET", "/deliveries", 200),
                ("POST", "/rotate-secret", 200),
                ("POST", "/enable", 200),
            )
        ),
        (
            "POST",
            f"/v1/webhook-deliveries/{uuid.uuid4()}/redeliver",
            None,
            _readers(404, 404),
        ),
        ("GET", "/v1/referral-events", None, _readers(200, 200)),
        ("GET", "/v1/reference/atensi-components", None, _all(200)),
        # The rehabilitation record (SPEC §10) of the assigned referral: Kemensos and the
        # assigned sentra read and write it; the prison and the Bapas read the appointments,
        # the notes and the report and write notes; auditor and admin read no referral.
        ("POST", f"{base}/assessments", "ASSESSMENT", _record(201, 403)),
        ("GET", f"{base}/assessments", None, _record(200, 403)),
        # the matrix sends If-Match "0": no plan yet, so no version matches (412)
        ("PUT", f"{base}/plan", "PLAN", _record(412, 403)),
        ("GET", f"{base}/plan", None, _record(404, 403)),  # NO_PLAN
        ("POST", f"{base}/appointments", "APPOINTMENT", _record(201, 403)),
        ("GET", f"{base}/appointments", None, _record(200, 200)),
        ("POST", f"{base}/appointments/{uuid.uuid4()}/attendance", "ATTENDANCE", _record(404, 403)),
        ("POST", f"{base}/services", "SERVICE", _record(409, 403)),  # assigned: INVALID_STATE
        ("GET", f"{base}/services", None, _record(200, 403)),
        ("POST", f"{base}/notes", "NOTE", _record(201, 201)),
        ("GET", f"{base}/notes", None, _record(200, 200)),
        ("GET", f"{base}/report", None, _record(404, 404)),  # NO_REPORT before a close
    ]


def _body(kind: Any, w: World) -> Any:
    if kind == "EVENT":
        return make_event(w.facility)
    if kind == "BATCH":
        return {"events": [make_event(w.facility)]}
    if kind == "SUBSCRIPTION":
        return {"url": "https://hooks.rujukan.test/b", "event_types": ["referral.updated"]}
    if kind == "SENTRA":
        return {
            "code": f"SZ-{uuid.uuid4().hex[:6].upper()}",
            "name": "Sentra Uji",
            "province_code": "31",
            "regency_code": "3171",
            "coverage_regency_codes": ["3171"],
            "active": True,
        }
    return RECORD_BODIES.get(kind, kind) if isinstance(kind, str) else kind


RECORD_BODIES: dict[str, Any] = {
    "ASSESSMENT": {
        "assessed_on": "2026-01-01",
        "needs": [{"component": "terapi", "level": "low"}],
        "identity_documents": {"ktp": "has", "kk": "has", "akta_lahir": "has"},
    },
    "PLAN": {"goals": [{"component": "terapi", "description": "Konseling"}]},
    "APPOINTMENT": {"starts_at": "2030-01-02T09:00:00+07:00", "location": {"kind": "sentra"}},
    "ATTENDANCE": {"attendance": "cancelled"},
    "SERVICE": {"component": "terapi", "delivered_on": "2026-01-01"},
    "NOTE": {"body": "Catatan uji.", "audience": "all"},
}


async def test_every_endpoint_for_every_role(http: httpx.AsyncClient, clients: Clients) -> None:
    world = await build_world(http, clients)
    wrong: list[str] = []
    for method, path, body, expected in cells(world):
        for role in ROLES:
            headers = {**world.callers[role].headers, "If-Match": '"0"'}
            payload = _body(body, world)
            response = await http.request(
                method, path, json=payload if payload is not None else None, headers=headers
            )
            if response.status_code != expected[role]:
                wrong.append(
                    f"{method} {path} as {role}: {response.status_code} != {expected[role]}"
                )
            if body == "SUBSCRIPTION" and response.status_code == 201:
                # Tests share a database: no subscription outlives its test.
                await unsubscribe(http, world.callers[role], response.json()["id"])
    assert wrong == []


async def test_visibility_in_lists_and_stats(http: httpx.AsyncClient, clients: Clients) -> None:
    world = await build_world(http, clients)
    seen = {"prison_own": 1, "prison_other": 0, "kemensos": 1, "sentra_own": 1, "sentra_other": 0}
    for role, count in seen.items():
        headers = world.callers[role].headers
        listed = await http.get(f"/v1/referrals?facility_code={world.facility}", headers=headers)
        assert len(listed.json()["items"]) == count, role
        stats = await http.get(
            f"/v1/referrals/stats?facility_code={world.facility}", headers=headers
        )
        assert stats.json()["total"] == count, role
    batch = await http.post(
        "/v1/release-events/batch",
        json={"events": [make_event(world.facility)]},
        headers=world.callers["prison_other"].headers,
    )
    item = batch.json()["results"][0]
    assert (item["status"], item["problem"]["code"]) == (403, "FACILITY_NOT_PERMITTED")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/release-events"),
        ("GET", "/v1/referrals"),
        ("GET", "/v1/referrals/00000000-0000-0000-0000-000000000000"),
        ("GET", "/v1/referrals/stats"),
        ("GET", "/v1/reference/provinces"),
        ("GET", "/v1/sentra"),
        ("GET", "/v1/clients"),
        ("GET", "/v1/audit-events"),
        ("GET", "/v1/webhook-subscriptions"),
        ("GET", "/v1/referral-events"),
    ],
)
async def test_every_endpoint_needs_a_key(http: httpx.AsyncClient, method: str, path: str) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer rjk_not-a-real-key"},
        {"Authorization": "Basic x"},
    ):
        response = await http.request(method, path, headers=headers)
        assert response.status_code == 401, (path, headers)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["content-type"].startswith("application/problem+json")
