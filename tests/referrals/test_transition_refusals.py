"""Transitions: the checks run in the order of SPEC §4 for every caller — the body (422),
visibility (404), role (403) — and a refused transition is audited like a taken one
(SPEC §8), in a transaction of its own."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core.audit import AuditEvent
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.support.checks import assert_problem
from tests.support.referrals import VALID_BODY, etag, new_referral

JSON = {"Content-Type": "application/json"}


def transitions(referral_id: str) -> str:
    return f"/v1/referrals/{referral_id}/transitions"


async def audit_rows(
    http: httpx.AsyncClient, auditor: ApiClient, **params: str
) -> list[dict[str, Any]]:
    page = await http.get("/v1/audit-events", params=params, headers=auditor.headers)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def rows_with_request_id(services: Runtime, request_id: str) -> int:
    async with services.db.read_session() as session:
        count = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.request_id == request_id)
        )
    return int(count or 0)


# -- 422, then 404, then 403 (SPEC §4) -------------------------------------------------


@pytest.mark.parametrize("role", ["auditor", "admin"])
async def test_auditor_and_admin_get_the_body_check_then_404_for_any_id(
    http: httpx.AsyncClient, clients: Clients, facility: str, role: str
) -> None:
    """They read no referral, so they see none: the body is checked first (422), then
    visibility answers 404 for any id, existing, unknown or malformed, never a 403."""
    prison = await clients.prison(facility)
    referral_id = await new_referral(http, prison, facility)
    caller = await clients.make(role)
    headers = {**caller.headers, "If-Match": '"1"'}
    for target in (referral_id, str(uuid.uuid4()), "not-a-uuid"):
        unknown = await http.post(transitions(target), json={"action": "fly"}, headers=headers)
        body = assert_problem(unknown, 422, "VALIDATION_FAILED")
        assert [e["pointer"] for e in body["errors"]] == ["/action"]
        extra = await http.post(
            transitions(target), json={"action": "accept", "colour": "red"}, headers=headers
        )
        assert_problem(extra, 422, "VALIDATION_FAILED")
        missing = await http.post(transitions(target), json={}, headers=headers)
        assert_problem(missing, 422, "VALIDATION_FAILED")
        broken = await http.post(
            transitions(target), content=b'{"action": ', headers={**headers, **JSON}
        )
        assert_problem(broken, 422, "MALFORMED_JSON")
        for action in ("accept", "cancel", "close"):
            valid = await http.post(
                transitions(target),
                json={"action": action, **VALID_BODY[action]},
                headers=headers,
            )
            assert_problem(valid, 404, "REFERRAL_NOT_FOUND")
    kemensos = await clients.kemensos()
    assert (await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)).json()[
        "status"
    ] == "received"


async def test_visibility_is_checked_before_the_role(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """A role that may never `accept` gets 404 for a referral it cannot read, 403 for one
    it can."""
    prison = await clients.prison(facility)
    outsider = await clients.prison(f"{facility}-X")
    sentra = await clients.sentra("S-NONE")
    referral_id = await new_referral(http, prison, facility)
    for caller, status, code in (
        (outsider, 404, "REFERRAL_NOT_FOUND"),
        (sentra, 404, "REFERRAL_NOT_FOUND"),
        (prison, 403, "ROLE_NOT_PERMITTED"),
    ):
        response = await http.post(
            transitions(referral_id),
            json={"action": "accept"},
            headers={**caller.headers, "If-Match": '"1"'},
        )
        assert_problem(response, status, code)


async def test_unknown_action_is_422_for_every_role_before_visibility(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    referral_id = await new_referral(http, prison, facility)
    callers = [
        prison,
        await clients.prison(f"{facility}-X"),
        await clients.kemensos(),
        await clients.sentra("S-NONE"),
        await clients.make("auditor"),
        await clients.make("admin"),
    ]
    for caller in callers:
        response = await http.post(
            transitions(referral_id), json={"action": "fly"}, headers=caller.headers
        )
        assert_problem(response, 422, "VALIDATION_FAILED")


async def test_unauthenticated_still_wins_over_the_body(http: httpx.AsyncClient) -> None:
    response = await http.post(transitions(str(uuid.uuid4())), json={"action": "fly"})
    assert_problem(response, 401, "UNAUTHENTICATED")


# -- refusals are audited --------------------------------------------------------------


async def test_every_kind_of_refusal_is_audited_with_its_code(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    outsider = await clients.prison(f"{facility}-X")
    auditor_role = await clients.make("auditor")
    admin = await clients.make("admin")
    auditor = await clients.make("auditor")
    referral_id = await new_referral(http, prison, facility)
    tag = await etag(http, kemensos, referral_id)
    url = transitions(referral_id)
    k = kemensos.headers

    # (caller headers, body, expected status, expected code, expected audit action)
    cases: list[tuple[dict[str, str], dict[str, Any], int, str, str]] = [
        ({**k}, {"action": "accept"}, 428, "PRECONDITION_REQUIRED", "referral.accept"),
        (
            {**k, "If-Match": '"99"'},
            {"action": "accept"},
            412,
            "VERSION_MISMATCH",
            "referral.accept",
        ),
        (
            {**k, "If-Match": tag},
            {"action": "start_service"},
            409,
            "INVALID_TRANSITION",
            "referral.start_service",
        ),
        ({**k, "If-Match": tag}, {"action": "reject"}, 422, "VALIDATION_FAILED", "referral.reject"),
        (
            {**k, "If-Match": tag},
            {"action": "fly"},
            422,
            "VALIDATION_FAILED",
            "referral.transition",
        ),
        (
            {**k, "If-Match": tag},
            {"action": "accept", "colour": "red"},
            422,
            "VALIDATION_FAILED",
            "referral.accept",
        ),
        (
            {**prison.headers, "If-Match": tag},
            {"action": "accept"},
            403,
            "ROLE_NOT_PERMITTED",
            "referral.accept",
        ),
        (
            {**outsider.headers, "If-Match": tag},
            {"action": "cancel", "reason_code": "other"},
            404,
            "REFERRAL_NOT_FOUND",
            "referral.cancel",
        ),
        (
            {**auditor_role.headers, "If-Match": tag},
            {"action": "accept"},
            404,
            "REFERRAL_NOT_FOUND",
            "referral.accept",
        ),
        (
            {**admin.headers, "If-Match": tag},
            {"action": "hold", "reason_code": "other"},
            404,
            "REFERRAL_NOT_FOUND",
            "referral.hold",
        ),
    ]
    for index, (headers, body, status, code, _) in enumerate(cases):
        response = await http.post(
            url, json=body, headers={**headers, "X-Request-ID": f"refused {index}"}
        )
        problem = assert_problem(response, status, code)
        assert problem["request_id"] == f"refused {index}"
        # The answer is the problem alone: nothing about the audit row.
        extras = {"errors", "allowed_actions"}
        assert set(problem) - extras == {"type", "title", "status", "detail", "code", "request_id"}

    rows = await audit_rows(http, auditor, referral_id=referral_id)
    refused = [r for r in rows if (r["request_id"] or "").startswith("refused ")]
    assert [(r["action"], r["outcome"], r["request_id"]) for r in refused] == [
        (action, code, f"refused {index}") for index, (_, _, _, code, action) in enumerate(cases)
    ]
    callers = [kemensos] * 6 + [prison, outsider, auditor_role, admin]
    assert [r["client_id"] for r in refused] == [c.client_id for c in callers]
    assert all(r["referral_id"] == referral_id for r in refused)
    # Nothing moved.
    assert await etag(http, kemensos, referral_id) == tag


async def test_refusal_row_carries_the_actor_and_success_stays_one_row(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    auditor = await clients.make("auditor")
    referral_id = await new_referral(http, prison, facility)
    tag = await etag(http, kemensos, referral_id)
    headers = {**kemensos.headers, "X-Actor": "petugas.portal"}
    stale = await http.post(
        transitions(referral_id), json={"action": "accept"}, headers={**headers, "If-Match": '"7"'}
    )
    assert_problem(stale, 412, "VERSION_MISMATCH")
    taken = await http.post(
        transitions(referral_id), json={"action": "accept"}, headers={**headers, "If-Match": tag}
    )
    assert taken.status_code == 200, taken.text
    rows = await audit_rows(http, auditor, referral_id=referral_id, action="referral.accept")
    assert [(r["outcome"], r["actor"]) for r in rows] == [
        ("VERSION_MISMATCH", "petugas.portal"),
        ("success", "petugas.portal"),
    ]


async def test_refusal_for_a_malformed_or_unknown_id(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    kemensos = await clients.kemensos()
    auditor = await clients.make("auditor")
    unknown = str(uuid.uuid4())
    for target in ("not-a-uuid", unknown):
        response = await http.post(
            transitions(target),
            json={"action": "accept"},
            headers={**kemensos.headers, "If-Match": '"1"'},
        )
        assert_problem(response, 404, "REFERRAL_NOT_FOUND")
    rows = await audit_rows(http, auditor, client_id=kemensos.client_id)
    assert [(r["action"], r["outcome"], r["referral_id"]) for r in rows] == [
        ("referral.accept", "REFERRAL_NOT_FOUND", None),
        ("referral.accept", "REFERRAL_NOT_FOUND", unknown),
    ]


async def test_malformed_json_is_refused_after_authentication_and_audited(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """The key comes first (SPEC §1): without one, unparseable JSON is a 401 and nothing is
    recorded; with one, it is a refused transition like any other, audited with the
    problem code (the body names no action, so as `referral.transition`)."""
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    auditor = await clients.make("auditor")
    referral_id = await new_referral(http, prison, facility)
    anonymous = f"broken-anon-{uuid.uuid4()}"
    response = await http.post(
        transitions(referral_id),
        content=b'{"action": "accept"',
        headers={**JSON, "If-Match": '"1"', "X-Request-ID": anonymous},
    )
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert await rows_with_request_id(services, anonymous) == 0
    request_id = f"broken-{uuid.uuid4()}"
    response = await http.post(
        transitions(referral_id),
        content=b'{"action": "accept"',
        headers={**kemensos.headers, **JSON, "If-Match": '"1"', "X-Request-ID": request_id},
    )
    assert_problem(response, 422, "MALFORMED_JSON")
    rows = await audit_rows(http, auditor, referral_id=referral_id)
    assert [
        (r["action"], r["outcome"], r["client_id"]) for r in rows if r["request_id"] == request_id
    ] == [("referral.transition", "MALFORMED_JSON", kemensos.client_id)]


async def test_unauthenticated_attempts_write_no_audit_row(
    http: httpx.AsyncClient, services: Runtime
) -> None:
    request_id = f"anon-{uuid.uuid4()}"
    for headers in ({}, {"Authorization": "Bearer rjk_unknown"}):
        response = await http.post(
            transitions(str(uuid.uuid4())),
            json={"action": "accept"},
            headers={**headers, "X-Request-ID": request_id},
        )
        assert_problem(response, 401, "UNAUTHENTICATED")
    assert await rows_with_request_id(services, request_id) == 0
