"""POST /v1/release-events/batch (SPEC §3): 207 with one result per event in request order,
each event succeeding or failing on its own; pointers prefixed with /events/<index>."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import random
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select

from app.core import db as db_module
from app.core.config import Settings
from app.referrals.models import Referral, ReferralHistory
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.factories import make_event, supervised, unique
from tests.livesrv import live_server
from tests.support.checks import assert_problem, intake_count, referral_count

URL = "/v1/release-events/batch"
SINGLE = "/v1/release-events"
PROBLEM_JSON = "application/problem+json"
MIB = 1024 * 1024
SUCCESS_KEYS = {"index", "event_id", "status", "outcome", "referral_id", "warnings"}
FAILURE_KEYS = {"index", "event_id", "status", "problem"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}
Event = dict[str, Any]


def event_for(facility: str, **kwargs: Any) -> Event:
    event = make_event(facility, **kwargs)
    if "person__nik" not in kwargs:
        event["person"]["nik"] = (
            f"31{random.randrange(10**4):04d}120385{random.randrange(1, 10**4):04d}"
        )
    return event


def supervised_event(facility: str, case_ref: str) -> Event:
    event = supervised(
        event_for(
            facility,
            event_type="release.scheduled",
            case_ref=case_ref,
            event_id=case_ref + "-1",
            release_days=5,
        )
    )
    event["occurred_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    return event


async def post_batch(http: httpx.AsyncClient, client: ApiClient, events: Any) -> httpx.Response:
    return await http.post(URL, json={"events": events}, headers=client.headers)


def results_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 207, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"results"}
    results: list[dict[str, Any]] = body["results"]
    assert [r["index"] for r in results] == list(range(len(results)))
    for result in results:
        if "problem" in result:
            assert set(result) == FAILURE_KEYS, result
            problem = result["problem"]
            assert set(problem) >= PROBLEM_KEYS
            assert problem["status"] == result["status"]
            assert problem["request_id"] == response.headers["X-Request-ID"]
        else:
            assert SUCCESS_KEYS <= set(result) <= SUCCESS_KEYS | {"replayed"}, result
    return results


def failure(result: dict[str, Any], status: int, code: str) -> list[tuple[str, str]]:
    assert result["status"] == status, result
    assert result["problem"]["code"] == code, result
    return [(e["code"], e["pointer"]) for e in result["problem"].get("errors", [])]


def success(result: dict[str, Any], status: int, outcome: str) -> str:
    assert result["status"] == status, result
    assert result["outcome"] == outcome, result
    referral_id: str = result["referral_id"]
    uuid.UUID(referral_id)
    return referral_id


# -- results -------------------------------------------------------------------------------


async def test_mixed_batch_answers_each_event_on_its_own(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    first = event_for(facility, event_type="release.scheduled", release_days=5)
    bad = event_for(facility, pas_categories=["warga_binaan", "bogus"])
    bad["person"]["domicile"].update(regency_code="3273", district_code=None)
    completed = copy.deepcopy(first)
    completed.update(event_id=first["event_id"] + "-2", event_type="release.completed")
    completed["release"]["date"] = bad["release"]["date"]
    elsewhere = event_for("LP-NOT-BOUND")
    unknown = event_for(facility, event_type="case.updated")
    second = event_for(facility)
    results = results_of(
        await post_batch(http, prison, [first, bad, completed, elsewhere, unknown, second])
    )
    assert [r["event_id"] for r in results] == [
        e["event_id"] for e in (first, bad, completed, elsewhere, unknown, second)
    ]
    created_id = success(results[0], 201, "created")
    assert results[0]["warnings"] == []
    assert sorted(failure(results[1], 422, "VALIDATION_FAILED")) == [
        ("REGION_MISMATCH", "/events/1/person/domicile/regency_code"),
        ("UNKNOWN_PAS_CATEGORY", "/events/1/pas_categories/1"),
    ]
    assert success(results[2], 200, "updated") == created_id
    assert failure(results[3], 403, "FACILITY_NOT_PERMITTED") == [
        ("FACILITY_NOT_PERMITTED", "/events/3/facility/code")
    ]
    assert failure(results[4], 404, "UNKNOWN_CASE") == []
    assert success(results[5], 201, "created") != created_id
    assert await referral_count(services, facility) == 2
    assert await intake_count(services, prison) == 3

    detail = await http.get(f"/v1/referrals/{created_id}", headers=prison.headers)
    assert detail.json()["custody_status"] == "released"
    assert detail.json()["version"] == 2


async def test_batch_item_status_is_what_the_event_would_get_on_its_own(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    good = event_for(facility)
    bad = event_for(facility, person__sex="x")
    results = results_of(await post_batch(http, prison, [good, bad]))
    # Posted on its own now: the good one replays 201, the bad one is the same 422.
    alone_good = await http.post(SINGLE, json=good, headers=prison.headers)
    alone_bad = await http.post(SINGLE, json=bad, headers=prison.headers)
    assert results[0]["status"] == alone_good.status_code == 201
    assert results[0]["referral_id"] == alone_good.json()["referral"]["id"]
    assert results[0]["outcome"] == alone_good.json()["outcome"]
    assert alone_good.headers["Idempotent-Replayed"] == "true"
    assert results[1]["status"] == alone_bad.status_code == 422
    problem = dict(results[1]["problem"])
    alone = alone_bad.json()
    for body in (problem, alone):
        body.pop("request_id")
    assert problem["errors"] == [
        {**e, "pointer": "/events/1" + e["pointer"]} for e in alone.pop("errors")
    ]
    problem.pop("errors")
    assert problem == alone


async def test_warnings_are_reported_per_event(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    clean = event_for(facility)
    mismatch = event_for(facility)
    mismatch["person"]["nik"] = mismatch["person"]["nik"][:6] + "130385" + "0042"
    results = results_of(await post_batch(http, prison, [clean, mismatch]))
    assert results[0]["warnings"] == []
    assert [(w["code"], w["pointer"]) for w in results[1]["warnings"]] == [
        ("NIK_BIRTHDATE_MISMATCH", "/events/1/person/nik")
    ]
    # The stored answer is the event's own: posted alone, it replays unprefixed.
    alone = await http.post(SINGLE, json=mismatch, headers=prison.headers)
    assert alone.headers["Idempotent-Replayed"] == "true"
    assert [w["pointer"] for w in alone.json()["warnings"]] == ["/person/nik"]


async def test_events_of_one_case_are_applied_in_request_order(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    scheduled = event_for(facility, event_type="release.scheduled")
    update = copy.deepcopy(scheduled)
    update.update(event_id=scheduled["event_id"] + "-u", event_type="case.updated")
    update["person"]["full_name"] = "Budi Baru"
    completed = copy.deepcopy(update)
    completed.update(event_id=scheduled["event_id"] + "-c", event_type="release.completed")
    cancelled = copy.deepcopy(update)
    cancelled.update(event_id=scheduled["event_id"] + "-x", event_type="release.cancelled")
    results = results_of(await post_batch(http, prison, [scheduled, update, completed, cancelled]))
    rid = success(results[0], 201, "created")
    assert success(results[1], 200, "updated") == rid
    assert success(results[2], 200, "updated") == rid
    assert failure(results[3], 409, "ALREADY_RELEASED") == []


async def test_duplicate_event_in_one_batch_replays(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    conflicting = copy.deepcopy(event)
    conflicting["person"]["full_name"] = "Orang Lain"
    results = results_of(await post_batch(http, prison, [event, event, conflicting]))
    rid = success(results[0], 201, "created")
    assert success(results[1], 201, "created") == rid
    assert "replayed" not in results[0]
    assert failure(results[2], 409, "EVENT_ID_CONFLICT") == []
    assert await referral_count(services, facility) == 1
    assert await intake_count(services, prison) == 1


async def test_event_posted_alone_then_in_a_batch_replays(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    alone = await http.post(SINGLE, json=event, headers=prison.headers)
    assert alone.status_code == 201
    results = results_of(await post_batch(http, prison, [event]))
    assert success(results[0], 201, "created") == alone.json()["referral"]["id"]
    assert results[0]["warnings"] == [
        {**w, "pointer": "/events/0" + w["pointer"]} for w in alone.json()["warnings"]
    ]


async def test_a_case_event_before_the_event_that_creates_it_is_404(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """Events of one batch are judged in order: a case.updated sent before the event that
    creates its case finds no referral, even though the case exists when the batch ends."""
    prison = await clients.prison(facility)
    scheduled = event_for(facility, event_type="release.scheduled", release_days=3)
    early = copy.deepcopy(scheduled)
    early.update(event_id=scheduled["event_id"] + "-early", event_type="case.updated")
    results = results_of(await post_batch(http, prison, [early, scheduled]))
    assert failure(results[0], 404, "UNKNOWN_CASE") == []
    success(results[1], 201, "created")
    assert await intake_count(services, prison) == 1


async def test_a_repeated_id_after_a_refused_first_copy_is_applied(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """The first copy failed (404 stores nothing), so the corrected second copy under the
    same id is a new event, applied as if sent after the first."""
    prison = await clients.prison(facility)
    wrong = event_for(facility, event_type="case.updated")
    fixed = copy.deepcopy(wrong)
    fixed["event_type"] = "release.completed"
    then = event_for(facility, event_type="case.updated", case_ref=wrong["case_ref"])
    then["person"]["full_name"] = "Budi Koreksi"
    results = results_of(await post_batch(http, prison, [wrong, fixed, then]))
    assert failure(results[0], 404, "UNKNOWN_CASE") == []
    rid = success(results[1], 201, "created")
    assert "replayed" not in results[1]
    assert success(results[2], 200, "updated") == rid
    assert await intake_count(services, prison) == 2


async def test_a_batch_writes_what_the_same_events_write_one_by_one(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """Applied together (one transaction) or one request each, the same events give the
    same answers, history, referral and change feed."""
    prison = await clients.prison(facility)

    def story(case_ref: str) -> list[Event]:
        scheduled = supervised_event(facility, case_ref)
        renamed = copy.deepcopy(scheduled)
        renamed.update(event_id=case_ref + "-2", event_type="case.updated")
        renamed["person"]["full_name"] = "Budi Santosa"
        renamed["pas_categories"] = ["warga_binaan"]
        renamed["needs"]["health"]["napza_history"] = False
        same = copy.deepcopy(renamed)
        same["event_id"] = case_ref + "-3"
        completed = copy.deepcopy(renamed)
        completed.update(event_id=case_ref + "-4", event_type="release.completed")
        completed["release"]["date"] = (
            dt.date.fromisoformat(completed["release"]["date"]) - dt.timedelta(days=10)
        ).isoformat()
        revoked = copy.deepcopy(completed)
        revoked.update(event_id=case_ref + "-5", event_type="release.revoked")
        stale = copy.deepcopy(completed)
        stale.update(event_id=case_ref + "-6", event_type="release.cancelled")
        again = copy.deepcopy(scheduled)
        again["event_id"] = case_ref + "-7"
        steps = [scheduled, renamed, same, completed, revoked, stale, again]
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        for minutes, step in zip((0, 10, 20, 30, 40, 5, 50), steps, strict=True):
            step["occurred_at"] = (start + dt.timedelta(minutes=minutes)).isoformat()
        return steps

    together = story(unique("CASE"))
    results = results_of(await post_batch(http, prison, together))
    alone = story(unique("CASE"))
    answers = [await http.post(SINGLE, json=e, headers=prison.headers) for e in alone]
    assert [(r["status"], r.get("outcome") or r["problem"]["code"]) for r in results] == [
        (a.status_code, a.json().get("outcome") or a.json()["code"]) for a in answers
    ]
    assert [r["status"] for r in results] == [201, 200, 200, 200, 200, 200, 200]
    assert [r.get("outcome") for r in results] == [
        "created", "updated", "unchanged", "updated", "revoked", "stale", "updated"
    ]  # fmt: skip
    assert [r.get("warnings") for r in results] == [a.json().get("warnings") for a in answers]
    ids = (results[0]["referral_id"], answers[0].json()["referral"]["id"])

    async def view(rid: str) -> tuple[Any, ...]:
        detail = (await http.get(f"/v1/referrals/{rid}", headers=prison.headers)).json()
        history = (await http.get(f"/v1/referrals/{rid}/history", headers=prison.headers)).json()
        for key in ("id", "case_ref", "created_at", "updated_at", "nik_masked"):
            detail.pop(key)
        detail["person"].pop("nik")  # each story has its own (invented) person
        detail["consent"].pop("recorded_at")
        steps = [
            {k: v for k, v in h.items() if k not in ("id", "at", "event_id", "referral_id")}
            for h in history["items"]
        ]
        return detail, steps

    batch_view, alone_view = await view(ids[0]), await view(ids[1])
    assert batch_view == alone_view
    assert len(batch_view[1]) == 7  # one entry per event, the stale one included

    # On PostgreSQL the feed holds back what committed after a transaction still open
    # anywhere on the server (it never skips a late commit): under other load the second
    # story's events may show a moment later. Poll, bounded.
    for _ in range(60):
        feed = await http.get("/v1/referral-events", params={"limit": 500}, headers=prison.headers)
        items = feed.json()["items"]
        types = {rid: [e["type"] for e in items if e["subject"] == rid] for rid in ids}
        if len(types[ids[1]]) >= len(types[ids[0]]) == 6:
            break
        await asyncio.sleep(0.25)
    assert types[ids[0]] == types[ids[1]]
    assert types[ids[0]][0] == "referral.created"


async def test_events_for_one_nik_in_one_batch_see_each_other(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    first = event_for(facility, event_type="release.scheduled", release_days=3)
    second = event_for(facility, person__nik=first["person"]["nik"])
    cancelled = copy.deepcopy(first)
    cancelled.update(event_id=first["event_id"] + "-x", event_type="release.cancelled")
    third = event_for(facility, person__nik=first["person"]["nik"])
    other = event_for(facility)
    results = results_of(await post_batch(http, prison, [first, second, cancelled, other]))
    assert results[0]["warnings"] == []
    assert [w["code"] for w in results[1]["warnings"]] == ["OPEN_REFERRAL_EXISTS_FOR_NIK"]
    success(results[2], 200, "cancelled")
    assert results[3]["warnings"] == []
    # `first` is cancelled now; `second` is still open, so `third` is flagged for it.
    results = results_of(await post_batch(http, prison, [third]))
    assert [w["code"] for w in results[0]["warnings"]] == ["OPEN_REFERRAL_EXISTS_FOR_NIK"]
    detail = await http.get(f"/v1/referrals/{results[0]['referral_id']}", headers=prison.headers)
    assert detail.json()["data_quality_flags"] == ["OPEN_REFERRAL_EXISTS_FOR_NIK"]
    assert len(detail.json()["related_referral_ids"]) == 2


async def test_concurrent_batches_over_the_same_cases(
    settings: Settings, clients: Clients, services: Runtime, facility: str
) -> None:
    """Four batches at once, each creating or updating the same 40 cases under their own
    event ids (overlapping in different orders), and two identical copies of a fifth:
    one referral per case, every event answered 2xx, every answered event in history."""
    prison = await clients.prison(facility)
    refs = [unique("CASE") for _ in range(40)]
    batches = []
    for n in range(4):
        order = refs[n * 5 :] + refs[: n * 5]
        batches.append([event_for(facility, case_ref=ref, event_id=f"{ref}-{n}") for ref in order])
    copy_batch = [event_for(facility) for _ in range(20)]
    async with (
        live_server(settings) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=120) as client,
    ):
        responses = await asyncio.gather(
            *(
                client.post(URL, json={"events": b}, headers=prison.headers)
                for b in [*batches, copy_batch, copy_batch]
            )
        )
    answers = [results_of(r) for r in responses]
    statuses = [r["status"] for a in answers for r in a]
    assert set(statuses) <= {200, 201}, [r for a in answers for r in a if r["status"] > 201][:3]
    created = [r for a in answers[:4] for r in a if r["status"] == 201]
    assert sorted(r["event_id"].rsplit("-", 1)[0] for r in created) == sorted(refs)
    copies = answers[4:]
    assert [r["referral_id"] for r in copies[0]] == [r["referral_id"] for r in copies[1]]
    assert sorted(bool(c[0].get("replayed")) for c in copies) == [False, True]
    assert await referral_count(services, facility) == 60
    assert await intake_count(services, prison) == 4 * 40 + 20
    async with services.db.read_session() as session:
        history = await session.scalar(
            select(func.count())
            .select_from(ReferralHistory)
            .join(Referral, Referral.id == ReferralHistory.referral_id)
            .where(Referral.facility_code == facility)
        )
    assert history == 4 * 40 + 20


@pytest.mark.parametrize(
    ("item", "event_id"),
    [(42, None), ("event", None), (None, None), ([], None), (10**30, None)],
)
async def test_item_that_is_not_an_object(
    http: httpx.AsyncClient, clients: Clients, facility: str, item: Any, event_id: Any
) -> None:
    prison = await clients.prison(facility)
    good = event_for(facility)
    results = results_of(await post_batch(http, prison, [good, item]))
    success(results[0], 201, "created")
    assert results[1]["event_id"] is event_id
    assert failure(results[1], 422, "VALIDATION_FAILED") == [("INVALID_TYPE", "/events/1")]


async def test_item_with_a_non_string_event_id(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    results = results_of(await post_batch(http, prison, [event_for(facility, event_id=123)]))
    assert results[0]["event_id"] is None
    assert failure(results[0], 422, "VALIDATION_FAILED") == [("INVALID_TYPE", "/events/0/event_id")]


async def test_item_errors_carry_prefixed_pointers(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    events = [event_for(facility) for _ in range(12)]
    events[3]["person"]["nickname"] = "x"
    events[11]["person"]["full_name"] = "Budi\u0000"
    del events[7]["consent"]
    events[10]["pas_categories"] = ["korban_napza_hiv"]
    results = results_of(await post_batch(http, prison, events))
    assert failure(results[3], 422, "VALIDATION_FAILED") == [
        ("UNKNOWN_FIELD", "/events/3/person/nickname")
    ]
    assert failure(results[7], 422, "VALIDATION_FAILED") == [
        ("FIELD_REQUIRED", "/events/7/consent")
    ]
    assert failure(results[10], 422, "VALIDATION_FAILED") == [
        ("PAS_WARGA_BINAAN_REQUIRED", "/events/10/pas_categories")
    ]
    assert failure(results[11], 422, "VALIDATION_FAILED") == [
        ("INVALID_TEXT", "/events/11/person/full_name")
    ]
    statuses = [201, 201, 201, 422, 201, 201, 201, 422, 201, 201, 422, 422]
    assert [r["status"] for r in results] == statuses


async def test_lone_surrogate_fails_only_its_item(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    events = [event_for(facility), event_for(facility, person__full_name="X-MARK")]
    content = json.dumps({"events": events}).replace("X-MARK", "X\\udfffMARK")
    response = await http.post(
        URL,
        content=content.encode(),
        headers={**prison.headers, "Content-Type": "application/json"},
    )
    results = results_of(response)
    success(results[0], 201, "created")
    assert failure(results[1], 422, "VALIDATION_FAILED") == [
        ("INVALID_TEXT", "/events/1/person/full_name")
    ]


async def test_stale_event_in_a_batch(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    newer = event_for(facility)
    older = copy.deepcopy(newer)
    older.update(event_id=newer["event_id"] + "-old", event_type="case.updated")
    older["occurred_at"] = "2026-01-01T00:00:00+07:00"
    older["person"]["full_name"] = "Lama"
    results = results_of(await post_batch(http, prison, [newer, older]))
    rid = success(results[0], 201, "created")
    assert success(results[1], 200, "stale") == rid


# -- the whole request -----------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 501])
async def test_zero_or_more_than_500_events_is_422_for_the_whole_request(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, count: int
) -> None:
    prison = await clients.prison(facility)
    events = [event_for(facility) for _ in range(count)]
    body = assert_problem(await post_batch(http, prison, events), 422, "VALIDATION_FAILED")
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == [("BATCH_SIZE", "/events")]
    assert await referral_count(services, facility) == 0
    assert await intake_count(services, prison) == 0


async def test_five_hundred_events_are_accepted(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    events = [event_for(facility) for _ in range(500)]
    events[250]["pas_categories"] = []
    results = results_of(await post_batch(http, prison, events))
    assert len(results) == 500
    assert [r["status"] for r in results].count(201) == 499
    assert failure(results[250], 422, "VALIDATION_FAILED") == [
        ("PAS_WARGA_BINAAN_REQUIRED", "/events/250/pas_categories")
    ]
    assert [r["event_id"] for r in results] == [e["event_id"] for e in events]
    assert await referral_count(services, facility) == 499


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, [("FIELD_REQUIRED", "/events")]),
        ({"events": None}, [("FIELD_REQUIRED", "/events")]),
        ({"events": {"0": {}}}, [("INVALID_TYPE", "/events")]),
        ({"events": "[]"}, [("INVALID_TYPE", "/events")]),
        # Every failure of the envelope together (SPEC §1).
        (
            {"events": [], "dry_run": True},
            [("BATCH_SIZE", "/events"), ("UNKNOWN_FIELD", "/dry_run")],
        ),
        ([], [("INVALID_TYPE", "")]),
        ("events", [("INVALID_TYPE", "")]),
    ],
)
async def test_batch_envelope_errors(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    document: Any,
    expected: list[tuple[str, str]],
) -> None:
    prison = await clients.prison(facility)
    response = await http.post(URL, json=document, headers=prison.headers)
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == expected


async def test_malformed_batch_is_422(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    text = json.dumps({"events": [event_for(facility)]})
    response = await http.post(
        URL,
        content=text[:-3].encode(),
        headers={**prison.headers, "Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "MALFORMED_JSON")
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == [("MALFORMED_JSON", "")]
    assert await referral_count(services, facility) == 0


async def test_batch_over_one_mib_is_accepted(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    text = json.dumps({"events": [event_for(facility)]}).encode()
    response = await http.post(
        URL,
        content=text + b" " * (3 * MIB),
        headers={**prison.headers, "Content-Type": "application/json"},
    )
    assert [r["status"] for r in results_of(response)] == [201]


@pytest.mark.parametrize("size", [10 * MIB + 1, 12 * MIB])
async def test_batch_over_ten_mib_is_413(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, size: int
) -> None:
    prison = await clients.prison(facility)
    text = json.dumps({"events": [event_for(facility)]}).encode()
    response = await http.post(
        URL,
        content=text + b" " * (size - len(text)),
        headers={**prison.headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert await referral_count(services, facility) == 0


async def test_unauthenticated_batch_is_401_even_when_too_large(
    http: httpx.AsyncClient, facility: str
) -> None:
    text = json.dumps({"events": [event_for(facility)]}).encode()
    response = await http.post(
        URL,
        content=text + b" " * (11 * MIB),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_batch_needs_a_prison_key(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    kemensos = await clients.kemensos()
    response = await post_batch(http, kemensos, [event_for(facility)])
    assert_problem(response, 403, "ROLE_NOT_PERMITTED")
    assert await referral_count(services, facility) == 0


async def test_batch_with_text_plain_is_415(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    response = await http.post(
        URL,
        content=json.dumps({"events": [event_for(facility)]}).encode(),
        headers={**prison.headers, "Content-Type": "text/plain"},
    )
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_batch_request_id_is_echoed(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    response = await http.post(
        URL,
        json={"events": [event_for(facility, pas_categories=[])]},
        headers={**prison.headers, "X-Request-ID": "batch-42"},
    )
    assert response.headers["X-Request-ID"] == "batch-42"
    assert results_of(response)[0]["problem"]["request_id"] == "batch-42"


async def test_events_are_stored_when_every_connection_is_pinged_first(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool's idle-connection ping must leave no transaction open: intake's own
    transaction would become a savepoint of it and be rolled back with it, after the
    events were acknowledged."""
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)
    prison = await clients.prison(facility)
    single = await http.post(SINGLE, json=event_for(facility), headers=prison.headers)
    assert single.status_code == 201
    results = results_of(await post_batch(http, prison, [event_for(facility) for _ in range(3)]))
    assert [r["status"] for r in results] == [201] * 3
    assert await referral_count(services, facility) == 4
    assert await intake_count(services, prison) == 4


