"""The audit log (SPEC §8): written with what it records, readable by auditors, append-only."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.runtime import Runtime
from tests.conftest import Clients
from tests.factories import make_event
from tests.support.checks import assert_problem


async def test_intake_and_reads_are_audited_with_actor_and_request_id(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    auditor = await clients.make("auditor")
    posted = await http.post(
        "/v1/release-events",
        json=make_event(facility),
        headers={**prison.headers, "X-Actor": "petugas.sdp", "X-Request-ID": "req-audit-1"},
    )
    assert posted.status_code == 201
    referral_id = posted.json()["referral"]["id"]
    await http.get(f"/v1/referrals/{referral_id}", headers={**prison.headers, "X-Actor": "op"})
    await http.get(f"/v1/referrals/{referral_id}/history", headers=prison.headers)

    page = await http.get(
        "/v1/audit-events", params={"referral_id": referral_id}, headers=auditor.headers
    )
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert [i["action"] for i in items] == [
        "release_event.receive",
        "referral.read",
        "referral.history.read",
    ]
    assert items[0]["actor"] == "petugas.sdp"
    assert items[0]["request_id"] == "req-audit-1"
    assert items[0]["client_id"] == prison.client_id
    assert items[0]["outcome"] == "created"
    assert items[1]["actor"] == "op"


async def test_refused_and_replayed_intake_is_audited(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """Every intake writes an audit row: applied ones with their outcome, refused ones with
    their problem code (nothing else is stored for them), replays as `replayed`."""
    prison = await clients.prison(facility)
    auditor = await clients.make("auditor")
    event = make_event(facility)
    unknown = make_event(facility, event_type="case.updated")
    invalid = make_event(facility, pas_categories=[])
    for body in (event, event, unknown, invalid, make_event("LP-NOT-BOUND")):
        await http.post("/v1/release-events", json=body, headers=prison.headers)
    batch = await http.post(
        "/v1/release-events/batch", json={"events": [event, unknown]}, headers=prison.headers
    )
    assert [r["status"] for r in batch.json()["results"]] == [201, 404]
    page = await http.get(
        "/v1/audit-events",
        params={"client_id": prison.client_id, "action": "release_event.receive"},
        headers=auditor.headers,
    )
    items = [(i["outcome"], i["referral_id"]) for i in page.json()["items"]]
    referral_id = items[0][1]
    assert items[:5] == [
        ("created", referral_id),
        ("replayed", referral_id),
        ("UNKNOWN_CASE", None),
        ("VALIDATION_FAILED", None),
        ("FACILITY_NOT_PERMITTED", None),
    ]
    # The batch's: a refusal is written with the batch's transaction, a replay after it.
    assert sorted(items[5:], key=str) == [("UNKNOWN_CASE", None), ("replayed", referral_id)]


async def test_audit_pagination_and_filters(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    auditor = await clients.make("auditor")
    for _ in range(5):
        assert (
            await http.post("/v1/release-events", json=make_event(facility), headers=prison.headers)
        ).status_code == 201
    seen: list[str] = []
    times: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | int] = {"client_id": prison.client_id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await http.get("/v1/audit-events", params=params, headers=auditor.headers)).json()
        seen += [i["id"] for i in page["items"]]
        times += [i["at"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(set(seen)) == 5 and all(uuid.UUID(i).version == 5 for i in seen)
    assert times == sorted(times)
    tampered = await http.get(
        "/v1/audit-events", params={"cursor": "AAAA" + (cursor or "x")}, headers=auditor.headers
    )
    assert tampered.status_code == 400
    assert tampered.json()["code"] == "INVALID_CURSOR"


async def test_from_and_to_filter_by_time(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """`from` is inclusive, `to` exclusive; any offset names the same instant."""
    prison = await clients.prison(facility)
    auditor = await clients.make("auditor")
    for _ in range(3):
        posted = await http.post(
            "/v1/release-events", json=make_event(facility), headers=prison.headers
        )
        assert posted.status_code == 201

    async def ids(**params: str) -> list[str]:
        page = await http.get(
            "/v1/audit-events",
            params={"client_id": prison.client_id, **params},
            headers=auditor.headers,
        )
        assert page.status_code == 200, page.text
        return [i["id"] for i in page.json()["items"]]

    page = await http.get(
        "/v1/audit-events", params={"client_id": prison.client_id}, headers=auditor.headers
    )
    rows = page.json()["items"]
    assert len(rows) == 3
    every = [r["id"] for r in rows]
    at = [dt.datetime.fromisoformat(r["at"]) for r in rows]
    assert at[0] < at[1] < at[2]
    assert await ids(**{"from": rows[1]["at"]}) == every[1:]
    assert await ids(to=rows[1]["at"]) == every[:1]
    assert await ids(**{"from": rows[0]["at"], "to": rows[2]["at"]}) == every[:2]
    jakarta = at[1].astimezone(dt.timezone(dt.timedelta(hours=7))).isoformat()
    assert jakarta.endswith("+07:00")
    assert await ids(**{"from": jakarta}) == every[1:]
    assert await ids(to=jakarta) == every[:1]
    # The widest range UTC holds is a valid one.
    assert await ids(**{"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}) == every
    assert await ids(**{"from": "0001-01-01T00:00:00-14:00"}) == every
    assert await ids(to="9999-12-31T23:59:59+14:00") == every


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("from", "2026-01-01T00:00:00"),  # no offset
        ("to", "2026-01-01T00:00:00"),
        ("from", "0001-01-01T00:00:00+14:00"),  # before year 1 in UTC
        ("to", "0001-01-01T00:00:00+00:01"),
        ("to", "9999-12-31T23:59:59-14:00"),  # after year 9999 in UTC
        ("from", "9999-12-31T23:59:59.999999-00:01"),
        ("from", "2026-01-01"),  # a date is not a time
        ("to", "0.5"),  # nor a Unix timestamp
        ("from", "2026-02-30T00:00:00Z"),
    ],
)
async def test_a_malformed_or_unrepresentable_time_is_422_naming_the_parameter(
    http: httpx.AsyncClient, clients: Clients, parameter: str, value: str
) -> None:
    auditor = await clients.make("auditor")
    response = await http.get(
        "/v1/audit-events", params={parameter: value}, headers=auditor.headers
    )
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert [(e["parameter"], e["code"]) for e in problem["errors"]] == [(parameter, "INVALID_DATE")]
    assert "pointer" not in problem["errors"][0]


async def test_only_auditor_and_admin_read_the_audit_log(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    for role, status in (
        ("auditor", 200),
        ("admin", 200),
        ("prison", 403),
        ("kemensos", 403),
        ("sentra", 403),
    ):
        caller = await clients.make(role)
        assert (await http.get("/v1/audit-events", headers=caller.headers)).status_code == status


@pytest.mark.parametrize("table", ["audit_events", "referral_history"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET actor = 'x'", "DELETE FROM {t}"])
async def test_history_and_audit_rows_cannot_be_changed_in_the_database(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    table: str,
    statement: str,
) -> None:
    prison = await clients.prison(facility)
    await http.post("/v1/release-events", json=make_event(facility), headers=prison.headers)
    with pytest.raises(DBAPIError):
        async with services.db.transaction() as session:
            await session.execute(text(statement.format(t=table)))


async def test_x_actor_over_128_characters_or_with_control_characters_is_refused(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    for actor in ("a" * 129, "petugas\x01"):
        response = await http.post(
            "/v1/release-events",
            json=make_event(facility),
            headers={**prison.headers, "X-Actor": actor},
        )
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "VALIDATION_FAILED"
        assert body["errors"] == [
            {
                "parameter": "X-Actor",
                "code": "INVALID_TEXT",
                "detail": "X-Actor: 1-128 characters, no control characters",
            }
        ]
    ok = await http.post(
        "/v1/release-events",
        json=make_event(facility),
        headers={**prison.headers, "X-Actor": "a" * 128},
    )
    assert ok.status_code == 201
