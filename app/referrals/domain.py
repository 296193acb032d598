"""The referral lifecycle (SPEC §4) as one table, the change events a change emits (§7),
and the derived fields. Pure: no I/O.

Everything that asks "may this action happen?" asks `LIFECYCLE`: the transition endpoint,
the `allowed_actions` of a referral and the tests that enumerate every (state, action,
role). What a prison's event does to a referral is `app/referrals/case_events.py`; both
say what they emit with `change_events`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from app.auth.roles import Role
from app.core.errors import FieldError
from app.core.i18n import Msg, msg


class Status(StrEnum):
    received = "received"
    accepted = "accepted"
    assigned = "assigned"
    in_service = "in_service"
    on_hold = "on_hold"
    closed = "closed"
    rejected = "rejected"
    cancelled = "cancelled"


TERMINAL: frozenset[Status] = frozenset({Status.closed, Status.rejected, Status.cancelled})


class CustodyStatus(StrEnum):
    in_custody = "in_custody"
    released = "released"
    release_cancelled = "release_cancelled"
    returned_to_custody = "returned_to_custody"


class ChangeType(StrEnum):
    """The events of a referral (SPEC §7), the CloudEvent `type` of each: every one a
    subscription may ask for and the relay and the feed carry (their producers are the
    lifecycle, the §10-12 records and the moment scheduler)."""

    created = "referral.created"
    status_changed = "referral.status_changed"
    updated = "referral.updated"
    # The rehabilitation record (SPEC §10)
    assessment_recorded = "referral.assessment_recorded"
    plan_updated = "referral.plan_updated"
    appointment_scheduled = "referral.appointment_scheduled"
    attendance_recorded = "referral.attendance_recorded"
    appointment_missed = "referral.appointment_missed"
    service_recorded = "referral.service_recorded"
    note_added = "referral.note_added"
    report_published = "referral.report_published"
    # Aftercare (SPEC §11) and the person's rights (SPEC §12)
    follow_up_recorded = "referral.follow_up_recorded"
    rectification_requested = "referral.rectification_requested"
    consent_withdrawn = "referral.consent_withdrawn"
    # Moments: emitted by the service when the time comes (SPEC §7)
    handover_reached = "referral.handover_reached"
    triage_overdue = "referral.triage_overdue"
    stalled = "referral.stalled"
    follow_up_due = "referral.follow_up_due"


class Action(StrEnum):
    accept = "accept"
    reject = "reject"
    assign = "assign"
    return_ = "return"
    start_service = "start_service"
    hold = "hold"
    resume = "resume"
    close = "close"
    cancel = "cancel"


REJECT_REASONS = frozenset(
    {"not_eligible", "duplicate", "out_of_scope", "insufficient_data", "other"}
)
RETURN_REASONS = frozenset({"outside_coverage", "no_capacity", "other"})
HOLD_REASONS = frozenset({"returned_to_custody", "hospitalised", "relocated", "other"})
CLOSE_OUTCOMES = frozenset(
    {
        "completed",
        "ended_early",
        "declined_by_person",
        "unreachable",
        "deceased",
        "returned_to_custody",
    }
)
# Set only by a consent withdrawal (SPEC §12), never by `close`.
CONSENT_WITHDRAWN = "consent_withdrawn"
CANCEL_REASONS = frozenset(
    {"release_cancelled", "parole_revoked", "duplicate", "entered_in_error", "other"}
)

_S = Status
_KEMENSOS = frozenset({Role.kemensos})
_FIELD_WORKERS = frozenset({Role.sentra, Role.kemensos})


@dataclass(frozen=True, slots=True)
class ActionRule:
    sources: frozenset[Status]
    target: Status | None  # None: back to the status the referral was held from
    roles: frozenset[Role]
    reason_codes: frozenset[str] | None = None
    outcomes: frozenset[str] | None = None
    needs_sentra: bool = False


LIFECYCLE: dict[Action, ActionRule] = {
    Action.accept: ActionRule(frozenset({_S.received}), _S.accepted, _KEMENSOS),
    Action.reject: ActionRule(
        frozenset({_S.received, _S.accepted}), _S.rejected, _KEMENSOS, reason_codes=REJECT_REASONS
    ),
    Action.assign: ActionRule(
        frozenset({_S.accepted, _S.assigned}), _S.assigned, _KEMENSOS, needs_sentra=True
    ),
    Action.return_: ActionRule(
        frozenset({_S.assigned}), _S.accepted, _FIELD_WORKERS, reason_codes=RETURN_REASONS
    ),
    Action.start_service: ActionRule(frozenset({_S.assigned}), _S.in_service, _FIELD_WORKERS),
    Action.hold: ActionRule(
        frozenset({_S.accepted, _S.assigned, _S.in_service}),
        _S.on_hold,
        _FIELD_WORKERS,
        reason_codes=HOLD_REASONS,
    ),
    Action.resume: ActionRule(frozenset({_S.on_hold}), None, _FIELD_WORKERS),
    Action.close: ActionRule(
        frozenset({_S.assigned, _S.in_service, _S.on_hold}),
        _S.closed,
        _FIELD_WORKERS,
        outcomes=CLOSE_OUTCOMES,
    ),
    Action.cancel: ActionRule(
        frozenset({_S.received, _S.accepted, _S.assigned}),
        _S.cancelled,
        frozenset({Role.kemensos, Role.prison}),
        reason_codes=CANCEL_REASONS,
    ),
}


@dataclass(frozen=True, slots=True)
class LifecycleState:
    status: Status
    custody_status: CustodyStatus
    sentra_code: str | None = None
    reason_code: str | None = None
    outcome: str | None = None
    held_from_status: Status | None = None


@dataclass(frozen=True, slots=True)
class Command:
    action: Action
    reason_code: str | None = None
    outcome: str | None = None
    sentra_code: str | None = None
    note: str | None = None


@dataclass(slots=True)
class Refusal:
    """Why an action cannot be taken now: a 409 code, with the actions that could be."""

    code: str  # INVALID_TRANSITION
    detail: Msg
    allowed_actions: list[str] = field(default_factory=list)


def role_may(role: Role, action: Action) -> bool:
    return role in LIFECYCLE[action].roles


def state_allows(state: LifecycleState, action: Action) -> bool:
    return state.status in LIFECYCLE[action].sources


def allowed_actions(state: LifecycleState, role: Role) -> list[str]:
    return [a.value for a in Action if role_may(role, a) and state_allows(state, a)]


def refusal(state: LifecycleState, action: Action, role: Role) -> Refusal | None:
    """The state check of a transition (after role and version checks): None if allowed."""
    rule = LIFECYCLE[action]
    if state.status not in rule.sources:
        return Refusal(
            "INVALID_TRANSITION",
            msg(
                "`{action}` is not allowed from `{status}`",
                action=action.value,
                status=state.status.value,
            ),
            allowed_actions(state, role),
        )
    return None


def command_errors(command: Command, active_sentra: Iterable[str]) -> list[FieldError]:
    """The action's required fields (422), and no fields the action does not take."""
    rule = LIFECYCLE[command.action]
    errors: list[FieldError] = []

    def check(name: str, value: str | None, allowed: frozenset[str] | None) -> None:
        if allowed is None:
            if value is not None:
                errors.append(
                    FieldError(
                        "INVALID_VALUE",
                        msg("`{action}` takes no {field}", action=command.action.value, field=name),
                        f"/{name}",
                    )
                )
        elif value is None:
            errors.append(
                FieldError(
                    "FIELD_REQUIRED",
                    msg("`{action}` needs {field}", action=command.action.value, field=name),
                    f"/{name}",
                )
            )
        elif value not in allowed:
            errors.append(
                FieldError(
                    "INVALID_VALUE",
                    msg("one of: {values}", values=", ".join(sorted(allowed))),
                    f"/{name}",
                )
            )

    check("reason_code", command.reason_code, rule.reason_codes)
    check("outcome", command.outcome, rule.outcomes)
    if rule.needs_sentra:
        if command.sentra_code is None:
            errors.append(
                FieldError("FIELD_REQUIRED", msg("`assign` needs sentra_code"), "/sentra_code")
            )
        elif command.sentra_code not in set(active_sentra):
            errors.append(
                FieldError(
                    "UNKNOWN_SENTRA", msg("not an active sentra of the registry"), "/sentra_code"
                )
            )
    elif command.sentra_code is not None:
        errors.append(
            FieldError(
                "INVALID_VALUE",
                msg("`{action}` takes no sentra_code", action=command.action.value),
                "/sentra_code",
            )
        )
    return errors


