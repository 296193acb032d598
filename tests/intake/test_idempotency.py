"""SPEC §3 idempotency: (client, event_id) replays, conflicts, nothing stored for a 4xx, and
concurrent copies over real HTTP (a uvicorn server, see tests/livesrv.py)."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import random
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core.config import Settings
from app.referrals.models import Referral, ReferralHistory
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.factories import make_event
from tests.livesrv import live_server
from tests.support import checks
from tests.support.checks import intake_count as intake_records

URL = "/v1/release-events"
PROBLEM_JSON = "application/problem+json"
Event = dict[str, Any]


def event_for(facility: str, **kwargs: Any) -> Event:
    event = make_event(facility, **kwargs)
    if "person__nik" not in kwargs:
        event["person"]["nik"] = (
            f"31{random.randrange(10**4):04d}120385{random.randrange(1, 10**4):04d}"
        )
    return event


async def post(http: httpx.AsyncClient, client: ApiClient, event: Any) -> httpx.Response:
    return await http.post(URL, json=event, headers=client.headers)


async def post_raw(http: httpx.AsyncClient, client: ApiClient, content: str) -> httpx.Response:
    return await http.post(
        URL,
        content=content.encode(),
        headers={**client.headers, "Content-Type": "application/json"},
    )


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A problem is never a replay: nothing was stored to replay."""
    assert "Idempotent-Replayed" not in response.headers
    return checks.assert_problem(response, status, code)


