"""The sentra registry (SPEC §5): who reads and writes it, region checks, its effect on
`assign` and `suggested_sentra_code`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Clients
from tests.support.referrals import act, drive, new_referral, sentra_code


def body(code: str | None, **overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "Sentra Handayani",
        "province_code": "31",
        "regency_code": "3175",
        "coverage_regency_codes": ["3175", "3172"],
        "active": True,
    }
    if code is not None:
        out["code"] = code
    out.update(overrides)
    return out


async def test_create_read_replace_and_list(http: httpx.AsyncClient, clients: Clients) -> None:
    kemensos = await clients.kemensos()
    code = sentra_code()
    created = await http.post("/v1/sentra", json=body(code), headers=kemensos.headers)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"/v1/sentra/{code}"
    out = created.json()
    assert {k: out[k] for k in body(code)} == {
        **body(code),
        "coverage_regency_codes": ["3172", "3175"],
    }

    read = await http.get(f"/v1/sentra/{code}", headers=kemensos.headers)
    assert read.status_code == 200
    assert read.json() == out

    replaced = await http.put(
        f"/v1/sentra/{code}",
        json=body(None, name="Sentra Baru", coverage_regency_codes=["3201"], active=False),
        headers=kemensos.headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "Sentra Baru"
    assert replaced.json()["coverage_regency_codes"] == ["3201"]
    assert replaced.json()["active"] is False
    assert replaced.json()["created_at"] == out["created_at"]
    with_code = await http.put(f"/v1/sentra/{code}", json=body(code), headers=kemensos.headers)
    assert with_code.status_code == 200
    assert with_code.json()["active"] is True

    listed = await http.get("/v1/sentra", headers=kemensos.headers)
    codes = [s["code"] for s in listed.json()["items"]]
    assert code in codes
    assert codes == sorted(codes)
    await http.put(f"/v1/sentra/{code}", json=body(None, active=False), headers=kemensos.headers)
    active = await http.get("/v1/sentra", params={"active": "true"}, headers=kemensos.headers)
    assert code not in [s["code"] for s in active.json()["items"]]
    inactive = await http.get("/v1/sentra", params={"active": "false"}, headers=kemensos.headers)
    assert code in [s["code"] for s in inactive.json()["items"]]


async def test_duplicates_unknown_codes_and_path_mismatch(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    admin = await clients.make("admin")
    code = sentra_code()
    assert (
        await http.post("/v1/sentra", json=body(code), headers=admin.headers)
    ).status_code == 201
    again = await http.post("/v1/sentra", json=body(code), headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "SENTRA_EXISTS"

    unknown = sentra_code()
    missing = await http.get(f"/v1/sentra/{unknown}", headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "SENTRA_NOT_FOUND"
    put_missing = await http.put(f"/v1/sentra/{unknown}", json=body(None), headers=admin.headers)
    assert put_missing.status_code == 404
    assert put_missing.json()["code"] == "SENTRA_NOT_FOUND"

    mismatch = await http.put(f"/v1/sentra/{code}", json=body(unknown), headers=admin.headers)
    assert mismatch.status_code == 422
    assert mismatch.json()["errors"][0]["pointer"] == "/code"


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"province_code": "99"}, [("/province_code", "UNKNOWN_REGION")]),
        ({"regency_code": "3199"}, [("/regency_code", "UNKNOWN_REGION")]),
        ({"regency_code": "3273"}, [("/regency_code", "REGION_MISMATCH")]),
        (
            {"coverage_regency_codes": ["3175", "9999", "3175"]},
            [
                ("/coverage_regency_codes/1", "UNKNOWN_REGION"),
                ("/coverage_regency_codes/2", "INVALID_VALUE"),
            ],
        ),
        (
            {"province_code": "00", "coverage_regency_codes": ["0000"]},
            [("/province_code", "UNKNOWN_REGION"), ("/coverage_regency_codes/0", "UNKNOWN_REGION")],
        ),
        ({"province_code": "3"}, [("/province_code", "INVALID_VALUE")]),
        ({"name": ""}, [("/name", "INVALID_TEXT")]),
        ({"name": "Sentra\x00"}, [("/name", "INVALID_TEXT")]),
        ({"active": "yes"}, [("/active", "INVALID_TYPE")]),
        ({"colour": "red"}, [("/colour", "UNKNOWN_FIELD")]),
        ({"code": "lower-case"}, [("/code", "INVALID_VALUE")]),
    ],
)
async def test_invalid_bodies_are_422_with_pointers(
    http: httpx.AsyncClient,
    clients: Clients,
    overrides: dict[str, Any],
    errors: list[tuple[str, str]],
) -> None:
    kemensos = await clients.kemensos()
    response = await http.post(
        "/v1/sentra", json={**body(sentra_code()), **overrides}, headers=kemensos.headers
    )
    assert response.status_code == 422, response.text
    got = [(e["pointer"], e["code"]) for e in response.json()["errors"]]
    assert got == errors


async def test_coverage_may_span_provinces(http: httpx.AsyncClient, clients: Clients) -> None:
    kemensos = await clients.kemensos()
    response = await http.post(
        "/v1/sentra",
        json=body(sentra_code(), coverage_regency_codes=["3175", "3201", "5171"]),
        headers=kemensos.headers,
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("role", ["prison", "sentra", "auditor"])
async def test_only_kemensos_and_admin_write(
    http: httpx.AsyncClient, clients: Clients, role: str
) -> None:
    client = await clients.make(role)
    kemensos = await clients.kemensos()
    code = sentra_code()
    denied = await http.post("/v1/sentra", json=body(code), headers=client.headers)
    assert denied.status_code == 403
    assert denied.json()["code"] == "ROLE_NOT_PERMITTED"
    await http.post("/v1/sentra", json=body(code), headers=kemensos.headers)
    put = await http.put(f"/v1/sentra/{code}", json=body(None), headers=client.headers)
    assert put.status_code == 403


@pytest.mark.parametrize(("role", "status"), [("prison", 200), ("sentra", 200), ("auditor", 403)])
async def test_who_reads(http: httpx.AsyncClient, clients: Clients, role: str, status: int) -> None:
    client = await clients.make(role)
    kemensos = await clients.kemensos()
    code = sentra_code()
    await http.post("/v1/sentra", json=body(code), headers=kemensos.headers)
    assert (await http.get("/v1/sentra", headers=client.headers)).status_code == status
    assert (await http.get(f"/v1/sentra/{code}", headers=client.headers)).status_code == status
    assert (await http.get("/v1/sentra")).status_code == 401


async def test_changes_are_audited(http: httpx.AsyncClient, clients: Clients) -> None:
    kemensos = await clients.kemensos()
    auditor = await clients.make("auditor")
    code = sentra_code()
    await http.post("/v1/sentra", json=body(code), headers=kemensos.headers)
    await http.put(f"/v1/sentra/{code}", json=body(None), headers=kemensos.headers)
    audit = await http.get(
        "/v1/audit-events", params={"client_id": kemensos.client_id}, headers=auditor.headers
    )
    assert [e["action"] for e in audit.json()["items"]] == ["sentra.create", "sentra.update"]


async def test_registry_drives_assign_and_suggestion(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """A regency no other test's sentra covers: 9171 (Kota Jayapura, province 91)."""
    kemensos = await clients.kemensos()
    prison = await clients.prison(facility)
    referral_id = await new_referral(
        http,
        prison,
        facility,
        person__domicile={
            "province_code": "91",
            "regency_code": "9171",
            "district_code": "917101",
            "address": "Jl. Contoh",
        },
        person__nik="9171011203850001",
    )
    covering = "ZZ-" + sentra_code()[2:]  # sorts after other tests' S-… codes
    created = await http.post(
        "/v1/sentra",
        json=body(
            covering,
            province_code="91",
            regency_code="9171",
            coverage_regency_codes=["9171"],
            active=False,
        ),
        headers=kemensos.headers,
    )
    assert created.status_code == 201, created.text
    await drive(http, kemensos, referral_id, ["accept"])
    inactive = await act(http, kemensos, referral_id, "assign", sentra_code=covering)
    assert inactive.status_code == 422
    detail = (await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)).json()
    assert detail["suggested_sentra_code"] != covering

    activated = await http.put(
        f"/v1/sentra/{covering}",
        json=body(None, province_code="91", regency_code="9171", coverage_regency_codes=["9171"]),
        headers=kemensos.headers,
    )
    assert activated.status_code == 200
    detail = (await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)).json()
    # The lowest active code covering 9171: ours unless another test registered a lower one
    # covering it (none does), so the suggestion is a sentra covering the regency.
    suggested = detail["suggested_sentra_code"]
    assert suggested is not None
    covering_now = await http.get(f"/v1/sentra/{suggested}", headers=kemensos.headers)
    assert "9171" in covering_now.json()["coverage_regency_codes"]
    assigned = await act(http, kemensos, referral_id, "assign", sentra_code=covering)
    assert assigned.status_code == 200
    assert assigned.json()["sentra_code"] == covering
