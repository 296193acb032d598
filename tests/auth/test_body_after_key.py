"""The key is checked before the body (SPEC §1, §4): on every route that takes a JSON body,
a body that is not JSON is a 401 without a valid key, a 403 for a role the route refuses,
and only then a 422 — with the codes and pointers the schema errors always had."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from app.runtime import Runtime
from tests.conftest import Clients
from tests.support.checks import assert_problem

JSON = {"Content-Type": "application/json"}

# (method, path, the role the route is for, a role it refuses before the body or None)
ROUTES = [
    ("POST", f"/v1/referrals/{uuid.UUID(int=7)}/transitions", "kemensos", None),
    ("POST", "/v1/clients", "admin", "kemensos"),
    ("POST", "/v1/sentra", "kemensos", "prison"),
    ("PUT", "/v1/sentra/S-ANY", "kemensos", "sentra"),
    ("POST", "/v1/webhook-subscriptions", "prison", "auditor"),
]
IDS = [f"{method} {path.split('/')[2]}" for method, path, _, _ in ROUTES]
NOT_JSON = [b'{"action": ', b"", b" \n", b"{'a': 1}", b"[1, 2", "é".encode("latin-1")]


def errors_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["code"], e["pointer"]) for e in body.get("errors", [])]


@pytest.mark.parametrize(("method", "path", "role", "refused"), ROUTES, ids=IDS)
async def test_no_key_is_401_before_a_body_that_is_not_json(
    http: httpx.AsyncClient, method: str, path: str, role: str, refused: str | None
) -> None:
    for headers in ({}, {"Authorization": "Bearer rjk_not-a-real-key"}):
        for content in NOT_JSON:
            response = await http.request(
                method, path, content=content, headers={**headers, **JSON}
            )
            assert_problem(response, 401, "UNAUTHENTICATED")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "role", "refused"), ROUTES, ids=IDS)
async def test_a_refused_role_is_403_before_the_body(
    http: httpx.AsyncClient,
    clients: Clients,
    method: str,
    path: str,
    role: str,
    refused: str | None,
) -> None:
    if refused is None:
        pytest.skip("every role reaches the body here (visibility decides after it)")
    caller = await clients.make(refused)
    for content in NOT_JSON:
        response = await http.request(
            method, path, content=content, headers={**caller.headers, **JSON}
        )
        assert_problem(response, 403, "ROLE_NOT_PERMITTED")


@pytest.mark.parametrize(("method", "path", "role", "refused"), ROUTES, ids=IDS)
async def test_with_a_key_a_body_that_is_not_json_is_422(
    http: httpx.AsyncClient,
    clients: Clients,
    method: str,
    path: str,
    role: str,
    refused: str | None,
) -> None:
    caller = await clients.make(role)
    for content in NOT_JSON:
        response = await http.request(
            method, path, content=content, headers={**caller.headers, **JSON}
        )
        body = assert_problem(response, 422, "MALFORMED_JSON")
        assert errors_of(body) == [("MALFORMED_JSON", "")]


@pytest.mark.parametrize(("method", "path", "role", "refused"), ROUTES, ids=IDS)
async def test_schema_errors_keep_their_codes_and_pointers(
    http: httpx.AsyncClient,
    clients: Clients,
    method: str,
    path: str,
    role: str,
    refused: str | None,
) -> None:
    caller = await clients.make(role)
    for document in (b"[]", b'"text"', b"null", b"42"):
        response = await http.request(
            method, path, content=document, headers={**caller.headers, **JSON}
        )
        body = assert_problem(response, 422, "VALIDATION_FAILED")
        assert errors_of(body) == [("INVALID_TYPE", "")], document
    response = await http.request(method, path, json={"colour": "red"}, headers=caller.headers)
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert ("UNKNOWN_FIELD", "/colour") in errors_of(body)
    assert all(code in ("UNKNOWN_FIELD", "FIELD_REQUIRED") for code, _ in errors_of(body))


async def test_schema_errors_of_each_body_in_detail(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    """The same `errors[]` as when FastAPI validated the bodies itself."""
    kemensos, admin, prison = (
        await clients.kemensos(),
        await clients.make("admin"),
        await clients.make("prison", facilities=["*"]),
    )
    cases: list[tuple[str, str, Any, Any, list[tuple[str, str]]]] = [
        (
            "POST",
            f"/v1/referrals/{uuid.uuid4()}/transitions",
            kemensos,
            {"action": "fly", "note": 5, "reason_code": "x" * 33},
            [
                ("INVALID_VALUE", "/action"),
                ("INVALID_TEXT", "/reason_code"),
                ("INVALID_TYPE", "/note"),
            ],
        ),
        (
            "POST",
            "/v1/clients",
            admin,
            {"name": "", "role": "boss", "facility_codes": ["lower"]},
            [
                ("INVALID_TEXT", "/name"),
                ("INVALID_VALUE", "/role"),
                ("INVALID_VALUE", "/facility_codes/0"),
            ],
        ),
        (
            "POST",
            "/v1/sentra",
            kemensos,
            {"code": "x", "name": "S", "province_code": 31, "active": "yes"},
            [
                ("INVALID_TYPE", "/province_code"),
                ("INVALID_TYPE", "/active"),
                ("INVALID_VALUE", "/code"),
            ],
        ),
        (
            "PUT",
            "/v1/sentra/S-ANY",
            kemensos,
            {"name": "S\x00", "province_code": "31", "coverage_regency_codes": "3171"},
            [("INVALID_TEXT", "/name"), ("INVALID_TYPE", "/coverage_regency_codes")],
        ),
        (
            "POST",
            "/v1/webhook-subscriptions",
            prison,
            {"url": "ftp://x", "event_types": ["referral.deleted"]},
            [("INVALID_VALUE", "/url"), ("INVALID_VALUE", "/event_types/0")],
        ),
    ]
    for method, path, caller, document, errors in cases:
        response = await http.request(method, path, json=document, headers=caller.headers)
        body = assert_problem(response, 422, "VALIDATION_FAILED")
        assert sorted(errors_of(body)) == sorted(errors), (path, body)
        assert body["detail"] == f"{len(errors)} validation error(s); see errors[]."


async def test_a_malformed_transition_body_with_a_key_is_audited(
    http: httpx.AsyncClient, clients: Clients, services: Runtime
) -> None:
    """Refused after authentication, like every other refused transition (SPEC §8)."""
    kemensos = await clients.kemensos()
    auditor = await clients.make("auditor")
    referral_id = str(uuid.uuid4())
    for index, content in enumerate((b'{"action": "accept"', b"")):
        response = await http.post(
            f"/v1/referrals/{referral_id}/transitions",
            content=content,
            headers={**kemensos.headers, **JSON, "X-Request-ID": f"malformed {index}"},
        )
        assert_problem(response, 422, "MALFORMED_JSON")
    page = await http.get(
        "/v1/audit-events", params={"client_id": kemensos.client_id}, headers=auditor.headers
    )
    assert [
        (r["action"], r["outcome"], r["referral_id"], r["request_id"]) for r in page.json()["items"]
    ] == [
        ("referral.transition", "MALFORMED_JSON", referral_id, "malformed 0"),
        ("referral.transition", "MALFORMED_JSON", referral_id, "malformed 1"),
    ]