def change_events(
    before: LifecycleState | None, after: LifecycleState, *, data_changed: bool = False
) -> tuple[ChangeType, ...]:
    """What a change emits (SPEC §7): a new referral `created` and nothing else; then
    `status_changed` when the status moved, and `updated` when the case data or the
    custody status changed, or the sentra did without a status change (a reassignment).
    A `return` clears the sentra as it moves the status: a `status_changed` only."""
    if before is None:
        return (ChangeType.created,)
    emits: list[ChangeType] = []
    if after.status is not before.status:
        emits.append(ChangeType.status_changed)
    if (
        data_changed
        or after.custody_status is not before.custody_status
        or (after.status is before.status and after.sentra_code != before.sentra_code)
    ):
        emits.append(ChangeType.updated)
    return tuple(emits)


def withdrawn(state: LifecycleState) -> LifecycleState:
    """After a consent withdrawal (SPEC §12): a non-terminal referral closed with outcome
    `consent_withdrawn`; a terminal one as it was."""
    if state.status in TERMINAL:
        return state
    return LifecycleState(
        Status.closed, state.custody_status, state.sentra_code, outcome=CONSENT_WITHDRAWN
    )


def apply(state: LifecycleState, command: Command) -> LifecycleState:
    """The state after an allowed, validated command."""
    action = command.action
    rule = LIFECYCLE[action]
    if action is Action.resume:
        target = state.held_from_status or Status.accepted
        return LifecycleState(target, state.custody_status, state.sentra_code)
    assert rule.target is not None
    sentra = state.sentra_code
    if action is Action.assign:
        sentra = command.sentra_code
    elif action is Action.return_:
        sentra = None
    return LifecycleState(
        status=rule.target,
        custody_status=state.custody_status,
        sentra_code=sentra,
        reason_code=command.reason_code,
        outcome=command.outcome,
        held_from_status=state.status if action is Action.hold else None,
    )