def assert_replay(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["content-type"] == "application/json"
    assert "Idempotent-Replayed" not in first.headers


async def counts(services: Runtime, facility: str) -> tuple[int, int]:
    """(referrals of the facility, history rows of those referrals)."""
    async with services.db.read_session() as session:
        referrals = await session.scalar(
            select(func.count()).select_from(Referral).where(Referral.facility_code == facility)
        )
        history = await session.scalar(
            select(func.count())
            .select_from(ReferralHistory)
            .join(Referral, Referral.id == ReferralHistory.referral_id)
            .where(Referral.facility_code == facility)
        )
    return int(referrals or 0), int(history or 0)


# -- replays -------------------------------------------------------------------------------


async def test_same_event_twice_replays_the_first_answer(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    first = await post(http, prison, event)
    assert first.status_code == 201, first.text
    again = await post(http, prison, event)
    assert_replay(first, again)
    third = await post(http, prison, copy.deepcopy(event))
    assert_replay(first, third)
    assert await counts(services, facility) == (1, 1)
    assert await intake_records(services, prison) == 1


async def test_replay_of_a_200_answer(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    created = make_event(facility, event_type="release.scheduled")
    assert (await post(http, prison, created)).status_code == 201
    completed = make_event(
        facility,
        case_ref=created["case_ref"],
        person__nik=created["person"]["nik"],
    )
    first = await post(http, prison, completed)
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "updated"
    again = await post(http, prison, completed)
    assert_replay(first, again)
    assert again.json()["referral"]["version"] == 2
    assert await counts(services, facility) == (1, 2)


async def test_replay_returns_the_first_answer_even_after_later_changes(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """Idempotency runs before the case semantics: no 409 ALREADY_RELEASED for a replay."""
    prison = await clients.prison(facility)
    scheduled = event_for(facility, event_type="release.scheduled")
    first = await post(http, prison, scheduled)
    assert first.json()["referral"]["custody_status"] == "in_custody"
    completed = make_event(
        facility, case_ref=scheduled["case_ref"], person__nik=scheduled["person"]["nik"]
    )
    assert (await post(http, prison, completed)).status_code == 200
    again = await post(http, prison, scheduled)
    assert_replay(first, again)
    assert again.json()["referral"]["custody_status"] == "in_custody"
    # A new id for the same scheduled event is not a replay: the case semantics apply.
    fresh = {
        **scheduled,
        "event_id": f"{scheduled['event_id']}-2",
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    assert_problem(await post(http, prison, fresh), 409, "ALREADY_RELEASED")


async def test_replay_of_a_stale_answer(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    newer = event_for(facility)
    assert (await post(http, prison, newer)).status_code == 201
    older = copy.deepcopy(newer)
    older["event_id"] += "-old"
    older["event_type"] = "case.updated"
    older["occurred_at"] = "2026-01-01T00:00:00+07:00"
    older["consent"]["recorded_at"] = "2025-12-31T00:00:00+07:00"
    first = await post(http, prison, older)
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "stale"
    assert_replay(first, await post(http, prison, older))


async def test_key_order_and_whitespace_do_not_matter(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    first = await post_raw(http, prison, json.dumps(event, separators=(",", ":")))
    assert first.status_code == 201, first.text

    def reverse(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    pretty = json.dumps(reverse(event), indent=4, sort_keys=False)
    assert pretty != json.dumps(event)
    assert_replay(first, await post_raw(http, prison, "\n\t " + pretty + "\r\n"))
    assert_replay(first, await post_raw(http, prison, json.dumps(event, sort_keys=True)))


async def test_unicode_escapes_are_compared_as_parsed_text(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, person__full_name="Nurhalíza Siregar")
    first = await post_raw(http, prison, json.dumps(event, ensure_ascii=False))
    assert first.status_code == 201, first.text
    escaped = json.dumps(event, ensure_ascii=True)
    assert "\\u00ed" in escaped
    assert_replay(first, await post_raw(http, prison, escaped))


@pytest.mark.parametrize(
    ("path", "absent_from"),
    [
        (("person", "guardian"), "second"),
        (("person", "guardian"), "first"),
        (("release", "supervision_end_date"), "second"),
        (("person", "nik_unavailable_reason"), "second"),
    ],
)
async def test_null_and_absent_differ(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    path: tuple[str, str],
    absent_from: str,
) -> None:
    prison = await clients.prison(facility)
    with_null = event_for(facility)
    assert with_null[path[0]][path[1]] is None
    without = copy.deepcopy(with_null)
    del without[path[0]][path[1]]
    first_event, second_event = (
        (with_null, without) if absent_from == "second" else (without, with_null)
    )
    first = await post(http, prison, first_event)
    assert first.status_code == 201, first.text
    conflict = await post(http, prison, second_event)
    body = assert_problem(conflict, 409, "EVENT_ID_CONFLICT")
    assert body["status"] == 409
    assert await counts(services, facility) == (1, 1)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("person__full_name", "Budi Santosa"),
        ("occurred_at", "2026-11-01T00:00:00+07:00"),
        ("event_type", "case.updated"),
        ("pas_categories", ["korban_napza_hiv", "warga_binaan"]),  # order matters in lists
        ("in_custody_programmes", []),
    ],
)
async def test_different_body_under_the_same_id_is_409(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    path: str,
    value: Any,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    first = await post(http, prison, event)
    assert first.status_code == 201
    changed = copy.deepcopy(event)
    keys = path.split("__")
    node = changed
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    assert changed != event
    assert_problem(await post(http, prison, changed), 409, "EVENT_ID_CONFLICT")
    detail = await http.get(
        f"/v1/referrals/{first.json()['referral']['id']}", headers=prison.headers
    )
    assert detail.json()["version"] == 1
    assert detail.json()["person"]["full_name"] == "Budi Santoso"
    assert await counts(services, facility) == (1, 1)
    # The first body still replays.
    assert_replay(first, await post(http, prison, event))


async def test_conflict_is_checked_before_the_rules(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    assert (await post(http, prison, event)).status_code == 201
    broken = dict(event, pas_categories=["bogus"])
    assert_problem(await post(http, prison, broken), 409, "EVENT_ID_CONFLICT")


async def test_schema_and_facility_are_checked_before_idempotency(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    assert (await post(http, prison, event)).status_code == 201
    bad_schema = dict(event, extra=True)
    body = assert_problem(await post(http, prison, bad_schema), 422, "VALIDATION_FAILED")
    assert [e["pointer"] for e in body["errors"]] == ["/extra"]
    elsewhere = copy.deepcopy(event)
    elsewhere["facility"]["code"] = "LP-NOT-MINE"
    assert_problem(await post(http, prison, elsewhere), 403, "FACILITY_NOT_PERMITTED")


# -- a 4xx stores nothing ------------------------------------------------------------------


async def test_rejected_event_can_be_fixed_and_resent_under_the_same_id(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, pas_categories=["korban_napza_hiv"])
    assert_problem(await post(http, prison, event), 422, "VALIDATION_FAILED")
    assert await intake_records(services, prison) == 0
    event["pas_categories"] = ["warga_binaan", "korban_napza_hiv"]
    fixed = await post(http, prison, event)
    assert fixed.status_code == 201, fixed.text
    assert fixed.json()["event_id"] == event["event_id"]
    assert_replay(fixed, await post(http, prison, event))
    assert await counts(services, facility) == (1, 1)


async def test_404_and_409_store_nothing(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    update = event_for(facility, event_type="case.updated")
    assert_problem(await post(http, prison, update), 404, "UNKNOWN_CASE")
    # Same id, same body, again: still a 404 (nothing was stored to replay).
    assert_problem(await post(http, prison, update), 404, "UNKNOWN_CASE")
    assert await intake_records(services, prison) == 0

    completed = copy.deepcopy(update)
    completed["event_id"] += "-C"
    completed["event_type"] = "release.completed"
    completed["occurred_at"] = (
        dt.datetime.fromisoformat(update["occurred_at"]) - dt.timedelta(minutes=1)
    ).isoformat()
    assert (await post(http, prison, completed)).status_code == 201
    # The case exists now: the very same case.updated event is applied.
    applied = await post(http, prison, update)
    assert applied.status_code == 200, applied.text
    assert applied.json()["outcome"] == "unchanged"
    assert "Idempotent-Replayed" not in applied.headers

    scheduled = make_event(
        facility,
        event_type="release.scheduled",
        case_ref=update["case_ref"],
        person__nik=update["person"]["nik"],
        occurred_at=dt.datetime.now(dt.UTC),
    )
    assert_problem(await post(http, prison, scheduled), 409, "ALREADY_RELEASED")
    assert_problem(await post(http, prison, scheduled), 409, "ALREADY_RELEASED")
    assert await intake_records(services, prison) == 2


async def test_403_stores_nothing(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    outsider = await clients.prison("LP-ELSEWHERE")
    event = event_for(facility)
    assert_problem(await post(http, outsider, event), 403, "FACILITY_NOT_PERMITTED")
    assert await intake_records(services, outsider) == 0


# -- clients are separate ------------------------------------------------------------------


async def test_two_clients_may_use_the_same_event_id(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    first_client = await clients.prison(facility)
    second_client = await clients.prison(facility)
    event = event_for(facility)
    first = await post(http, first_client, event)
    assert first.status_code == 201
    # The other client's copy is its own event: applied (same data: unchanged), not replayed.
    second = await post(http, second_client, event)
    assert second.status_code == 200, second.text
    assert second.json()["outcome"] == "unchanged"
    assert "Idempotent-Replayed" not in second.headers
    # And a different body under that id is no conflict for the other client.
    other_case = dict(event, case_ref=event["case_ref"] + "-B")
    third = await post(http, second_client, dict(other_case, event_id=event["event_id"] + "x"))
    assert third.status_code == 201
    fourth_client = await clients.prison(facility)
    fourth = await post(http, fourth_client, dict(other_case, case_ref=event["case_ref"] + "-C"))
    assert fourth.status_code == 201, fourth.text
    assert await intake_records(services, first_client) == 1
    assert await intake_records(services, second_client) == 2


# -- concurrency over real HTTP ------------------------------------------------------------


async def test_fifty_concurrent_copies_give_one_referral(
    settings: Settings, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    async with (
        live_server(settings) as base_url,
        httpx.AsyncClient(
            base_url=base_url,
            timeout=60,
            limits=httpx.Limits(max_connections=60, max_keepalive_connections=60),
        ) as client,
    ):
        responses = await asyncio.gather(
            *(client.post(URL, json=event, headers=prison.headers) for _ in range(50))
        )
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * 50, [r.text for r in responses if r.status_code != 201][:3]
    bodies = [r.json() for r in responses]
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["outcome"] == "created"
    replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
    assert replayed.count("true") == 49
    assert replayed.count(None) == 1
    assert await counts(services, facility) == (1, 1)
    assert await intake_records(services, prison) == 1


async def test_ten_concurrent_events_for_one_new_case_give_one_referral(
    settings: Settings, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    base = event_for(facility)
    events = [dict(base, event_id=f"{base['event_id']}-{i}") for i in range(10)]
    async with (
        live_server(settings) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as client,
    ):
        responses = await asyncio.gather(
            *(client.post(URL, json=e, headers=prison.headers) for e in events)
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [201], [r.text for r in responses]
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["created"] + ["unchanged"] * 9
    assert len({r.json()["referral"]["id"] for r in responses}) == 1
    assert all("Idempotent-Replayed" not in r.headers for r in responses)
    assert await counts(services, facility) == (1, 10)
    assert await intake_records(services, prison) == 10


async def test_concurrent_different_bodies_under_one_id(
    settings: Settings, clients: Clients, services: Runtime, facility: str
) -> None:
    """Ten copies of body A and ten of body B under one id: one wins, the others replay it
    or get 409 EVENT_ID_CONFLICT."""
    prison = await clients.prison(facility)
    a = event_for(facility)
    b = copy.deepcopy(a)
    b["person"]["full_name"] = "Budi Lain"
    async with (
        live_server(settings) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as client,
    ):
        responses = await asyncio.gather(
            *(client.post(URL, json=e, headers=prison.headers) for e in [a, b] * 10)
        )
    winners = [r for r in responses if r.status_code == 201]
    conflicts = [r for r in responses if r.status_code == 409]
    assert len(winners) + len(conflicts) == 20, [r.text for r in responses]
    assert len(winners) == 10
    assert all(r.json()["code"] == "EVENT_ID_CONFLICT" for r in conflicts)
    assert len({json.dumps(r.json(), sort_keys=True) for r in winners}) == 1
    assert [r.headers.get("Idempotent-Replayed") for r in winners].count("true") == 9
    assert await counts(services, facility) == (1, 1)
