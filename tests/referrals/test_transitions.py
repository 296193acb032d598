"""The referral lifecycle of SPEC §4 through HTTP: every (state, action, role) cell,
preconditions, required fields, effects on `sentra_code`, history and concurrency."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import ApiClient, Clients
from tests.factories import make_event
from tests.support.referrals import (
    PATHS,
    VALID_BODY,
    act,
    drive,
    etag,
    new_referral,
    post_event,
    referral_in,
    sentra_code,
)

STATES = list(PATHS)
ACTIONS = list(VALID_BODY)
ROLES = ["kemensos", "sentra", "prison"]

# SPEC §4, written out again here (not read from app.referrals.domain): action → (from
# states, target or None for "the state it was held from", roles).
TABLE: dict[str, tuple[set[str], str | None, set[str]]] = {
    "accept": ({"received"}, "accepted", {"kemensos"}),
    "reject": ({"received", "accepted"}, "rejected", {"kemensos"}),
    "assign": ({"accepted", "assigned"}, "assigned", {"kemensos"}),
    "return": ({"assigned"}, "accepted", {"sentra", "kemensos"}),
    "start_service": ({"assigned"}, "in_service", {"sentra", "kemensos"}),
    "hold": ({"accepted", "assigned", "in_service"}, "on_hold", {"sentra", "kemensos"}),
    "resume": ({"on_hold"}, None, {"sentra", "kemensos"}),
    "close": ({"assigned", "in_service", "on_hold"}, "closed", {"sentra", "kemensos"}),
    "cancel": ({"received", "accepted", "assigned"}, "cancelled", {"kemensos", "prison"}),
}
# The state each PATHS entry holds from (`on_hold` is reached from `in_service`).
HELD_FROM = {"on_hold": "in_service"}


def allowed_for(state: str, role: str) -> set[str]:
    return {a for a, (sources, _, roles) in TABLE.items() if state in sources and role in roles}


@dataclass
class Cast:
    prison: ApiClient
    kemensos: ApiClient
    sentra: ApiClient
    sentra_code: str
    other_sentra_code: str

    def by(self, role: str) -> ApiClient:
        return {"kemensos": self.kemensos, "sentra": self.sentra, "prison": self.prison}[role]


@pytest.fixture
async def cast(clients: Clients, facility: str) -> Cast:
    code, other = sentra_code(), sentra_code()
    await clients.add_sentra(code)
    await clients.add_sentra(other)
    return Cast(
        prison=await clients.prison(facility),
        kemensos=await clients.kemensos(),
        sentra=await clients.sentra(code, other),
        sentra_code=code,
        other_sentra_code=other,
    )


def fields_for(action: str, cast: Cast, state: str) -> dict[str, str]:
    if action != "assign":
        return {}
    # Reassignment (from `assigned`) moves to the other sentra, which the sentra client
    # also holds, so it keeps seeing the referral.
    return {"sentra_code": cast.other_sentra_code if state == "assigned" else cast.sentra_code}


@pytest.mark.parametrize("state", STATES)
async def test_every_cell_of_the_lifecycle_table(
    state: str, http: httpx.AsyncClient, cast: Cast, facility: str
) -> None:
    """Denied cells on one referral (they change nothing); each allowed cell on a fresh one."""
    referral_id = await referral_in(
        http, cast.prison, cast.kemensos, facility, state, cast.sentra_code
    )
    detail = (await http.get(f"/v1/referrals/{referral_id}", headers=cast.kemensos.headers)).json()
    assert detail["status"] == state
    visible_to_sentra = detail["sentra_code"] is not None
    tag = await etag(http, cast.kemensos, referral_id)

    for role in ROLES:
        client = cast.by(role)
        if role == "sentra" and not visible_to_sentra:
            # No sentra_code: outside the sentra's visibility, whatever the action.
            for action in ACTIONS:
                response = await act(http, client, referral_id, action, if_match=tag)
                assert response.status_code == 404, (state, role, action, response.text)
            continue
        expected_allowed = allowed_for(state, role)
        shown = await http.get(f"/v1/referrals/{referral_id}", headers=client.headers)
        assert set(shown.json()["allowed_actions"]) == expected_allowed, (state, role)
        for action in ACTIONS:
            sources, target, roles = TABLE[action]
            if role not in roles:
                response = await act(
                    http,
                    client,
                    referral_id,
                    action,
                    if_match=tag,
                    **fields_for(action, cast, state),
                )
                assert response.status_code == 403, (state, role, action, response.text)
                assert response.json()["code"] == "ROLE_NOT_PERMITTED"
            elif state not in sources:
                response = await act(
                    http,
                    client,
                    referral_id,
                    action,
                    if_match=tag,
                    **fields_for(action, cast, state),
                )
                assert response.status_code == 409, (state, role, action, response.text)
                problem = response.json()
                assert problem["code"] == "INVALID_TRANSITION"
                assert set(problem["allowed_actions"]) == expected_allowed
            else:
                fresh = await referral_in(
                    http, cast.prison, cast.kemensos, facility, state, cast.sentra_code
                )
                response = await act(http, client, fresh, action, **fields_for(action, cast, state))
                assert response.status_code == 200, (state, role, action, response.text)
                body = response.json()
                assert body["status"] == (target or HELD_FROM[state]), (state, role, action)
                assert response.headers["ETag"] == f'"{body["version"]}"'

    # The denied attempts changed nothing.
    assert await etag(http, cast.kemensos, referral_id) == tag


async def test_if_match_is_required_and_must_be_current(
    http: httpx.AsyncClient, cast: Cast, facility: str
) -> None:
    referral_id = await new_referral(http, cast.prison, facility)
    url = f"/v1/referrals/{referral_id}/transitions"
    missing = await http.post(url, json={"action": "accept"}, headers=cast.kemensos.headers)
    assert missing.status_code == 428
    assert missing.json()["code"] == "PRECONDITION_REQUIRED"

    stale = await http.post(
        url, json={"action": "accept"}, headers={**cast.kemensos.headers, "If-Match": '"0"'}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "VERSION_MISMATCH"
    assert stale.headers["ETag"] == '"1"'

    ok = await act(http, cast.kemensos, referral_id, "accept", if_match='"1"')
    assert ok.status_code == 200
    assert ok.headers["ETag"] == '"2"'
    again = await act(http, cast.kemensos, referral_id, "hold", if_match='"1"')
    assert again.status_code == 412


async def test_required_fields_are_checked_after_the_state(
    http: httpx.AsyncClient, cast: Cast, facility: str
) -> None:
    referral_id = await new_referral(http, cast.prison, facility)
    url = f"/v1/referrals/{referral_id}/transitions"

    async def post(body: dict[str, object]) -> httpx.Response:
        tag = await etag(http, cast.kemensos, referral_id)
        return await http.post(url, json=body, headers={**cast.kemensos.headers, "If-Match": tag})

    no_reason = await post({"action": "reject"})
    assert no_reason.status_code == 422
    assert {"pointer": "/reason_code", "code": "FIELD_REQUIRED"}.items() <= no_reason.json()[
        "errors"
    ][0].items()
    bad_reason = await post({"action": "reject", "reason_code": "bosan"})
    assert bad_reason.status_code == 422
    assert bad_reason.json()["errors"][0]["pointer"] == "/reason_code"
    extra = await post({"action": "accept", "outcome": "completed"})
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["pointer"] == "/outcome"
    unknown_action = await post({"action": "teleport"})
    assert unknown_action.status_code == 422
    unknown_field = await post({"action": "accept", "colour": "red"})
    assert unknown_field.status_code == 422

    # The state check (409) comes before the action's fields (422).
    wrong_state = await post({"action": "close"})
    assert wrong_state.status_code == 409
    assert wrong_state.json()["code"] == "INVALID_TRANSITION"

    assert (await post({"action": "accept"})).status_code == 200
    no_sentra = await post({"action": "assign"})
    assert no_sentra.status_code == 422
    assert no_sentra.json()["errors"][0]["pointer"] == "/sentra_code"
    unknown_sentra = await post({"action": "assign", "sentra_code": sentra_code()})
    assert unknown_sentra.status_code == 422
    assert unknown_sentra.json()["errors"][0]["code"] == "UNKNOWN_SENTRA"


async def test_an_inactive_sentra_cannot_be_assigned(
    http: httpx.AsyncClient, clients: Clients, cast: Cast, facility: str
) -> None:
    inactive = sentra_code()
    await clients.add_sentra(inactive, active=False)
    referral_id = await new_referral(http, cast.prison, facility)
    await drive(http, cast.kemensos, referral_id, ["accept"])
    response = await act(http, cast.kemensos, referral_id, "assign", sentra_code=inactive)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "UNKNOWN_SENTRA"


async def test_service_can_start_inside_the_facility_before_release(
    http: httpx.AsyncClient, cast: Cast, facility: str
) -> None:
    """SPEC §4: the MoU wants rehabilitation to start inside the facility."""
    event = make_event(facility, event_type="release.scheduled", release_days=10)
    referral_id = await post_event(http, cast.prison, event)
    assigned = await drive(http, cast.kemensos, referral_id, ["accept", "assign"], cast.sentra_code)
    assert assigned["custody_status"] == "in_custody"
    assert "start_service" in assigned["allowed_actions"]
    started = await act(http, cast.sentra, referral_id, "start_service")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "in_service"
    assert started.json()["custody_status"] == "in_custody"
    released = make_event(
        facility,
        event_type="release.completed",
        case_ref=event["case_ref"],
        release_days=0,
    )
    await post_event(http, cast.prison, released)
    after = await http.get(f"/v1/referrals/{referral_id}", headers=cast.sentra.headers)
    assert (after.json()["status"], after.json()["custody_status"]) == ("in_service", "released")


async def test_assign_sets_and_replaces_sentra_and_return_clears_it(
    http: httpx.AsyncClient, cast: Cast, facility: str
) -> None:
    referral_id = await new_referral(http, cast.prison, facility)
    assigned = await drive(http, cast.kemensos, referral_id, ["accept", "assign"], cast.sentra_code)
    assert assigned["sentra_code"] == cast.sentra_code
    moved = await act(
        http, cast.kemensos, referral_id, "assign", sentra_code=cast.other_sentra_code
    )
    assert moved.status_code == 200
    assert moved.json()["sentra_code"] == cast.other_sentra_code
    returned = await act(http, cast.sentra, referral_id, "return")
    assert returned.status_code == 200
    assert returned.json()["status"] == "accepted"
    assert returned.json()["sentra_code"] is None
    assert returned.json()["reason_code"] == "no_capacity"
    # Returned: no longer the sentra's to read.
    gone = await http.get(f"/v1/referrals/{referral_id}", headers=cast.sentra.headers)
    assert gone.status_code == 404


@pytest.mark.parametrize("held_from", ["accepted", "assigned", "in_service"])
async def test_resume_returns_to_the_state_it_was_held_from(
    held_from: str, http: httpx.AsyncClient, cast: Cast, facility: str
) -> None:
    referral_id = await referral_in(
        http, cast.prison, cast.kemensos, facility, held_from, cast.sentra_code
    )
    held = await act(http, cast.kemensos, referral_id, "hold", reason_code="relocated")
    assert held.json()["status"] == "on_hold"
    assert held.json()["reason_code"] == "relocated"
    resumed = await act(http, cast.kemensos, referral_id, "resume")
    assert resumed.status_code == 200
    assert resumed.json()["status"] == held_from
    expected_sentra = None if held_from == "accepted" else cast.sentra_code
    assert resumed.json()["sentra_code"] == expected_sentra


async def test_history_records_each_transition(
    http: httpx.AsyncClient, cast: Cast, facility: str
) -> None:
    referral_id = await new_referral(http, cast.prison, facility)
    await act(http, cast.kemensos, referral_id, "accept", headers={"X-Actor": "siti.k"})
    await act(
        http,
        cast.kemensos,
        referral_id,
        "assign",
        sentra_code=cast.sentra_code,
        note="Domisili Jakarta Pusat",
    )
    await act(http, cast.sentra, referral_id, "start_service")
    await act(http, cast.sentra, referral_id, "close", outcome="ended_early")
    history = await http.get(f"/v1/referrals/{referral_id}/history", headers=cast.kemensos.headers)
    assert history.status_code == 200
    entries = history.json()["items"]
    assert entries[0]["event_type"] == "release.completed"
    assert entries[0]["client"] == entries[0]["client_id"] == cast.prison.client_id
    # Names, as a portal shows them: it cannot read the client registry (SPEC §5).
    assert [e["client_name"] for e in entries] == [
        "test prison",
        "test kemensos",
        "test kemensos",
        "test sentra",
        "test sentra",
    ]
    steps = [(e["action"], e["from_status"], e["to_status"]) for e in entries[1:]]
    assert steps == [
        ("accept", "received", "accepted"),
        ("assign", "accepted", "assigned"),
        ("start_service", "assigned", "in_service"),
        ("close", "in_service", "closed"),
    ]
    accept, assign, start, close = entries[1:]
    assert accept["actor"] == "siti.k"
    assert accept["client"] == cast.kemensos.client_id
    assert assign["note"] == "Domisili Jakarta Pusat"
    assert assign["sentra_code"] == cast.sentra_code
    assert start["client"] == cast.sentra.client_id
    assert close["outcome"] == "ended_early"
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)


async def test_prison_may_cancel_its_own_referrals_only(
    http: httpx.AsyncClient, clients: Clients, cast: Cast, facility: str
) -> None:
    referral_id = await new_referral(http, cast.prison, facility)
    other_prison = await clients.prison("LP-ELSEWHERE")
    hidden = await act(http, other_prison, referral_id, "cancel", if_match='"1"')
    assert hidden.status_code == 404
    cancelled = await act(http, cast.prison, referral_id, "cancel", reason_code="duplicate")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["reason_code"] == "duplicate"


async def test_malformed_or_unknown_id_is_404(http: httpx.AsyncClient, cast: Cast) -> None:
    for referral_id in ("not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        response = await http.post(
            f"/v1/referrals/{referral_id}/transitions",
            json={"action": "accept"},
            headers={**cast.kemensos.headers, "If-Match": '"1"'},
        )
        assert response.status_code == 404
        assert response.json()["code"] == "REFERRAL_NOT_FOUND"


async def test_concurrent_transitions_with_one_etag_let_one_through(
    http: httpx.AsyncClient, cast: Cast, facility: str
) -> None:
    """Two (then ten) transitions sent at once with the same ETag: exactly one applies."""
    for attempts in (2, 10):
        referral_id = await new_referral(http, cast.prison, facility)
        tag = await etag(http, cast.kemensos, referral_id)
        actions = ["accept", "reject"] * (attempts // 2)
        responses = await asyncio.gather(
            *(act(http, cast.kemensos, referral_id, a, if_match=tag) for a in actions)
        )
        codes = sorted(r.status_code for r in responses)
        assert codes == [200] + [412] * (attempts - 1), [r.text for r in responses]
        history = await http.get(
            f"/v1/referrals/{referral_id}/history", headers=cast.kemensos.headers
        )
        transitions = [e for e in history.json()["items"] if e["action"] is not None]
        assert len(transitions) == 1
        (winner,) = [r for r in responses if r.status_code == 200]
        assert transitions[0]["to_status"] == winner.json()["status"]
        assert await etag(http, cast.kemensos, referral_id) == '"2"'