# Derived fields


def age_on(birth: dt.date, day: dt.date) -> int:
    """Completed years on `day`; a 29 February birthday falls on 1 March in common years."""
    years = day.year - birth.year
    try:
        birthday = birth.replace(year=day.year)
    except ValueError:
        birthday = dt.date(day.year, 3, 1)
    return years - 1 if day < birthday else years


def is_child(age: int) -> bool:
    return 0 <= age < 18


# A child's case travels minimised (SPEC §5; UU 11/2012 keeps a child's identity out of
# anything that can travel): a child at release, a children's facility, a diversion.
CHILDREN_FACILITIES = frozenset({"lpka", "lpas"})


def is_minimised(age_at_release: int, facility_type: str | None, release_type: str) -> bool:
    return (
        is_child(age_at_release)
        or facility_type in CHILDREN_FACILITIES
        or release_type == "diversi"
    )


def initials(name: str) -> str:
    """The first letter of each word, each followed by `.`: "Budi Santoso" → "B. S."."""
    return " ".join(f"{word[0]}." for word in name.split())


def handover_date(release_date: dt.date, supervision_end_date: dt.date | None) -> dt.date:
    """When Kemensos takes over: at release, or when Bapas supervision ends."""
    return supervision_end_date or release_date


def responsible_agency(custody: CustodyStatus, handover: dt.date, today: dt.date) -> str:
    """`imipas` while in custody or under Bapas supervision, else `kemensos` (UU 22/2022)."""
    if custody is CustodyStatus.released and today >= handover:
        return "kemensos"
    return "imipas"


def triage_due_at(handover: dt.date, triage_days: int, tz: dt.tzinfo) -> dt.datetime:
    due = handover + dt.timedelta(days=triage_days)
    return dt.datetime.combine(due, dt.time(0), tzinfo=tz)


def is_overdue(status: Status, handover: dt.date, triage_days: int, today: dt.date) -> bool:
    """A `received` referral not triaged by the local day after its triage deadline starts."""
    return status is Status.received and today >= handover + dt.timedelta(days=triage_days)