async def test_copies_of_one_event_in_a_batch_take_no_transaction_each(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """SPEC §3: a repeated event_id is answered as if posted after the first. 500 copies of
    one event were 500 transactions (5-7 s); a copy now takes its original's answer."""
    prison = await clients.prison(facility)
    event = event_for(facility)
    commits = 0

    def count(*_: Any) -> None:
        nonlocal commits
        commits += 1

    engine = services.db.engine.sync_engine
    sqlalchemy_event.listen(engine, "commit", count)
    try:
        results = results_of(await post_batch(http, prison, [event] * 200))
    finally:
        sqlalchemy_event.remove(engine, "commit", count)
    rid = success(results[0], 201, "created")
    assert "replayed" not in results[0]
    for result in results[1:]:
        assert success(result, 201, "created") == rid
        assert result["replayed"] is True
    assert commits <= 5  # the event's, the audit rows of its copies, a read or two
    assert await referral_count(services, facility) == 1
    assert await intake_count(services, prison) == 1


async def test_copies_of_a_refused_event_are_refused_alike_at_their_own_index(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    event["person"]["nik"] = "123"
    other = event_for(facility)
    results = results_of(await post_batch(http, prison, [event, other, event, event]))
    for index in (0, 2, 3):
        assert failure(results[index], 422, "VALIDATION_FAILED") == [
            ("INVALID_NIK", f"/events/{index}/person/nik")
        ]
    success(results[1], 201, "created")
    assert await referral_count(services, facility) == 1
