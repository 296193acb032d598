"""The rules of the rehabilitation record (SPEC §10) as pure functions: who may read and
write which record, in which status, and what each body must satisfy. No I/O: the
service loads, asks these, and writes (app/rehab/service.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.auth.roles import Role
from app.core.errors import FieldError
from app.core.i18n import msg
from app.reference.catalogue import AtensiComponent
from app.referrals.domain import TERMINAL, ChangeType, Status


class RecordKind(StrEnum):
    """The kinds of record, as history's `action` names them (SPEC §10)."""

    assessment = "assessment"
    plan = "plan"
    appointment = "appointment"
    attendance = "attendance"
    service = "service"
    note = "note"
    report = "report"  # read only: the report is written by `close`


class Level(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class DocumentStatus(StrEnum):
    has = "has"
    missing = "missing"
    unknown = "unknown"


class LocationKind(StrEnum):
    sentra = "sentra"
    facility = "facility"
    home = "home"
    online = "online"
    other = "other"


class Attendance(StrEnum):
    attended = "attended"
    late = "late"
    missed = "missed"
    cancelled = "cancelled"


class Audience(StrEnum):
    all = "all"
    kemensos = "kemensos"


class GoalResult(StrEnum):
    achieved = "achieved"
    partially_achieved = "partially_achieved"
    not_achieved = "not_achieved"


_FIELD_WORKERS = frozenset({Role.kemensos, Role.sentra})
_READERS = frozenset({Role.kemensos, Role.sentra, Role.prison, Role.bapas})

# Who reads each kind: the prison and the Bapas read the appointments (where and when the
# person reports), the report and the notes meant for them; the rest stays with Kemensos.
READERS: dict[RecordKind, frozenset[Role]] = {
    RecordKind.assessment: _FIELD_WORKERS,
    RecordKind.plan: _FIELD_WORKERS,
    RecordKind.appointment: _READERS,
    RecordKind.attendance: _READERS,
    RecordKind.service: _FIELD_WORKERS,
    RecordKind.note: _READERS,
    RecordKind.report: _READERS,
}
WRITERS: dict[RecordKind, frozenset[Role]] = {
    RecordKind.assessment: _FIELD_WORKERS,
    RecordKind.plan: _FIELD_WORKERS,
    RecordKind.appointment: _FIELD_WORKERS,
    RecordKind.attendance: _FIELD_WORKERS,
    RecordKind.service: _FIELD_WORKERS,
    RecordKind.note: _READERS,
    RecordKind.report: frozenset(),
}

_OPEN = frozenset({Status.accepted, Status.assigned, Status.in_service, Status.on_hold})
# The statuses each kind may be written in (a terminal one is REFERRAL_ENDED first).
OPEN_IN: dict[RecordKind, frozenset[Status]] = {
    RecordKind.assessment: _OPEN,
    RecordKind.plan: _OPEN,
    RecordKind.appointment: _OPEN,
    RecordKind.attendance: _OPEN,
    RecordKind.service: frozenset({Status.in_service}),
    RecordKind.note: frozenset(Status),
}

# The event each write emits (SPEC §7); `missed` attendance emits `appointment_missed`.
EMITS: dict[RecordKind, ChangeType] = {
    RecordKind.assessment: ChangeType.assessment_recorded,
    RecordKind.plan: ChangeType.plan_updated,
    RecordKind.appointment: ChangeType.appointment_scheduled,
    RecordKind.attendance: ChangeType.attendance_recorded,
    RecordKind.service: ChangeType.service_recorded,
    RecordKind.note: ChangeType.note_added,
}

MAX_GOALS = 20


def may_read(kind: RecordKind, role: Role) -> bool:
    return role in READERS[kind]


def may_write(kind: RecordKind, role: Role) -> bool:
    return role in WRITERS[kind]


def ended(kind: RecordKind, status: Status) -> bool:
    """A write refused with 409 REFERRAL_ENDED: any but a note on a terminal referral."""
    return kind is not RecordKind.note and status in TERMINAL


def state_refused(kind: RecordKind, status: Status) -> bool:
    """A write refused with 409 INVALID_STATE (after the ended check)."""
    return status not in OPEN_IN[kind]


def audiences(role: Role) -> frozenset[Audience]:
    """The audiences a role may write, and read: `kemensos` notes are for Kemensos and the
    assigned sentra only."""
    if role in _FIELD_WORKERS:
        return frozenset(Audience)
    return frozenset({Audience.all})


def attendance_event(attendance: Attendance) -> ChangeType:
    if attendance is Attendance.missed:
        return ChangeType.appointment_missed
    return ChangeType.attendance_recorded


def record_events(kind: RecordKind, attendance: Attendance | None = None) -> tuple[ChangeType, ...]:
    """The events a write of the record emits (SPEC §7)."""
    if kind is RecordKind.attendance and attendance is not None:
        return (attendance_event(attendance),)
    return (EMITS[kind],)


# Rules of the bodies (422), each failure with its pointer.


def assessment_errors(
    assessed_on: dt.date, components: Sequence[AtensiComponent], today: dt.date
) -> list[FieldError]:
    errors: list[FieldError] = []
    if assessed_on > today:
        errors.append(FieldError("INVALID_DATE", msg("not in the future"), "/assessed_on"))
    seen: set[AtensiComponent] = set()
    for i, component in enumerate(components):
        if component in seen:
            errors.append(
                FieldError("INVALID_VALUE", msg("each component once"), f"/needs/{i}/component")
            )
        seen.add(component)
    return errors


@dataclass(frozen=True, slots=True)
class Goal:
    id: uuid.UUID
    component: AtensiComponent
    description: str | None  # null once erased
    due_on: dt.date | None


@dataclass(frozen=True, slots=True)
class GoalRequest:
    id: uuid.UUID | None
    component: AtensiComponent
    description: str
    due_on: dt.date | None


def plan_goals(
    current: Sequence[Goal], requested: Sequence[GoalRequest], new_id: Iterable[uuid.UUID]
) -> tuple[list[Goal], list[FieldError]]:
    """The plan's goals after a PUT: a goal sent with its id is kept (and updated), one
    without gets a new id, one not sent is removed. Ids are the service's: an id the plan
    does not hold is UNKNOWN_GOAL, one sent twice INVALID_VALUE."""
    known = {g.id for g in current}
    ids = iter(new_id)
    errors: list[FieldError] = []
    seen: set[uuid.UUID] = set()
    goals: list[Goal] = []
    for i, goal in enumerate(requested):
        if goal.id is not None:
            if goal.id not in known:
                errors.append(
                    FieldError("UNKNOWN_GOAL", msg("not a goal of this plan"), f"/goals/{i}/id")
                )
            elif goal.id in seen:
                errors.append(FieldError("INVALID_VALUE", msg("each goal once"), f"/goals/{i}/id"))
            seen.add(goal.id)
        goals.append(
            Goal(
                goal.id if goal.id is not None else next(ids),
                goal.component,
                goal.description,
                goal.due_on,
            )
        )
    return goals, errors


def service_errors(
    delivered_on: dt.date,
    goal_id: uuid.UUID | None,
    *,
    today: dt.date,
    referral_created_on: dt.date,
    plan_goal_ids: frozenset[uuid.UUID],
) -> list[FieldError]:
    errors: list[FieldError] = []
    if delivered_on > today:
        errors.append(FieldError("INVALID_DATE", msg("not in the future"), "/delivered_on"))
    elif delivered_on < referral_created_on:
        errors.append(
            FieldError("INVALID_DATE", msg("not before the referral was created"), "/delivered_on")
        )
    if goal_id is not None and goal_id not in plan_goal_ids:
        errors.append(FieldError("UNKNOWN_GOAL", msg("not a goal of the plan"), "/goal_id"))
    return errors


def attendance_refusal(
    recorded: str | None, starts_at: dt.datetime, attendance: Attendance, now: dt.datetime
) -> str | None:
    """409 code of an attendance, or None: once only, and not before the appointment
    starts unless it is a cancellation (ATTENDANCE_RECORDED comes first)."""
    if recorded is not None:
        return "ATTENDANCE_RECORDED"
    if attendance is not Attendance.cancelled and now < starts_at:
        return "APPOINTMENT_NOT_DUE"
    return None


def is_upcoming(starts_at: dt.datetime, attendance: str | None, now: dt.datetime) -> bool:
    """Counts for `next_appointment`: not yet started and not cancelled."""
    return starts_at > now and attendance != Attendance.cancelled.value


# The end-of-service report (the `close` of SPEC §4)

REPORT_OUTCOMES = frozenset({"completed", "ended_early"})


@dataclass(frozen=True, slots=True)
class ReportRequest:
    summary: str | None
    results: Sequence[tuple[uuid.UUID, GoalResult]]


def report_errors(
    outcome: str | None, report: ReportRequest | None, plan_goal_ids: Sequence[uuid.UUID]
) -> list[FieldError]:
    """`completed` and `ended_early` need a report, with a result for every goal of the
    plan when there is one; a report on another outcome is kept, its goals checked."""
    if report is None:
        if outcome in REPORT_OUTCOMES:
            return [
                FieldError(
                    "REPORT_REQUIRED",
                    msg("`{outcome}` needs the end-of-service report", outcome=outcome),
                    "/report",
                )
            ]
        return []
    errors: list[FieldError] = []
    known = set(plan_goal_ids)
    seen: set[uuid.UUID] = set()
    for i, (goal_id, _) in enumerate(report.results):
        where = f"/report/goals/{i}/goal_id"
        if goal_id not in known:
            errors.append(FieldError("UNKNOWN_GOAL", msg("not a goal of the plan"), where))
        elif goal_id in seen:
            errors.append(FieldError("INVALID_VALUE", msg("each goal once"), where))
        seen.add(goal_id)
    if outcome in REPORT_OUTCOMES and known - seen:
        errors.append(
            FieldError(
                "REPORT_INCOMPLETE",
                msg("a result for each of the plan's {count} goal(s)", count=len(known)),
                "/report/goals",
            )
        )
    return errors


def service_counts(components: Iterable[str]) -> dict[str, int]:
    """Services delivered per component, every component named (0 when none)."""
    counts = {c.value: 0 for c in AtensiComponent}
    for component in components:
        counts[component] = counts.get(component, 0) + 1
    return counts


def report_goals(
    goals: Sequence[Goal], results: Mapping[str, str]
) -> list[tuple[Goal, str | None]]:
    """The plan's goals, each with the result the close gave it (None: none given)."""
    return [(g, results.get(str(g.id))) for g in goals]
