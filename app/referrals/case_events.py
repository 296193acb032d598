"""What a prison's release event does to a referral (SPEC §3): the semantics table as one
pure function, `on_event`, beside the lifecycle's `LIFECYCLE` (app/referrals/domain.py).
No I/O: intake asks it for each event, in request order, and writes what it answers.

- `release.scheduled` / `rescheduled`: creates (in custody); on an existing referral
  replaces its data, or is a 409 `ALREADY_RELEASED` once the person is released;
- `release.completed`: creates (released), or marks the referral released;
- `case.updated`: replaces the data (404 `UNKNOWN_CASE` without a referral);
- `release.cancelled`: before release, `cancelled` (`release_cancelled`); after, 409;
- `release.revoked`: supervised releases only (409 `NOT_SUPERVISED`): returned to
  custody; `received`/`accepted`/`assigned` → `cancelled` (`parole_revoked`),
  `in_service` → `on_hold` (`returned_to_custody`);
- `supervision.ended`: supervised releases only (409 `NOT_SUPERVISED`), once released
  (409 `NOT_YET_RELEASED`), with a `supervision_end_date` on or before the local date of
  the event (422 `INVALID_DATE`): Kemensos is responsible from that date, and later
  events no longer move it.

An event strictly older than the last one applied is `stale` (recorded, not applied),
before the type's own refusals. A terminal status never changes because of an event; the
custody status and the data follow the prison even then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from app.core.i18n import Msg, msg
from app.referrals.domain import (
    TERMINAL,
    ChangeType,
    CustodyStatus,
    LifecycleState,
    Status,
    change_events,
)


class ReleaseEventType(StrEnum):
    scheduled = "release.scheduled"
    rescheduled = "release.rescheduled"
    completed = "release.completed"
    cancelled = "release.cancelled"
    revoked = "release.revoked"
    supervision_ended = "supervision.ended"
    case_updated = "case.updated"


class EventOutcome(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    cancelled = "cancelled"
    revoked = "revoked"
    stale = "stale"
    consent_withdrawn = "consent_withdrawn"


CREATING = frozenset(
    {ReleaseEventType.scheduled, ReleaseEventType.rescheduled, ReleaseEventType.completed}
)


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the semantics look at on an existing referral."""

    state: LifecycleState
    last_event_at: dt.datetime
    supervision_ended: bool = False
    consent_withdrawn: bool = False  # SPEC §12: events are recorded, never applied


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What the semantics look at on an event."""

    kind: ReleaseEventType
    occurred_at: dt.datetime
    supervised: bool  # the event's release type is supervised by a Bapas
    data_changed: bool = False  # its case data differs from the referral's
    occurred_on: dt.date | None = None  # the local date of `occurred_at`
    supervision_end_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class EventEffect:
    outcome: EventOutcome
    state: LifecycleState
    emits: tuple[ChangeType, ...] = ()
    ends_supervision: bool = False  # `supervision.ended`: responsibility passes on

    @property
    def applied(self) -> bool:
        """The event's data replaces the referral's, and it counts as a change (version)."""
        return self.outcome not in (
            EventOutcome.stale,
            EventOutcome.unchanged,
            EventOutcome.consent_withdrawn,
        )

    @property
    def recorded_only(self) -> bool:
        """Recorded in the history, nothing else: the referral is left exactly as it was."""
        return self.outcome in (EventOutcome.stale, EventOutcome.consent_withdrawn)


@dataclass(frozen=True, slots=True)
class EventRefusal:
    """Why the event does not apply: its 404/409 problem code, or a 422's field error
    code and its pointer."""

    code: str
    detail: Msg
    pointer: str | None = None


def on_event(case: CaseFacts | None, event: EventFacts) -> EventEffect | EventRefusal:
    """The effect of `event` on the referral `case` (None: no referral for its episode)."""
    if case is None:
        if event.kind not in CREATING:
            return EventRefusal(
                "UNKNOWN_CASE", msg("No referral exists for this facility and case_ref.")
            )
        custody = (
            CustodyStatus.released
            if event.kind is ReleaseEventType.completed
            else CustodyStatus.in_custody
        )
        state = LifecycleState(Status.received, custody)
        return EventEffect(EventOutcome.created, state, change_events(None, state))
    if case.consent_withdrawn:
        return EventEffect(EventOutcome.consent_withdrawn, case.state)
    if event.occurred_at < case.last_event_at:
        return EventEffect(EventOutcome.stale, case.state)
    before = case.state
    refusal = _refusal(before, event)
    if refusal is not None:
        return refusal
    effect = _CUSTODY_EFFECTS.get(event.kind)
    after = effect(before) if effect is not None else before
    ends = event.kind is ReleaseEventType.supervision_ended and not case.supervision_ended
    if ends:
        return EventEffect(
            EventOutcome.updated,
            after,
            change_events(before, after, data_changed=True),
            ends_supervision=True,
        )
    if after == before and not event.data_changed:
        return EventEffect(EventOutcome.unchanged, before)
    outcome = EventOutcome.updated
    if after != before and event.kind is ReleaseEventType.cancelled:
        outcome = EventOutcome.cancelled
    elif after != before and event.kind is ReleaseEventType.revoked:
        outcome = EventOutcome.revoked
    return EventEffect(
        outcome, after, change_events(before, after, data_changed=event.data_changed)
    )


def _refusal(state: LifecycleState, event: EventFacts) -> EventRefusal | None:
    released = state.custody_status is CustodyStatus.released
    if event.kind in (ReleaseEventType.scheduled, ReleaseEventType.rescheduled) and released:
        return EventRefusal("ALREADY_RELEASED", msg("The person is already released."))
    if event.kind is ReleaseEventType.cancelled and released:
        return EventRefusal(
            "ALREADY_RELEASED", msg("A completed release cannot be cancelled; use release.revoked.")
        )
    if event.kind is ReleaseEventType.revoked and not event.supervised:
        return EventRefusal("NOT_SUPERVISED", msg("Only a supervised release can be revoked."))
    if event.kind is ReleaseEventType.supervision_ended:
        if not event.supervised:
            return EventRefusal("NOT_SUPERVISED", msg("Only a supervised release has supervision."))
        if not released:
            return EventRefusal("NOT_YET_RELEASED", msg("Supervision starts at release."))
        end, today = event.supervision_end_date, event.occurred_on
        if end is None or today is None or end > today:
            return EventRefusal(
                "INVALID_DATE",
                msg("supervision cannot have ended after the event"),
                "/release/supervision_end_date",
            )
    return None


def _with_custody(state: LifecycleState, custody: CustodyStatus) -> LifecycleState:
    return replace(state, custody_status=custody)


def _scheduled(state: LifecycleState) -> LifecycleState:
    """A new release date: a cancelled or revoked release is back in custody, awaiting it."""
    if state.custody_status in (CustodyStatus.release_cancelled, CustodyStatus.returned_to_custody):
        return _with_custody(state, CustodyStatus.in_custody)
    return state


def _completed(state: LifecycleState) -> LifecycleState:
    return _with_custody(state, CustodyStatus.released)


def _cancelled(state: LifecycleState) -> LifecycleState:
    custody = CustodyStatus.release_cancelled
    if state.status in TERMINAL:
        return _with_custody(state, custody)
    return LifecycleState(Status.cancelled, custody, state.sentra_code, "release_cancelled")


def _revoked(state: LifecycleState) -> LifecycleState:
    custody = CustodyStatus.returned_to_custody
    if state.status in (Status.received, Status.accepted, Status.assigned):
        return LifecycleState(Status.cancelled, custody, state.sentra_code, "parole_revoked")
    if state.status is Status.in_service:
        return LifecycleState(
            Status.on_hold,
            custody,
            state.sentra_code,
            "returned_to_custody",
            None,
            Status.in_service,
        )
    return _with_custody(state, custody)


_CUSTODY_EFFECTS: dict[ReleaseEventType, Callable[[LifecycleState], LifecycleState]] = {
    ReleaseEventType.scheduled: _scheduled,
    ReleaseEventType.rescheduled: _scheduled,
    ReleaseEventType.completed: _completed,
    ReleaseEventType.cancelled: _cancelled,
    ReleaseEventType.revoked: _revoked,
}
