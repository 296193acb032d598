"""The rehabilitation record's routes (SPEC §10): parse, call one service function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Response

from app.auth.deps import ApiRoute, PrincipalDep
from app.core.deps import CipherDep, ClockDep, SessionDep
from app.core.openapi import PROBLEM_RESPONSES
from app.core.schemas import Items
from app.rehab import service
from app.rehab.domain import RecordKind
from app.rehab.schemas import (
    APPOINTMENT_EXAMPLES,
    APPOINTMENTS_ANSWER,
    ASSESSMENT_EXAMPLES,
    ATTENDANCE_EXAMPLES,
    NOTE_EXAMPLES,
    NOTES_ANSWER,
    PLAN_ANSWER,
    PLAN_EXAMPLES,
    REPORT_ANSWER,
    SERVICE_EXAMPLES,
    AppointmentOut,
    AppointmentRequest,
    AssessmentOut,
    AssessmentRequest,
    AttendanceRequest,
    NoteOut,
    NoteRequest,
    PlanOut,
    PlanRequest,
    ReportOut,
    ServiceOut,
    ServiceRequest,
    answer,
)


class RecordRoute(ApiRoute):
    """A write of the record is audited refused too (SPEC §8), as `referral.<kind>` with the
    problem `code` as its outcome."""

    def refusal_action(self, body: Any) -> str | None:
        if "GET" in (self.methods or set()):
            return None
        if self.path.endswith("/attendance"):
            return service.write_action(RecordKind.attendance)
        last = self.path.rsplit("/", 1)[-1]
        kinds = {
            "assessments": RecordKind.assessment,
            "plan": RecordKind.plan,
            "appointments": RecordKind.appointment,
            "services": RecordKind.service,
            "notes": RecordKind.note,
        }
        return service.write_action(kinds[last]) if last in kinds else None


router = APIRouter(
    prefix="/v1/referrals",
    tags=["Rehabilitation record"],
    responses=PROBLEM_RESPONSES,
    route_class=RecordRoute,
)

_ORDER = (
    "Checks in this order: the key (401), the body (422), visibility (404; any id for "
    "`auditor` and `admin`), role (403 `ROLE_NOT_PERMITTED`)"
)
_WRITE = (
    _ORDER + ", a terminal referral (409 `REFERRAL_ENDED`), the status (409 "
    "`INVALID_STATE`), the rules (422). Kemensos or the assigned sentra. Appends a history "
    "entry (`action` = `{kind}`, no free text), emits `{event}` and is audited "
    "(`referral.{kind}`), refused or not. Free text is stored encrypted."
)
_READ_FIELD_WORKERS = (
    _ORDER + ". Kemensos and the assigned sentra only: the prison and the Bapas get 403 "
    "(this part of the record stays with Kemensos). Newest first. Audited (`{action}`)."
)
_READ_ALL = _ORDER + ". Every party that reads the referral. Newest first. Audited (`{action}`)."


def _write_text(kind: RecordKind, event: str) -> str:
    return _WRITE.format(kind=kind.value, event=event)


@router.post(
    "/{referral_id}/assessments",
    status_code=201,
    summary="Record an assessment (asesmen)",
    description="The needs per ATENSI component (`level` low/medium/high), the identity "
    "documents the person holds (KTP-el, KK, akta kelahiran) and a summary. `assessed_on` "
    "not in the future (`INVALID_DATE`); each component once (`INVALID_VALUE`). Open in "
    "accepted, assigned, in_service, on_hold. The detail's `assessment` is the latest: a "
    "new version of the referral. "
    + _write_text(RecordKind.assessment, "referral.assessment_recorded"),
)
async def post_assessment(
    referral_id: str,
    principal: PrincipalDep,
    body: Annotated[AssessmentRequest, Body(openapi_examples=ASSESSMENT_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    clock: ClockDep,
) -> AssessmentOut:
    return await service.record_assessment(session, principal, referral_id, body, clock, cipher)


@router.get(
    "/{referral_id}/assessments",
    summary="The referral's assessments, newest first",
    description=_READ_FIELD_WORKERS.format(action="referral.assessments.read"),
)
async def get_assessments(
    referral_id: str, principal: PrincipalDep, session: SessionDep, cipher: CipherDep
) -> Items[AssessmentOut]:
    items = await service.list_assessments(session, principal, referral_id, cipher)
    return Items[AssessmentOut](items=items)


@router.get(
    "/{referral_id}/plan",
    summary="The service plan (rencana intervensi) with its goals",
    description='The plan and all its goals in one read, with its own `ETag` (`"plan-<n>"`, '
    "not the referral's). 404 `NO_PLAN` before the first PUT. "
    + _READ_FIELD_WORKERS.format(action="referral.plan.read"),
    response_model=PlanOut,
    responses=answer(PLAN_ANSWER),
)
async def get_plan(
    referral_id: str, principal: PrincipalDep, session: SessionDep, cipher: CipherDep
) -> Response:
    out, tag = await service.read_plan(session, principal, referral_id, cipher)
    return Response(out.model_dump_json(), media_type="application/json", headers={"ETag": tag})


@router.put(
    "/{referral_id}/plan",
    summary="Create or replace the service plan's goals",
    description="1-20 goals. Goal ids are the service's: send a goal's `id` to keep it (and "
    "update it), omit it for a new goal; goals not sent are removed (services keep their "
    "`goal_id`); an id the plan does not hold is 422 `UNKNOWN_GOAL`. The first PUT needs no "
    "`If-Match`; later ones send the plan's `ETag` (428 without, 412 when stale). A PUT that "
    "changes nothing keeps the `ETag` and emits nothing. Plan changes do not change the "
    "referral's version. Open in accepted, assigned, in_service, on_hold. "
    + _write_text(RecordKind.plan, "referral.plan_updated")
    + " Checks: ended (409) comes before `If-Match` (428/412), then the status.",
    response_model=PlanOut,
    responses=answer(PLAN_ANSWER),
)
async def put_plan(
    referral_id: str,
    principal: PrincipalDep,
    body: Annotated[PlanRequest, Body(openapi_examples=PLAN_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    clock: ClockDep,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    out, tag = await service.put_plan(
        session, principal, referral_id, body, if_match, clock, cipher
    )
    return Response(out.model_dump_json(), media_type="application/json", headers={"ETag": tag})


@router.post(
    "/{referral_id}/appointments",
    status_code=201,
    summary="Make an appointment (jadwal layanan / lapor diri)",
    description="Where (`location.kind`: sentra, facility, home, online, other) and when. "
    "`starts_at` may be in the past (recorded after the fact). The detail's "
    "`next_appointment` is the earliest one not yet started and not cancelled. The prison "
    "and the Bapas read appointments (the release letter says where and when to report). "
    "Open in accepted, assigned, in_service, on_hold. "
    + _write_text(RecordKind.appointment, "referral.appointment_scheduled"),
)
async def post_appointment(
    referral_id: str,
    principal: PrincipalDep,
    body: Annotated[AppointmentRequest, Body(openapi_examples=APPOINTMENT_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    clock: ClockDep,
) -> AppointmentOut:
    return await service.schedule_appointment(session, principal, referral_id, body, clock, cipher)


@router.get(
    "/{referral_id}/appointments",
    summary="The referral's appointments, newest first",
    description=_READ_ALL.format(action="referral.appointments.read"),
    responses=answer(APPOINTMENTS_ANSWER),
)
async def get_appointments(
    referral_id: str, principal: PrincipalDep, session: SessionDep, cipher: CipherDep
) -> Items[AppointmentOut]:
    items = await service.list_appointments(session, principal, referral_id, cipher)
    return Items[AppointmentOut](items=items)


@router.post(
    "/{referral_id}/appointments/{appointment_id}/attendance",
    summary="Record attendance (kehadiran), once",
    description="`attended`, `late`, `missed` or `cancelled`, once only (409 "
    "`ATTENDANCE_RECORDED`); not before `starts_at` except `cancelled` (409 "
    "`APPOINTMENT_NOT_DUE`; `ATTENDANCE_RECORDED` is checked first). An unknown appointment "
    "is 404 `APPOINTMENT_NOT_FOUND`. `missed` emits `referral.appointment_missed` instead "
    "of `referral.attendance_recorded`. "
    + _write_text(RecordKind.attendance, "referral.attendance_recorded"),
)
async def post_attendance(
    referral_id: str,
    appointment_id: str,
    principal: PrincipalDep,
    body: Annotated[AttendanceRequest, Body(openapi_examples=ATTENDANCE_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    clock: ClockDep,
) -> AppointmentOut:
    return await service.record_attendance(
        session, principal, referral_id, appointment_id, body, clock, cipher
    )


@router.post(
    "/{referral_id}/services",
    status_code=201,
    summary="Record a service delivered (layanan ATENSI)",
    description="The ATENSI component delivered, when (not in the future, not before the "
    "referral was created: `INVALID_DATE`) and, optionally, the plan goal it served "
    "(`UNKNOWN_GOAL` when the plan has no such goal). Only while `in_service`. "
    + _write_text(RecordKind.service, "referral.service_recorded"),
)
async def post_service(
    referral_id: str,
    principal: PrincipalDep,
    body: Annotated[ServiceRequest, Body(openapi_examples=SERVICE_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    clock: ClockDep,
) -> ServiceOut:
    return await service.record_service(session, principal, referral_id, body, clock, cipher)


@router.get(
    "/{referral_id}/services",
    summary="The services delivered, newest first",
    description=_READ_FIELD_WORKERS.format(action="referral.services.read"),
)
async def get_services(
    referral_id: str, principal: PrincipalDep, session: SessionDep, cipher: CipherDep
) -> Items[ServiceOut]:
    items = await service.list_services(session, principal, referral_id, cipher)
    return Items[ServiceOut](items=items)


@router.post(
    "/{referral_id}/notes",
    status_code=201,
    summary="Write a note (catatan) for the other agencies",
    description="Every party that reads the referral writes notes, in any status (a closed "
    "referral too). `audience`: `all` (every party that reads the referral, whatever the "
    "consent discloses: keep health details out) or `kemensos` (Kemensos and the assigned "
    "sentra only; only they may write it, others get 422 `INVALID_VALUE` at `/audience`). "
    "The body is stored encrypted, never logged, never in an event or in history (history "
    "keeps only that a note was added), and erased by retention and by a consent "
    "withdrawal. Emits `referral.note_added` (to those who may read the note). Audited "
    "(`referral.note`).",
)
async def post_note(
    referral_id: str,
    principal: PrincipalDep,
    body: Annotated[NoteRequest, Body(openapi_examples=NOTE_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    clock: ClockDep,
) -> NoteOut:
    return await service.write_note(session, principal, referral_id, body, clock, cipher)


@router.get(
    "/{referral_id}/notes",
    summary="The notes the caller may read, newest first",
    description="The prison and the Bapas read the `all` notes; Kemensos and the assigned "
    "sentra read every note (a sentra assigned later reads the earlier ones). "
    + _READ_ALL.format(action="referral.notes.read"),
    responses=answer(NOTES_ANSWER),
)
async def get_notes(
    referral_id: str, principal: PrincipalDep, session: SessionDep, cipher: CipherDep
) -> Items[NoteOut]:
    items = await service.list_notes(session, principal, referral_id, cipher)
    return Items[NoteOut](items=items)


@router.get(
    "/{referral_id}/report",
    summary="The end-of-service report (laporan akhir layanan)",
    description="Assembled from the close (`outcome`, `closed_at`, the report's `summary` "
    "and each goal's `result`), the plan's goals and the services delivered per ATENSI "
    "component. 404 `NO_REPORT` before a `close`; after a close without a report "
    "`summary` is null and `goals` is `[]`; a goal the report gave no result has `result` "
    "null. " + _READ_ALL.format(action="referral.report.read"),
    responses=answer(REPORT_ANSWER),
)
async def get_report(
    referral_id: str, principal: PrincipalDep, session: SessionDep, cipher: CipherDep
) -> ReportOut:
    return await service.read_report(session, principal, referral_id, cipher)
