"""A Hypothesis state machine driving intake and the lifecycle through HTTP, on both backends.

Rules post release events (every type, supervised or not, time moving forward and sometimes
backward), replay acknowledged events verbatim and with a changed body, and take lifecycle
actions as Kemensos or the sentra, with the current ETag or a stale one. After every step
the invariants of SPEC §3-§4 are checked against what the service says:

- one referral per (facility, case_ref);
- a referral's version goes up on every change and never otherwise;
- the last history entry carries the referral's status and custody status;
- every acknowledged (2xx) event is in the history exactly once, and nothing else is;
- the rehabilitation record (SPEC §10): no write on a terminal referral except notes,
  attendance once per appointment, a report only after a close.

The machine runs in a worker thread (Hypothesis is synchronous); each HTTP call is sent to
the session's event loop, where the ASGI app and its engine live, and awaited from there.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import ApiClient, Clients, facility_code
from tests.factories import make_event, supervised
from tests.support.referrals import VALID_BODY

T = TypeVar("T")

CASES = 3
EVENT_TYPES = (
    "release.scheduled",
    "release.rescheduled",
    "release.completed",
    "case.updated",
    "release.cancelled",
    "release.revoked",
)
ACTIONS = tuple(VALID_BODY)
SENTRA_ACTIONS = ("return", "start_service", "hold", "resume", "close")
CHANGED = frozenset({"created", "updated", "cancelled", "revoked"})
SUMMARIES = ("Perlu pendampingan pasca rehabilitasi NAPZA", "Perlu pelatihan kerja")
RECORD_KINDS = ("assessment", "plan", "appointment", "attendance", "service", "note")
RECORD_OPEN = frozenset({"accepted", "assigned", "in_service", "on_hold"})
TERMINAL = frozenset({"closed", "rejected", "cancelled"})
# Where each record is open, when not RECORD_OPEN (SPEC §10): notes always, services in service.
OPEN_IN = {
    "note": RECORD_OPEN | TERMINAL | {"received"},
    "service": frozenset({"in_service"}),
}
JAKARTA = dt.timezone(dt.timedelta(hours=7))


@dataclass
class World:
    """What the machine needs from the test: where to send requests, and as whom."""

    loop: asyncio.AbstractEventLoop
    http: httpx.AsyncClient
    prison: ApiClient
    kemensos: ApiClient
    sentra: ApiClient
    sentra_code: str
    seen: Counter[str] = field(default_factory=Counter)  # what the steps exercised

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def post_event(self, event: dict[str, Any]) -> httpx.Response:
        return self.run(
            self.http.post("/v1/release-events", json=event, headers=self.prison.headers)
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.run(self.http.get(path, params=params, headers=self.kemensos.headers))

    def send(
        self, method: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.run(
            self.http.request(
                method, path, json=body, headers={**self.kemensos.headers, **(headers or {})}
            )
        )

    def transition(
        self, client: ApiClient, referral_id: str, body: dict[str, Any], if_match: str
    ) -> httpx.Response:
        return self.run(
            self.http.post(
                f"/v1/referrals/{referral_id}/transitions",
                json=body,
                headers={**client.headers, "If-Match": if_match},
            )
        )


@dataclass
class Case:
    case_ref: str
    referral_id: str | None = None
    version: int = 0
    etags: list[str] = field(default_factory=list)  # every ETag seen, oldest first
    last_applied: dt.datetime | None = None
    acknowledged: set[str] = field(default_factory=set)  # event ids answered 2xx
    plan_etag: str | None = None
    appointments: list[str] = field(default_factory=list)
    attended: set[str] = field(default_factory=set)  # appointments with attendance


@dataclass
class Acknowledged:
    case: int
    body: dict[str, Any]
    status: int
    answer: dict[str, Any]


class IntakeLifecycle(RuleBasedStateMachine):
    world: World  # set on the subclass built by the test

    def __init__(self) -> None:
        super().__init__()
        self.facility = facility_code()
        self.cases = [Case(f"B.I-{uuid.uuid4().hex[:8]}/2026") for _ in range(CASES)]
        self.acknowledged: dict[str, Acknowledged] = {}
        # Events start a day ago and move on in minutes: never in the future (SPEC §3).
        self.clock = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        self.changed: set[int] = set()  # cases the last step changed

    @initialize()
    def start(self) -> None:
        self.changed = set()

    def note(self, label: str) -> None:
        self.world.seen[label] += 1

    # -- rules ---------------------------------------------------------------------------

    @rule(
        case=st.integers(0, CASES - 1),
        event_type=st.sampled_from(EVENT_TYPES),
        is_supervised=st.booleans(),
        minutes=st.integers(-90, 60),
        summary=st.sampled_from(SUMMARIES),
    )
    def post_event(
        self, case: int, event_type: str, is_supervised: bool, minutes: int, summary: str
    ) -> None:
        self.clock += dt.timedelta(minutes=max(minutes, 1))
        occurred = self.clock if minutes > 0 else self.clock + dt.timedelta(minutes=minutes)
        state = self.cases[case]
        event = make_event(
            self.facility,
            event_type=event_type,
            case_ref=state.case_ref,
            release_days=-3,
            occurred_at=occurred,
            needs__summary=summary,
        )
        if is_supervised:
            supervised(event)
        response = self.world.post_event(event)
        self.changed = set()
        assert response.status_code in (200, 201, 404, 409), response.text
        if response.status_code >= 400:
            code = response.json()["code"]
            self.note(f"event refused: {code}")
            assert code in {"UNKNOWN_CASE", "ALREADY_RELEASED", "NOT_SUPERVISED"}, code
            assert code != "UNKNOWN_CASE" or state.referral_id is None
            return
        answer = response.json()
        outcome = answer["outcome"]
        self.note(f"event {outcome}")
        stale = state.last_applied is not None and occurred < state.last_applied
        assert (outcome == "stale") == stale, (outcome, occurred, state.last_applied)
        assert (response.status_code == 201) == (outcome == "created"), response.text
        assert (outcome == "created") == (state.referral_id is None), outcome
        if state.referral_id is None:
            state.referral_id = answer["referral"]["id"]
        assert answer["referral"]["id"] == state.referral_id
        if not stale:
            state.last_applied = occurred
        if outcome in CHANGED:
            self.changed = {case}
        state.acknowledged.add(event["event_id"])
        self.acknowledged[event["event_id"]] = Acknowledged(
            case, event, response.status_code, answer
        )

    @precondition(lambda self: self.acknowledged)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        event_id = data.draw(st.sampled_from(sorted(self.acknowledged)))
        first = self.acknowledged[event_id]
        response = self.world.post_event(copy.deepcopy(first.body))
        self.changed = set()
        self.note("replay")
        assert response.status_code == first.status, response.text
        assert response.json() == first.answer
        assert response.headers.get("Idempotent-Replayed") == "true"

    @precondition(lambda self: self.acknowledged)
    @rule(data=st.data())
    def conflicting_replay(self, data: st.DataObject) -> None:
        event_id = data.draw(st.sampled_from(sorted(self.acknowledged)))
        body = copy.deepcopy(self.acknowledged[event_id].body)
        body["needs"]["summary"] += " (diubah)"
        response = self.world.post_event(body)
        self.changed = set()
        self.note("conflicting replay")
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "EVENT_ID_CONFLICT"

    @precondition(lambda self: any(c.referral_id for c in self.cases))
    @rule(
        data=st.data(),
        action=st.sampled_from(ACTIONS),
        as_sentra=st.booleans(),
        stale_tag=st.booleans(),
    )
    def transition(
        self, data: st.DataObject, action: str, as_sentra: bool, stale_tag: bool
    ) -> None:
        known = [i for i, c in enumerate(self.cases) if c.referral_id]
        case = data.draw(st.sampled_from(known))
        state = self.cases[case]
        assert state.referral_id is not None
        detail = self.world.get(f"/v1/referrals/{state.referral_id}").json()
        sentra_may_read = detail["sentra_code"] == self.world.sentra_code
        as_sentra = as_sentra and action in SENTRA_ACTIONS and sentra_may_read
        client = self.world.sentra if as_sentra else self.world.kemensos
        stale_tag = stale_tag and len(state.etags) > 1
        tag = state.etags[-2] if stale_tag else f'"{detail["version"]}"'
        body: dict[str, Any] = {"action": action, **VALID_BODY[action]}
        if action == "assign":
            body["sentra_code"] = self.world.sentra_code
        response = self.world.transition(client, state.referral_id, body, tag)
        self.changed = set()
        self.note(f"transition {response.status_code}")
        if stale_tag:
            assert response.status_code == 412, response.text
            assert response.json()["code"] == "VERSION_MISMATCH"
            return
        if action in detail["allowed_actions"]:
            assert response.status_code == 200, (action, detail["status"], response.text)
            assert response.headers["ETag"] == f'"{response.json()["version"]}"'
            self.changed = {case}
        else:
            assert response.status_code == 409, (action, detail["status"], response.text)
            problem = response.json()
            assert problem["code"] == "INVALID_TRANSITION"
            assert sorted(problem["allowed_actions"]) == sorted(detail["allowed_actions"])

    @precondition(lambda self: any(c.referral_id for c in self.cases))
    @rule(data=st.data(), kind=st.sampled_from(RECORD_KINDS))
    def record(self, data: st.DataObject, kind: str) -> None:
        """A write of the rehabilitation record as Kemensos (SPEC §10)."""
        known = [i for i, c in enumerate(self.cases) if c.referral_id]
        case = data.draw(st.sampled_from(known))
        state = self.cases[case]
        status = self.world.get(f"/v1/referrals/{state.referral_id}").json()["status"]
        base = f"/v1/referrals/{state.referral_id}"
        self.changed = set()
        if kind == "attendance" and not state.appointments:
            kind = "appointment"
        aid = data.draw(st.sampled_from(state.appointments)) if kind == "attendance" else ""
        expected = 201
        if status in TERMINAL and kind != "note":
            expected = 409, "REFERRAL_ENDED"
        elif status not in OPEN_IN.get(kind, RECORD_OPEN):
            expected = 409, "INVALID_STATE"
        elif kind == "attendance" and aid in state.attended:
            expected = 409, "ATTENDANCE_RECORDED"
        # Appointments start in the past: never the detail's next one (no new version).
        past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
        today = dt.datetime.now(JAKARTA).date().isoformat()
        if kind == "assessment":
            response = self.world.send("POST", f"{base}/assessments", {
                "assessed_on": today, "needs": [{"component": "terapi", "level": "low"}],
                "identity_documents": {"ktp": "has", "kk": "has", "akta_lahir": "unknown"},
            })  # fmt: skip
        elif kind == "plan":
            goals = {"goals": [{"component": "terapi", "description": f"Sesi {uuid.uuid4()}"}]}
            tag = {"If-Match": state.plan_etag} if state.plan_etag else {}
            response = self.world.send("PUT", f"{base}/plan", goals, tag)
            expected = 200 if expected == 201 else expected
        elif kind == "appointment":
            response = self.world.send(
                "POST", f"{base}/appointments", {"starts_at": past, "location": {"kind": "home"}}
            )
        elif kind == "attendance":
            response = self.world.send(
                "POST", f"{base}/appointments/{aid}/attendance", {"attendance": "missed"}
            )
            expected = 200 if expected == 201 else expected
        elif kind == "service":
            response = self.world.send(
                "POST", f"{base}/services", {"component": "terapi", "delivered_on": today}
            )
        else:
            response = self.world.send(
                "POST", f"{base}/notes", {"body": "Catatan.", "audience": "kemensos"}
            )
        self.note(f"record {response.status_code}")
        if isinstance(expected, tuple):
            assert response.status_code == expected[0], (kind, status, response.text)
            assert response.json()["code"] == expected[1], (kind, status, response.text)
            return
        assert response.status_code == expected, (kind, status, response.text)
        if kind == "assessment":
            self.changed = {case}  # the detail's `assessment`: a new version
        elif kind == "plan":
            state.plan_etag = response.headers["ETag"]
        elif kind == "appointment":
            state.appointments.append(response.json()["id"])
        elif kind == "attendance":
            state.attended.add(aid)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def a_report_only_after_a_close(self) -> None:
        for state in self.cases:
            if state.referral_id is None:
                continue
            status = self.world.get(f"/v1/referrals/{state.referral_id}").json()["status"]
            report = self.world.get(f"/v1/referrals/{state.referral_id}/report")
            if status == "closed":
                assert report.status_code == 200, report.text
            else:
                assert report.status_code == 404, report.text
                assert report.json()["code"] == "NO_REPORT"

    @invariant()
    def one_referral_per_case(self) -> None:
        listed = self.world.get("/v1/referrals", facility_code=self.facility, limit=500)
        assert listed.status_code == 200, listed.text
        refs = [item["case_ref"] for item in listed.json()["items"]]
        assert len(refs) == len(set(refs)), refs
        expected = {c.case_ref: c.referral_id for c in self.cases if c.referral_id}
        got = {item["case_ref"]: item["id"] for item in listed.json()["items"]}
        assert got == expected

    @invariant()
    def versions_history_and_events_agree(self) -> None:
        for index, state in enumerate(self.cases):
            if state.referral_id is None:
                continue
            response = self.world.get(f"/v1/referrals/{state.referral_id}")
            assert response.status_code == 200, response.text
            detail = response.json()
            version = detail["version"]
            assert response.headers["ETag"] == f'"{version}"'
            if index in self.changed:
                assert version > state.version, (state.version, version)
            else:
                assert version == state.version, (state.version, version)
            state.version = version
            if not state.etags or state.etags[-1] != response.headers["ETag"]:
                state.etags.append(response.headers["ETag"])

            history = self.world.get(f"/v1/referrals/{state.referral_id}/history")
            assert history.status_code == 200, history.text
            entries = history.json()["items"]
            assert entries, "a referral without history"
            last = entries[-1]
            assert last["to_status"] == detail["status"], (last, detail["status"])
            assert last["custody_status"] == detail["custody_status"], last
            seen = Counter(e["event_id"] for e in entries if e.get("event_id"))
            assert all(n == 1 for n in seen.values()), seen
            assert set(seen) == state.acknowledged, (set(seen), state.acknowledged)


async def test_intake_and_lifecycle_keep_their_invariants(
    app: Any, clients: Clients, backend: str
) -> None:
    sentra_code = f"SF-{uuid.uuid4().hex[:6].upper()}"
    await clients.add_sentra(sentra_code, province="31", regency="3171", coverage=["3171"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://rujukan.test") as http:
        world = World(
            loop=asyncio.get_running_loop(),
            http=http,
            prison=await clients.make("prison", facilities=["*"]),
            kemensos=await clients.kemensos(),
            sentra=await clients.sentra(sentra_code),
            sentra_code=sentra_code,
        )
        machine = type("Machine", (IntakeLifecycle,), {"world": world})
        await asyncio.to_thread(
            run_state_machine_as_test,
            machine,
            settings=settings(
                max_examples=15,
                stateful_step_count=25,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    # The run must have gone where the invariants matter, not only down easy paths.
    print(dict(world.seen))
    for label in (
        "event created",
        "event updated",
        "event stale",
        "replay",
        "conflicting replay",
        "transition 200",
        "transition 409",
        "transition 412",
        "record 201",
        "record 409",
    ):
        assert world.seen[label] > 0, (label, dict(world.seen))
