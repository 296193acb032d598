"""SPEC §3 event semantics (app/referrals/case_events.py) and the change events every
change emits (app/referrals/domain.py `change_events`): pure, no I/O."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from app.referrals.case_events import (
    CaseFacts,
    EventEffect,
    EventFacts,
    EventOutcome,
    EventRefusal,
    ReleaseEventType,
    on_event,
)
from app.referrals.domain import (
    Action,
    ChangeType,
    Command,
    CustodyStatus,
    LifecycleState,
    Status,
    apply,
    change_events,
)

T0 = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
K = ReleaseEventType


def state(
    status: str, custody: CustodyStatus = CustodyStatus.released, sentra: str | None = "S-X"
) -> LifecycleState:
    held = Status.in_service if status == "on_hold" else None
    return LifecycleState(Status(status), custody, sentra, held_from_status=held)


def case(s: LifecycleState, last: dt.datetime = T0) -> CaseFacts:
    return CaseFacts(s, last)


def event(
    kind: ReleaseEventType,
    *,
    at: dt.datetime = T0,
    supervised: bool = True,
    changed: bool = False,
) -> EventFacts:
    return EventFacts(kind, at, supervised, changed)


def effect(result: EventEffect | EventRefusal) -> EventEffect:
    assert isinstance(result, EventEffect), result
    return result


def refusal(result: EventEffect | EventRefusal) -> str:
    assert isinstance(result, EventRefusal), result
    return result.code


# No referral yet


@pytest.mark.parametrize(
    ("kind", "custody"),
    [
        (K.scheduled, CustodyStatus.in_custody),
        (K.rescheduled, CustodyStatus.in_custody),
        (K.completed, CustodyStatus.released),
    ],
)
def test_a_creating_event_creates_a_received_referral(
    kind: ReleaseEventType, custody: CustodyStatus
) -> None:
    out = effect(on_event(None, event(kind)))
    assert out.outcome is EventOutcome.created
    assert out.state == LifecycleState(Status.received, custody)
    assert out.emits == (ChangeType.created,)
    assert out.applied


@pytest.mark.parametrize("kind", [K.case_updated, K.cancelled, K.revoked])
def test_other_events_need_a_referral(kind: ReleaseEventType) -> None:
    assert refusal(on_event(None, event(kind))) == "UNKNOWN_CASE"


# Existing referral


@pytest.mark.parametrize("kind", list(K))
def test_an_older_event_is_stale_before_any_refusal(kind: ReleaseEventType) -> None:
    s = state("received")
    out = effect(on_event(case(s), event(kind, at=T0 - dt.timedelta(seconds=1), supervised=False)))
    assert out.outcome is EventOutcome.stale
    assert out.state == s
    assert out.emits == ()
    assert not out.applied


@pytest.mark.parametrize("kind", list(K))
def test_after_a_consent_withdrawal_every_event_is_recorded_only(kind: ReleaseEventType) -> None:
    """SPEC §12: before staleness and every refusal; nothing is applied or emitted."""
    s = state("closed")
    withdrawn = CaseFacts(s, T0, consent_withdrawn=True)
    for at in (T0 - dt.timedelta(seconds=1), T0 + dt.timedelta(days=1)):
        out = effect(on_event(withdrawn, event(kind, at=at, supervised=False, changed=True)))
        assert out.outcome is EventOutcome.consent_withdrawn
        assert (out.state, out.emits, out.applied, out.recorded_only) == (s, (), False, True)


def test_an_event_as_old_as_the_last_one_is_applied() -> None:
    out = effect(on_event(case(state("received")), event(K.case_updated, changed=True)))
    assert out.outcome is EventOutcome.updated


@pytest.mark.parametrize("kind", [K.scheduled, K.rescheduled, K.cancelled])
def test_scheduling_or_cancelling_a_release_that_happened_is_refused(
    kind: ReleaseEventType,
) -> None:
    assert refusal(on_event(case(state("accepted")), event(kind))) == "ALREADY_RELEASED"


def test_only_a_supervised_release_can_be_revoked() -> None:
    result = on_event(case(state("accepted")), event(K.revoked, supervised=False))
    assert refusal(result) == "NOT_SUPERVISED"


def test_the_same_data_again_is_unchanged() -> None:
    s = state("accepted", CustodyStatus.in_custody)
    out = effect(on_event(case(s), event(K.rescheduled)))
    assert out.outcome is EventOutcome.unchanged
    assert out.emits == ()
    assert not out.applied


def test_new_data_is_an_update() -> None:
    s = state("accepted", CustodyStatus.in_custody)
    out = effect(on_event(case(s), event(K.case_updated, changed=True)))
    assert (out.outcome, out.state, out.emits) == (
        EventOutcome.updated,
        s,
        (ChangeType.updated,),
    )


def test_completion_releases_the_person() -> None:
    s = state("assigned", CustodyStatus.in_custody)
    out = effect(on_event(case(s), event(K.completed)))
    assert out.state.custody_status is CustodyStatus.released
    assert out.state.status is Status.assigned
    assert out.emits == (ChangeType.updated,)


@pytest.mark.parametrize(
    "custody", [CustodyStatus.release_cancelled, CustodyStatus.returned_to_custody]
)
def test_a_new_release_date_brings_the_person_back_in_custody(custody: CustodyStatus) -> None:
    out = effect(on_event(case(state("closed", custody)), event(K.scheduled)))
    assert out.state.custody_status is CustodyStatus.in_custody
    assert out.state.status is Status.closed


@pytest.mark.parametrize("status", ["received", "accepted", "assigned", "on_hold"])
def test_release_cancelled_before_release_cancels(status: str) -> None:
    s = state(status, custody=CustodyStatus.in_custody)
    out = effect(on_event(case(s), event(K.cancelled)))
    assert out.outcome is EventOutcome.cancelled
    assert out.state.status is Status.cancelled
    assert out.state.reason_code == "release_cancelled"
    assert out.state.custody_status is CustodyStatus.release_cancelled
    assert out.emits == (ChangeType.status_changed, ChangeType.updated)


@pytest.mark.parametrize("status", ["closed", "rejected", "cancelled"])
def test_release_cancelled_terminal_unchanged_but_custody_follows(status: str) -> None:
    s = dataclasses.replace(
        state(status, custody=CustodyStatus.in_custody), reason_code="other", outcome=None
    )
    out = effect(on_event(case(s), event(K.cancelled)))
    assert out.state.status is Status(status)
    assert out.state.reason_code == "other"
    assert out.state.custody_status is CustodyStatus.release_cancelled
    assert out.emits == (ChangeType.updated,)


@pytest.mark.parametrize("status", ["received", "accepted", "assigned"])
def test_release_revoked_cancels_before_service(status: str) -> None:
    out = effect(on_event(case(state(status)), event(K.revoked)))
    assert out.outcome is EventOutcome.revoked
    assert out.state.status is Status.cancelled
    assert out.state.reason_code == "parole_revoked"
    assert out.state.custody_status is CustodyStatus.returned_to_custody


def test_release_revoked_in_service_goes_on_hold() -> None:
    out = effect(on_event(case(state("in_service")), event(K.revoked)))
    after = out.state
    assert after.status is Status.on_hold
    assert after.reason_code == "returned_to_custody"
    assert after.held_from_status is Status.in_service
    assert after.custody_status is CustodyStatus.returned_to_custody
    assert after.sentra_code == "S-X"
    assert apply(after, Command(Action.resume)).status is Status.in_service


@pytest.mark.parametrize("status", ["closed", "rejected", "cancelled", "on_hold"])
def test_release_revoked_other_statuses_unchanged_but_custody_follows(status: str) -> None:
    s = dataclasses.replace(state(status), outcome="completed" if status == "closed" else None)
    out = effect(on_event(case(s), event(K.revoked)))
    after = out.state
    assert after.status is Status(status)
    assert after.outcome == s.outcome
    assert after.held_from_status == s.held_from_status
    assert after.sentra_code == s.sentra_code
    assert after.custody_status is CustodyStatus.returned_to_custody


# What a change emits


def test_a_reassignment_is_an_update_and_a_return_a_status_change() -> None:
    assigned = state("assigned")
    reassigned = dataclasses.replace(assigned, sentra_code="S-Y")
    assert change_events(assigned, reassigned) == (ChangeType.updated,)
    returned = apply(assigned, Command(Action.return_, reason_code="no_capacity"))
    assert change_events(assigned, returned) == (ChangeType.status_changed,)


def test_a_new_referral_emits_created_alone() -> None:
    assert change_events(None, state("received"), data_changed=True) == (ChangeType.created,)


# supervision.ended (SPEC §3)

DAY = dt.date(2026, 11, 20)


def ended(*, supervised: bool = True, end: dt.date | None = DAY) -> EventFacts:
    return EventFacts(
        K.supervision_ended, T0, supervised, occurred_on=DAY, supervision_end_date=end
    )


def test_supervision_ended_needs_a_referral() -> None:
    assert refusal(on_event(None, ended())) == "UNKNOWN_CASE"


def test_supervision_ended_passes_responsibility_on() -> None:
    s = state("in_service")
    out = effect(on_event(case(s), ended()))
    assert (out.outcome, out.state, out.ends_supervision) == (EventOutcome.updated, s, True)
    assert out.emits == (ChangeType.updated,)


def test_supervision_ended_of_an_unsupervised_release_is_refused() -> None:
    assert refusal(on_event(case(state("accepted")), ended(supervised=False))) == "NOT_SUPERVISED"


def test_supervision_cannot_end_before_release() -> None:
    s = state("accepted", CustodyStatus.in_custody)
    assert refusal(on_event(case(s), ended())) == "NOT_YET_RELEASED"


def test_supervision_cannot_end_after_the_event() -> None:
    result = on_event(case(state("accepted")), ended(end=DAY + dt.timedelta(days=1)))
    assert isinstance(result, EventRefusal)
    assert (result.code, result.pointer) == ("INVALID_DATE", "/release/supervision_end_date")


def test_the_date_is_checked_after_stale_and_the_refusals() -> None:
    s = state("accepted", CustodyStatus.in_custody)
    late = EventFacts(
        K.supervision_ended,
        T0,
        True,
        occurred_on=DAY,
        supervision_end_date=DAY + dt.timedelta(days=9),
    )
    assert refusal(on_event(case(s), late)) == "NOT_YET_RELEASED"
    old = dataclasses.replace(late, occurred_at=T0 - dt.timedelta(hours=1))
    assert effect(on_event(case(state("accepted")), old)).outcome is EventOutcome.stale


def test_supervision_that_ended_does_not_end_again() -> None:
    s = state("in_service")
    out = effect(on_event(CaseFacts(s, T0, supervision_ended=True), ended()))
    assert out.outcome is EventOutcome.unchanged
    assert not out.ends_supervision
