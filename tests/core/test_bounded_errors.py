"""Bounded errors (SPEC §1): a problem lists at most 50 `errors` (then `errors_omitted`),
so its size and the work of building it are bounded by the request, never many times it;
a 207 holds at most 50 errors per item, and far fewer in all than its batch's size."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest

from app.core.errors import MAX_ERRORS
from app.core.validation import prune_unknown
from app.intake.schemas import ReleaseEvent
from app.referrals.schemas import TransitionRequest
from tests.conftest import Clients
from tests.factories import make_event
from tests.support.checks import assert_problem

KB = 1024


def unknown_members(count: int, prefix: str = "m") -> dict[str, int]:
    return {f"{prefix}{i}": 0 for i in range(count)}


# -- pure: pruning unknown members before validation ------------------------------------


def test_few_unknown_members_are_left_alone_and_not_copied() -> None:
    body = {"action": "accept", **unknown_members(MAX_ERRORS)}
    pruned, omitted = prune_unknown(body, TransitionRequest)
    assert pruned is body
    assert omitted == 0


def test_unknown_members_past_the_cap_are_counted_not_kept() -> None:
    body = {"action": "accept", **unknown_members(85_000)}
    pruned, omitted = prune_unknown(body, TransitionRequest)
    assert omitted == 85_000 - MAX_ERRORS
    assert len(pruned) == 1 + MAX_ERRORS
    assert pruned["action"] == "accept"
    assert list(pruned)[1:3] == ["m0", "m1"]
    assert len(body) == 85_001  # the request's own body is not changed


def test_nested_unknown_members_share_one_cap() -> None:
    event = make_event("LP-X")
    event["person"].update(unknown_members(40, "p"))
    event["person"]["domicile"].update(unknown_members(40, "d"))
    event["in_custody_programmes"][0].update(unknown_members(40, "c"))
    pruned, omitted = prune_unknown(event, ReleaseEvent)
    assert omitted == 120 - MAX_ERRORS
    kept = (
        sum(k.startswith("p") and k[1:].isdigit() for k in pruned["person"])
        + sum(k.startswith("d") and k[1:].isdigit() for k in pruned["person"]["domicile"])
        + sum(k.startswith("c") and k[1:].isdigit() for k in pruned["in_custody_programmes"][0])
    )
    assert kept == MAX_ERRORS
    assert pruned["person"]["full_name"] == event["person"]["full_name"]


def test_values_that_are_not_objects_are_left_to_the_validator() -> None:
    for value in (None, 1, "x", [1, 2], {"person": [1] * 100}):
        pruned, omitted = prune_unknown(value, ReleaseEvent)
        assert pruned is value
        assert omitted == 0


# -- through HTTP -----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "id"])
async def test_a_transition_with_85000_unknown_members_is_a_small_problem(
    http: httpx.AsyncClient, clients: Clients, lang: str
) -> None:
    kemensos = await clients.kemensos()
    body = orjson.dumps({"action": "accept", **unknown_members(85_000)})
    assert len(body) > 900 * KB
    response = await http.post(
        f"/v1/referrals/{uuid.uuid4()}/transitions",
        content=body,
        headers={
            **kemensos.headers,
            "Content-Type": "application/json",
            "If-Match": '"1"',
            "Accept-Language": lang,
        },
    )
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert response.headers["content-language"] == lang
    # The bound holds in either language; the detail counts every error, listed or not.
    assert problem["detail"] == (
        "85000 kesalahan validasi; lihat errors[]."
        if lang == "id"
        else "85000 validation error(s); see errors[]."
    )
    assert len(response.content) < 100 * KB
    assert len(problem["errors"]) == MAX_ERRORS
    assert problem["errors"][0] == {
        "pointer": "/m0",
        "code": "UNKNOWN_FIELD",
        "detail": problem["errors"][0]["detail"],
    }
    assert problem["errors_omitted"] == 85_000 - MAX_ERRORS


async def test_an_event_with_85000_unknown_members_is_a_small_problem(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = make_event(facility)
    event["person"].update(unknown_members(85_000))
    body = orjson.dumps(event)
    response = await http.post(
        "/v1/release-events",
        content=body,
        headers={**prison.headers, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert len(response.content) < 100 * KB
    assert len(problem["errors"]) == MAX_ERRORS
    assert {e["code"] for e in problem["errors"]} == {"UNKNOWN_FIELD"}
    assert problem["errors"][0]["pointer"] == "/person/m0"
    assert problem["errors_omitted"] == 85_000 - MAX_ERRORS


async def test_a_problem_names_every_member_however_long_in_bounded_space(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    kemensos = await clients.kemensos()
    body: dict[str, Any] = {"action": "accept"}
    body.update({f"{i:04d}" + "x" * 18_000: 1 for i in range(50)})  # 0.9 MB of names
    response = await http.post(
        f"/v1/referrals/{uuid.uuid4()}/transitions",
        json=body,
        headers={**kemensos.headers, "If-Match": '"1"'},
    )
    assert_problem(response, 422, "VALIDATION_FAILED")
    assert len(response.content) < 100 * KB


async def test_a_batch_of_many_bad_items_is_answered_smaller_than_it_was_sent(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    events = []
    for _ in range(100):
        event = make_event(facility)
        event.update(unknown_members(2_000))
        events.append(event)
    body = orjson.dumps({"events": events})
    response = await http.post(
        "/v1/release-events/batch",
        content=body,
        headers={**prison.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 207, response.text[:500]
    assert len(response.content) < len(body) / 4
    results = response.json()["results"]
    assert len(results) == 100
    listed = 0
    for result in results:
        problem = result["problem"]
        assert result["status"] == 422
        assert 1 <= len(problem["errors"]) <= MAX_ERRORS
        assert len(problem["errors"]) + problem["errors_omitted"] == 2_000
        listed += len(problem["errors"])
    assert listed <= 1_000 + 100


async def test_a_batch_of_many_small_bad_items_stays_near_its_size(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    """500 items of 50 tiny unknown members each: 50 errors an item would be ~15 times the
    batch; the 207 lists at most 1,000 in all (at least one per item)."""
    prison = await clients.prison("LP-TINY")
    events = [{f"{i}": 0 for i in range(50)} for _ in range(500)]
    body = orjson.dumps({"events": events})
    response = await http.post(
        "/v1/release-events/batch",
        content=body,
        headers={**prison.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 207
    results = response.json()["results"]
    assert all(len(r["problem"]["errors"]) >= 1 for r in results)
    assert sum(len(r["problem"]["errors"]) for r in results) <= 1_000 + 500
    assert len(response.content) < 4 * len(body)
