"""The rehabilitation record (SPEC §10): one function per route, each in the request's
unit of work, and what the referral's detail and its `close` take from the record.

Checks run in the order of SPEC §10 (the body was validated by the route): visibility
(404; any id for a role that reads no referral), role (403), ended (409), `If-Match`
(428/412, the plan), status (409 `INVALID_STATE`), the rules (422). A write locks the
referral row (writes of one referral queue: a plan version, an attendance are taken
once) and records its history entry, its event and its audit row through the referrals'
`ChangeLog`; a read writes its audit row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Uuid, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Client
from app.auth.principal import Principal
from app.auth.roles import REFERRAL_READERS
from app.core import audit
from app.core.clock import Clock
from app.core.crypto import DataCipher
from app.core.db import UTCDateTime
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.i18n import msg
from app.reference.catalogue import AtensiComponent
from app.referrals import keys, store
from app.referrals.changes import Change, ChangeLog
from app.referrals.domain import Status
from app.referrals.keys import Sealer
from app.referrals.models import Referral
from app.rehab import domain, texts
from app.rehab.domain import Attendance, Audience, Goal, GoalRequest, RecordKind
from app.rehab.models import Appointment, Assessment, Note, Plan, Report, ServiceDelivered
from app.rehab.queries import record_subqueries
from app.rehab.schemas import (
    AppointmentOut,
    AppointmentRequest,
    AssessmentOut,
    AssessmentRequest,
    AttendanceRequest,
    GoalOut,
    LocationOut,
    NeedOut,
    NoteOut,
    NoteRequest,
    PlanOut,
    PlanRequest,
    ReportGoalOut,
    ReportOut,
    ReportRequest,
    ServiceOut,
    ServiceRequest,
)

# The audit action of each read (SPEC §8: every read of the §10 record is audited).
READ_ACTIONS: dict[RecordKind, str] = {
    RecordKind.assessment: "referral.assessments.read",
    RecordKind.plan: "referral.plan.read",
    RecordKind.appointment: "referral.appointments.read",
    RecordKind.service: "referral.services.read",
    RecordKind.note: "referral.notes.read",
    RecordKind.report: "referral.report.read",
}


def write_action(kind: RecordKind) -> str:
    return f"referral.{kind.value}"


def plan_etag(plan: Plan) -> str:
    return f'"plan-{plan.version}"'


async def _referral(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    kind: RecordKind,
    *,
    write: bool,
) -> Referral:
    """The referral, after visibility (404), role (403) and, for a write, ended (409)."""
    if principal.role not in REFERRAL_READERS:
        raise store.not_found()
    referral = await store.load_visible(session, principal, referral_id, lock=write)
    allowed = (
        domain.may_write(kind, principal.role) if write else domain.may_read(kind, principal.role)
    )
    if not allowed:
        fields = {"role": principal.role.value, "kind": kind.value}
        raise ProblemError(
            "ROLE_NOT_PERMITTED",
            msg("The {role} role may not write the referral's {kind} record.", **fields)
            if write
            else msg("The {role} role may not read the referral's {kind} record.", **fields),
        )
    if write and domain.ended(kind, Status(referral.status)):
        raise ProblemError(
            "REFERRAL_ENDED",
            msg("The referral is `{status}`: its record is closed.", status=referral.status),
        )
    if write:
        keys.refuse_if_erased(referral)
    return referral


def _check_state(kind: RecordKind, referral: Referral) -> None:
    if domain.state_refused(kind, Status(referral.status)):
        open_in = ", ".join(sorted(s.value for s in domain.OPEN_IN[kind]))
        raise ProblemError(
            "INVALID_STATE",
            msg(
                "A {kind} is recorded while the referral is {open_in}; it is `{status}`.",
                kind=kind.value,
                open_in=open_in,
                status=referral.status,
            ),
        )


async def _record_write(
    session: AsyncSession,
    referral: Referral,
    principal: Principal,
    clock: Clock,
    kind: RecordKind,
    record_id: tuple[str, str],
    *,
    attendance: Attendance | None = None,
    audience: str | None = None,
) -> None:
    """The one write path of the record: its history entry (`action` = the record kind, no
    free text), the events the domain says it emits (with the record's id), its audit
    row, all in the request's transaction."""
    log = ChangeLog()
    log.record(
        referral,
        Change(
            from_status=referral.status,
            emits=domain.record_events(kind, attendance),
            action=kind.value,
            about=(record_id,),
            # A note is not work on the case (SPEC §7 `stalled`); the other records are.
            counts_as_activity=kind is not RecordKind.note,
            audience=audience,
        ),
        principal,
        clock,
        audit_action=write_action(kind),
        audit_outcome="success",
    )
    await store.write_changes(session, log)


def _touch(referral: Referral, clock: Clock) -> None:
    """A write that changes a detail field (`assessment`, `next_appointment`): a new
    version of the referral (SPEC §4)."""
    referral.version += 1
    referral.updated_at = clock.now


# Assessments


def _assessment_out(row: Assessment, cipher: Sealer) -> AssessmentOut:
    words = texts.open_(cipher, RecordKind.assessment, row.id, row.texts)
    notes: dict[str, str] = words.get("needs", {})
    return AssessmentOut(
        id=row.id,
        assessed_on=row.assessed_on,
        needs=[
            NeedOut(component=n["component"], level=n["level"], note=notes.get(n["component"]))
            for n in row.needs
        ],
        identity_documents=row.identity_documents,
        summary=words.get("summary"),
        recorded_at=row.recorded_at,
        client=row.client_id,
        actor=row.actor,
    )


async def record_assessment(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: AssessmentRequest,
    clock: Clock,
    cipher: DataCipher,
) -> AssessmentOut:
    kind = RecordKind.assessment
    referral = await _referral(session, principal, referral_id, kind, write=True)
    sealer = await keys.text_cipher(session, cipher, referral.id, create=True)
    _check_state(kind, referral)
    errors = domain.assessment_errors(
        body.assessed_on, [n.component for n in body.needs], clock.today
    )
    if errors:
        raise validation_failed(errors)
    row = Assessment(
        id=uuid.uuid4(),
        referral_id=referral.id,
        recorded_at=clock.now,
        assessed_on=body.assessed_on,
        needs=[{"component": n.component.value, "level": n.level.value} for n in body.needs],
        identity_documents=body.identity_documents.model_dump(mode="json"),
        client_id=principal.client_id,
        actor=principal.actor,
    )
    row.texts = texts.seal(
        sealer,
        kind,
        row.id,
        {
            "summary": body.summary,
            "needs": {n.component.value: n.note for n in body.needs if n.note} or None,
        },
    )
    session.add(row)
    _touch(referral, clock)
    await _record_write(session, referral, principal, clock, kind, ("assessment_id", str(row.id)))
    return _assessment_out(row, sealer)


async def list_assessments(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> list[AssessmentOut]:
    kind = RecordKind.assessment
    referral = await _referral(session, principal, referral_id, kind, write=False)
    sealer = await keys.text_cipher(session, cipher, referral.id)
    rows = (
        await session.execute(
            select(Assessment)
            .where(Assessment.referral_id == referral.id)
            .order_by(Assessment.recorded_at.desc(), Assessment.id.desc())
        )
    ).scalars()
    out = [_assessment_out(r, sealer) for r in rows]
    audit.record(session, principal, READ_ACTIONS[kind], "success", referral_id=referral.id)
    return out


# The plan


def _goals_of(plan: Plan, cipher: Sealer) -> list[Goal]:
    words = texts.open_(cipher, RecordKind.plan, plan.referral_id, plan.texts)
    return [
        Goal(
            id=uuid.UUID(g["id"]),
            component=AtensiComponent(g["component"]),
            description=words.get(g["id"]),
            due_on=dt.date.fromisoformat(g["due_on"]) if g.get("due_on") else None,
        )
        for g in plan.goals
    ]


def _plan_out(plan: Plan, goals: Sequence[Goal]) -> PlanOut:
    return PlanOut(
        version=plan.version,
        goals=[
            GoalOut(
                id=g.id, component=g.component.value, description=g.description, due_on=g.due_on
            )
            for g in goals
        ],
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


async def _plan(session: AsyncSession, referral_id: uuid.UUID) -> Plan | None:
    return await session.get(Plan, referral_id)


async def read_plan(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> tuple[PlanOut, str]:
    kind = RecordKind.plan
    referral = await _referral(session, principal, referral_id, kind, write=False)
    sealer = await keys.text_cipher(session, cipher, referral.id)
    plan = await _plan(session, referral.id)
    if plan is None:
        raise ProblemError("NO_PLAN")
    audit.record(session, principal, READ_ACTIONS[kind], "success", referral_id=referral.id)
    return _plan_out(plan, _goals_of(plan, sealer)), plan_etag(plan)


async def put_plan(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: PlanRequest,
    if_match: str | None,
    clock: Clock,
    cipher: DataCipher,
) -> tuple[PlanOut, str]:
    """Create or replace the plan's goals. `If-Match` is needed once a plan exists; a PUT
    that changes nothing keeps the version (and emits nothing)."""
    kind = RecordKind.plan
    referral = await _referral(session, principal, referral_id, kind, write=True)
    sealer = await keys.text_cipher(session, cipher, referral.id, create=True)
    plan = await _plan(session, referral.id)
    tag = plan_etag(plan) if plan is not None else None
    # `If-Match: *` names no version: it counts as missing (SPEC §1).
    sent = None if if_match is None or if_match.strip() == "*" else if_match.strip()
    if plan is not None and sent is None:
        raise ProblemError("PRECONDITION_REQUIRED", msg("Send `If-Match` with the plan's ETag."))
    if sent is not None and sent not in (tag, f"W/{tag}"):
        raise ProblemError(
            "VERSION_MISMATCH",
            msg("The plan changed since that ETag; read it again.")
            if plan is not None
            else msg("The referral has no plan yet: send the first PUT without `If-Match`."),
            headers={"ETag": tag} if tag else {},
        )
    _check_state(kind, referral)
    current = _goals_of(plan, sealer) if plan is not None else []
    goals, errors = domain.plan_goals(
        current,
        [GoalRequest(g.id, g.component, g.description, g.due_on) for g in body.goals],
        iter(uuid.uuid4, None),
    )
    if errors:
        raise validation_failed(errors)
    if plan is not None and goals == current:
        audit.record(session, principal, write_action(kind), "unchanged", referral_id=referral.id)
        return _plan_out(plan, current), plan_etag(plan)
    stored = [
        {
            "id": str(g.id),
            "component": g.component.value,
            "due_on": g.due_on.isoformat() if g.due_on else None,
        }
        for g in goals
    ]
    if plan is None:
        plan = Plan(referral_id=referral.id, version=1, created_at=clock.now)
        session.add(plan)
    else:
        plan.version += 1
    plan.goals = stored
    plan.updated_at = clock.now
    plan.texts = texts.seal(sealer, kind, referral.id, {str(g.id): g.description for g in goals})
    await _record_write(
        session, referral, principal, clock, kind, ("plan_version", str(plan.version))
    )
    return _plan_out(plan, goals), plan_etag(plan)


# Appointments


def _appointment_out(row: Appointment, cipher: Sealer) -> AppointmentOut:
    words = texts.open_(cipher, RecordKind.appointment, row.id, row.texts)
    return AppointmentOut(
        id=row.id,
        starts_at=row.starts_at,
        location=LocationOut(kind=row.location_kind, detail=words.get("location")),
        purpose=words.get("purpose"),
        attendance=row.attendance,
        attendance_note=words.get("attendance_note"),
        attendance_recorded_at=row.attendance_recorded_at,
        recorded_at=row.recorded_at,
        client=row.client_id,
        actor=row.actor,
    )


def _upcoming(referral_id: uuid.UUID, now: dt.datetime) -> Any:
    """The query of the next appointment: earliest not yet started and not cancelled."""
    return (
        select(Appointment)
        .where(
            Appointment.referral_id == referral_id,
            Appointment.starts_at > now,
            func.coalesce(Appointment.attendance, "") != Attendance.cancelled.value,
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(1)
    )


async def schedule_appointment(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: AppointmentRequest,
    clock: Clock,
    cipher: DataCipher,
) -> AppointmentOut:
    kind = RecordKind.appointment
    referral = await _referral(session, principal, referral_id, kind, write=True)
    sealer = await keys.text_cipher(session, cipher, referral.id, create=True)
    _check_state(kind, referral)
    following = (await session.execute(_upcoming(referral.id, clock.now))).scalar_one_or_none()
    row = Appointment(
        id=uuid.uuid4(),
        referral_id=referral.id,
        recorded_at=clock.now,
        starts_at=body.starts_at.astimezone(dt.UTC),
        location_kind=body.location.kind.value,
        client_id=principal.client_id,
        actor=principal.actor,
    )
    row.texts = texts.seal(
        sealer, kind, row.id, {"location": body.location.detail, "purpose": body.purpose}
    )
    session.add(row)
    if domain.is_upcoming(row.starts_at, None, clock.now) and (
        following is None or row.starts_at < following.starts_at
    ):
        _touch(referral, clock)  # it is the detail's new `next_appointment`
    await _record_write(session, referral, principal, clock, kind, ("appointment_id", str(row.id)))
    return _appointment_out(row, sealer)


async def list_appointments(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> list[AppointmentOut]:
    kind = RecordKind.appointment
    referral = await _referral(session, principal, referral_id, kind, write=False)
    sealer = await keys.text_cipher(session, cipher, referral.id)
    rows = (
        await session.execute(
            select(Appointment)
            .where(Appointment.referral_id == referral.id)
            .order_by(Appointment.recorded_at.desc(), Appointment.id.desc())
        )
    ).scalars()
    out = [_appointment_out(r, sealer) for r in rows]
    audit.record(session, principal, READ_ACTIONS[kind], "success", referral_id=referral.id)
    return out


async def record_attendance(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    appointment_id: str,
    body: AttendanceRequest,
    clock: Clock,
    cipher: DataCipher,
) -> AppointmentOut:
    kind = RecordKind.attendance
    referral = await _referral(session, principal, referral_id, kind, write=True)
    sealer = await keys.text_cipher(session, cipher, referral.id, create=True)
    row = await _appointment(session, referral.id, appointment_id)
    _check_state(kind, referral)
    refused = domain.attendance_refusal(row.attendance, row.starts_at, body.attendance, clock.now)
    if refused == "ATTENDANCE_RECORDED":
        raise ProblemError(
            refused,
            msg("Attendance was recorded already: `{attendance}`.", attendance=row.attendance),
        )
    if refused is not None:
        raise ProblemError(refused, msg("Only a cancellation is recorded before the appointment."))
    was_next = False
    if body.attendance is Attendance.cancelled and domain.is_upcoming(
        row.starts_at, None, clock.now
    ):
        following = (await session.execute(_upcoming(referral.id, clock.now))).scalar_one_or_none()
        was_next = following is not None and following.id == row.id
    row.attendance = body.attendance.value
    row.attendance_recorded_at = clock.now
    words = texts.open_(sealer, RecordKind.appointment, row.id, row.texts)
    words["attendance_note"] = body.note
    row.texts = texts.seal(sealer, RecordKind.appointment, row.id, words)
    if was_next:
        _touch(referral, clock)
    await _record_write(
        session,
        referral,
        principal,
        clock,
        kind,
        ("appointment_id", str(row.id)),
        attendance=body.attendance,
    )
    return _appointment_out(row, sealer)


async def _appointment(
    session: AsyncSession, referral_id: uuid.UUID, appointment_id: str
) -> Appointment:
    try:
        aid = uuid.UUID(appointment_id)
    except ValueError:
        raise ProblemError("APPOINTMENT_NOT_FOUND") from None
    row = await session.get(Appointment, aid)
    if row is None or row.referral_id != referral_id:
        raise ProblemError("APPOINTMENT_NOT_FOUND")
    return row


# Services delivered


def _service_out(row: ServiceDelivered, cipher: Sealer) -> ServiceOut:
    words = texts.open_(cipher, RecordKind.service, row.id, row.texts)
    return ServiceOut(
        id=row.id,
        component=row.component,
        delivered_on=row.delivered_on,
        description=words.get("description"),
        goal_id=row.goal_id,
        recorded_at=row.recorded_at,
        client=row.client_id,
        actor=row.actor,
    )


async def record_service(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: ServiceRequest,
    clock: Clock,
    cipher: DataCipher,
) -> ServiceOut:
    kind = RecordKind.service
    referral = await _referral(session, principal, referral_id, kind, write=True)
    sealer = await keys.text_cipher(session, cipher, referral.id, create=True)
    _check_state(kind, referral)
    goal_ids: frozenset[uuid.UUID] = frozenset()
    if body.goal_id is not None:
        plan = await _plan(session, referral.id)
        goal_ids = frozenset(uuid.UUID(g["id"]) for g in plan.goals) if plan else frozenset()
    errors = domain.service_errors(
        body.delivered_on,
        body.goal_id,
        today=clock.today,
        referral_created_on=referral.created_at.astimezone(clock.tz).date(),
        plan_goal_ids=goal_ids,
    )
    if errors:
        raise validation_failed(errors)
    row = ServiceDelivered(
        id=uuid.uuid4(),
        referral_id=referral.id,
        recorded_at=clock.now,
        component=body.component.value,
        delivered_on=body.delivered_on,
        goal_id=body.goal_id,
        client_id=principal.client_id,
        actor=principal.actor,
    )
    row.texts = texts.seal(sealer, kind, row.id, {"description": body.description})
    session.add(row)
    await _record_write(session, referral, principal, clock, kind, ("service_id", str(row.id)))
    return _service_out(row, sealer)


async def list_services(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> list[ServiceOut]:
    kind = RecordKind.service
    referral = await _referral(session, principal, referral_id, kind, write=False)
    sealer = await keys.text_cipher(session, cipher, referral.id)
    rows = (
        await session.execute(
            select(ServiceDelivered)
            .where(ServiceDelivered.referral_id == referral.id)
            .order_by(ServiceDelivered.recorded_at.desc(), ServiceDelivered.id.desc())
        )
    ).scalars()
    out = [_service_out(r, sealer) for r in rows]
    audit.record(session, principal, READ_ACTIONS[kind], "success", referral_id=referral.id)
    return out


# Notes


def _note_out(row: Note, client_name: str, cipher: Sealer) -> NoteOut:
    return NoteOut(
        id=row.id,
        at=row.at,
        client=row.client_id,
        client_name=client_name,
        actor=row.actor,
        audience=row.audience,
        body=texts.open_text(cipher, RecordKind.note, row.id, row.body),
    )


async def write_note(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: NoteRequest,
    clock: Clock,
    cipher: DataCipher,
) -> NoteOut:
    """Any party that reads the referral writes notes, in any status; the body is only
    ever stored encrypted, and neither history nor the event carries it."""
    kind = RecordKind.note
    referral = await _referral(session, principal, referral_id, kind, write=True)
    sealer = await keys.text_cipher(session, cipher, referral.id, create=True)
    if body.audience not in domain.audiences(principal.role):
        raise validation_failed(
            [
                FieldError(
                    "INVALID_VALUE",
                    msg("only Kemensos and the sentra write notes for `kemensos`"),
                    "/audience",
                )
            ]
        )
    row = Note(
        id=uuid.uuid4(),
        referral_id=referral.id,
        at=clock.now,
        audience=body.audience.value,
        client_id=principal.client_id,
        actor=principal.actor,
    )
    row.body = texts.seal_text(sealer, kind, row.id, body.body)
    session.add(row)
    audience = Audience.kemensos.value if body.audience is Audience.kemensos else None
    await _record_write(
        session, referral, principal, clock, kind, ("note_id", str(row.id)), audience=audience
    )
    return _note_out(row, principal.name, sealer)


async def list_notes(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> list[NoteOut]:
    kind = RecordKind.note
    referral = await _referral(session, principal, referral_id, kind, write=False)
    sealer = await keys.text_cipher(session, cipher, referral.id)
    audiences = sorted(a.value for a in domain.audiences(principal.role))
    rows = (
        await session.execute(
            select(Note, Client.name)
            .join(Client, Client.id == Note.client_id)
            .where(Note.referral_id == referral.id, Note.audience.in_(audiences))
            .order_by(Note.at.desc(), Note.id.desc())
        )
    ).all()
    out = [_note_out(note, name, sealer) for note, name in rows]
    audit.record(session, principal, READ_ACTIONS[kind], "success", referral_id=referral.id)
    return out


# The report


async def read_report(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> ReportOut:
    """The end-of-service report, assembled from what the close said, the plan's goals
    and the services delivered (three reads)."""
    kind = RecordKind.report
    referral = await _referral(session, principal, referral_id, kind, write=False)
    sealer = await keys.text_cipher(session, cipher, referral.id)
    report = await session.get(Report, referral.id)
    if report is None:
        raise ProblemError("NO_REPORT")
    plan = await _plan(session, referral.id)
    goals = _goals_of(plan, sealer) if plan is not None else []
    components = (
        await session.execute(
            select(ServiceDelivered.component).where(ServiceDelivered.referral_id == referral.id)
        )
    ).scalars()
    words = texts.open_(sealer, kind, referral.id, report.texts)
    if report.texts is None and not report.results:
        goals = []  # the close carried no report
    audit.record(session, principal, READ_ACTIONS[kind], "success", referral_id=referral.id)
    return ReportOut(
        outcome=referral.outcome,
        closed_at=referral.closed_at,
        summary=words.get("summary"),
        goals=[
            ReportGoalOut(
                goal_id=g.id, component=g.component.value, description=g.description, result=r
            )
            for g, r in domain.report_goals(goals, report.results)
        ],
        services=domain.service_counts(components),
    )


@dataclass(frozen=True, slots=True)
class CloseReport:
    """A close's report, checked against the plan, ready to be written."""

    summary: str | None
    results: dict[str, str]


async def check_close_report(
    session: AsyncSession, referral: Referral, outcome: str | None, body: ReportRequest | None
) -> tuple[list[FieldError], CloseReport]:
    """SPEC §10: `completed` and `ended_early` need the report, with a result for every goal
    of the plan (422 REPORT_REQUIRED / REPORT_INCOMPLETE / UNKNOWN_GOAL)."""
    plan = await _plan(session, referral.id)
    goal_ids = [uuid.UUID(g["id"]) for g in plan.goals] if plan is not None else []
    request = (
        domain.ReportRequest(body.summary, [(g.goal_id, g.result) for g in body.goals])
        if body is not None
        else None
    )
    errors = domain.report_errors(outcome, request, goal_ids)
    if body is None:
        return errors, CloseReport(None, {})
    return errors, CloseReport(body.summary, {str(g.goal_id): g.result.value for g in body.goals})


def write_report(
    session: AsyncSession,
    referral: Referral,
    report: CloseReport,
    principal: Principal,
    clock: Clock,
    cipher: Sealer,
) -> None:
    session.add(
        Report(
            referral_id=referral.id,
            published_at=clock.now,
            results=report.results,
            texts=texts.seal(cipher, RecordKind.report, referral.id, {"summary": report.summary}),
            client_id=principal.client_id,
            actor=principal.actor,
        )
    )


# What the detail shows (SPEC §4): the latest assessment, the next appointment.


def _detail_fields_query() -> Any:
    """Both rows, outer-joined to the referral. Built once: building it per request cost
    more than running it."""
    rid = bindparam("referral_id", type_=Uuid())
    latest, upcoming = record_subqueries(rid, bindparam("now", type_=UTCDateTime()))
    return (
        select(Assessment, Appointment)
        .select_from(Referral)
        .outerjoin(Assessment, Assessment.id == latest)
        .outerjoin(Appointment, Appointment.id == upcoming)
        .where(Referral.id == rid)
    )


_DETAIL_FIELDS = _detail_fields_query()


def detail_view(
    principal: Principal,
    assessment: Assessment | None,
    appointment: Appointment | None,
    cipher: Sealer,
) -> tuple[AssessmentOut | None, AppointmentOut | None]:
    """The detail's `assessment` (null for those who may not read assessments) and
    `next_appointment`, from their rows."""
    shown = assessment is not None and domain.may_read(RecordKind.assessment, principal.role)
    return (
        _assessment_out(assessment, cipher) if shown and assessment is not None else None,
        _appointment_out(appointment, cipher) if appointment is not None else None,
    )


async def detail_fields(
    session: AsyncSession,
    principal: Principal,
    referral_id: uuid.UUID,
    now: dt.datetime,
    cipher: DataCipher,
) -> tuple[AssessmentOut | None, AppointmentOut | None]:
    """The latest assessment and the next appointment, in one round trip (after a write;
    a read of the detail gets them with the referral: `store.load_for_detail`)."""
    row = (await session.execute(_DETAIL_FIELDS, {"referral_id": referral_id, "now": now})).one()
    sealer = await sealer_for(session, cipher, referral_id, row[0], row[1])
    return detail_view(principal, row[0], row[1], sealer)


async def sealer_for(
    session: AsyncSession,
    cipher: DataCipher,
    referral_id: uuid.UUID,
    *rows: Assessment | Appointment | None,
) -> Sealer:
    """What opens these rows' texts: the referral's key is read only when one of them is
    sealed under it (the detail is read often; most of its rows have no text)."""
    if any(r is not None and r.texts is not None and r.texts.startswith(keys.PREFIX) for r in rows):
        return await keys.text_cipher(session, cipher, referral_id)
    return cipher


# Erasure (retention, SPEC §12's consent withdrawal) and key rotation

# Every sealed column of the record: (model, column, the kind its associated data names,
# the column that is the record's id in that associated data).
SEALED: tuple[tuple[type[Any], str, RecordKind, str], ...] = (
    (Assessment, "texts", RecordKind.assessment, "id"),
    (Plan, "texts", RecordKind.plan, "referral_id"),
    (Appointment, "texts", RecordKind.appointment, "id"),
    (ServiceDelivered, "texts", RecordKind.service, "id"),
    (Note, "body", RecordKind.note, "id"),
    (Report, "texts", RecordKind.report, "referral_id"),
)


async def erase_texts(session: AsyncSession, referral_ids: Sequence[uuid.UUID]) -> None:
    """Every free text of these referrals' records becomes unreadable: the ciphertexts are
    cleared (a statement per table), the records' structure (components, dates,
    attendance, results) stays for the statistics. Retention calls it, and so must
    §12's consent withdrawal."""
    if not referral_ids:
        return
    ids = sorted(set(referral_ids))
    for model, column, _, _ in SEALED:
        await session.execute(
            update(model).where(model.referral_id.in_(ids)).values({column: None})
        )


async def reseal_texts(session: AsyncSession, cipher: DataCipher, batch: int) -> int:
    """Re-encrypt up to `batch` sealed texts per table still under a previous key (`rujukan
    keys rotate`); how many it re-encrypted (0: none left, bar rows a request held)."""
    prefix = f"v1.{cipher.key_id}.%"  # texts under the referral's key need no reseal
    changed = 0
    for model, column, kind, id_column in SEALED:
        sealed = getattr(model, column)
        rows = (
            await session.execute(
                select(model)
                .where(sealed.like("v1.%"), sealed.not_like(prefix))
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
        for row in rows:
            record_id = getattr(row, id_column)
            token: str = getattr(row, column)
            associated = texts.associated(kind, record_id)
            setattr(row, column, cipher.encrypt(cipher.decrypt(token, associated), associated))
            changed += 1
    return changed
