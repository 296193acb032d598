"""POST /v1/release-events/batch (SPEC §3): 207 with one result per event in request order,
each event succeeding or failing on its own; pointers prefixed with /events/<index>."""

from __future__ import annotations

import copy
import json
import random
import uuid
from typing import Any

import httpx
import pytest

from app.context import AppServices
from tests.api.checks import assert_problem, intake_count, referral_count
from tests.conftest import ApiClient, Clients
from tests.factories import make_event

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
    http: httpx.AsyncClient, clients: Clients, services: AppServices, facility: str
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
        ("NIK_BIRTHDATE_MISMATCH", "/person/nik")
    ]


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
    http: httpx.AsyncClient, clients: Clients, services: AppServices, facility: str
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
    assert results[0]["warnings"] == alone.json()["warnings"]


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
    http: httpx.AsyncClient, clients: Clients, services: AppServices, facility: str, count: int
) -> None:
    prison = await clients.prison(facility)
    events = [event_for(facility) for _ in range(count)]
    body = assert_problem(await post_batch(http, prison, events), 422, "VALIDATION_FAILED")
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == [("BATCH_SIZE", "/events")]
    assert await referral_count(services, facility) == 0
    assert await intake_count(services, prison) == 0


async def test_five_hundred_events_are_accepted(
    http: httpx.AsyncClient, clients: Clients, services: AppServices, facility: str
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
        ({"events": [], "dry_run": True}, [("UNKNOWN_FIELD", "/dry_run")]),
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
    http: httpx.AsyncClient, clients: Clients, services: AppServices, facility: str
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
    http: httpx.AsyncClient, clients: Clients, services: AppServices, facility: str, size: int
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
    http: httpx.AsyncClient, clients: Clients, services: AppServices, facility: str
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
