"""The rules of the rehabilitation record (SPEC §10), without a database."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from cryptography.exceptions import InvalidTag

from app.auth.roles import Role
from app.core.crypto import DataCipher
from app.reference.catalogue import AtensiComponent as C
from app.referrals.domain import ChangeType, Status
from app.rehab import texts
from app.rehab.domain import (
    Attendance,
    Goal,
    GoalRequest,
    GoalResult,
    RecordKind,
    ReportRequest,
    assessment_errors,
    attendance_event,
    attendance_refusal,
    audiences,
    ended,
    is_upcoming,
    may_read,
    may_write,
    plan_goals,
    record_events,
    report_errors,
    report_goals,
    service_counts,
    service_errors,
    state_refused,
)

TODAY = dt.date(2026, 12, 3)
NOW = dt.datetime(2026, 12, 3, 5, tzinfo=dt.UTC)


def codes(errors: list) -> list[tuple[str, str | None]]:  # type: ignore[type-arg]
    return [(e.code, e.pointer) for e in errors]


@pytest.mark.parametrize("kind", [RecordKind.assessment, RecordKind.plan, RecordKind.service])
def test_the_prison_and_the_bapas_read_no_assessment_plan_or_service(kind: RecordKind) -> None:
    assert may_read(kind, Role.kemensos) and may_read(kind, Role.sentra)
    assert not may_read(kind, Role.prison) and not may_read(kind, Role.bapas)


@pytest.mark.parametrize("kind", [RecordKind.appointment, RecordKind.note, RecordKind.report])
def test_every_reader_reads_appointments_notes_and_the_report(kind: RecordKind) -> None:
    assert all(may_read(kind, r) for r in (Role.kemensos, Role.sentra, Role.prison, Role.bapas))
    assert not may_read(kind, Role.auditor) and not may_read(kind, Role.admin)


def test_only_notes_are_written_by_the_prison_and_the_bapas() -> None:
    for kind in RecordKind:
        for role in (Role.prison, Role.bapas):
            assert may_write(kind, role) == (kind is RecordKind.note)
    assert not may_write(RecordKind.report, Role.kemensos)  # the close writes it


@pytest.mark.parametrize("status", [Status.closed, Status.rejected, Status.cancelled])
def test_a_terminal_referral_takes_notes_only(status: Status) -> None:
    assert not ended(RecordKind.note, status)
    assert all(ended(k, status) for k in RecordKind if k is not RecordKind.note)


def test_the_states_each_record_is_open_in() -> None:
    for status in (Status.accepted, Status.assigned, Status.in_service, Status.on_hold):
        assert not state_refused(RecordKind.assessment, status)
        assert not state_refused(RecordKind.plan, status)
        assert not state_refused(RecordKind.appointment, status)
        assert state_refused(RecordKind.service, status) == (status is not Status.in_service)
    assert state_refused(RecordKind.assessment, Status.received)
    assert not state_refused(RecordKind.note, Status.received)


def test_kemensos_notes_are_for_kemensos_and_the_sentra() -> None:
    assert {a.value for a in audiences(Role.kemensos)} == {"all", "kemensos"}
    assert {a.value for a in audiences(Role.sentra)} == {"all", "kemensos"}
    assert {a.value for a in audiences(Role.prison)} == {"all"}
    assert {a.value for a in audiences(Role.bapas)} == {"all"}


def test_assessment_rules() -> None:
    assert assessment_errors(TODAY, [C.terapi, C.hidup_layak], TODAY) == []
    errors = assessment_errors(TODAY + dt.timedelta(days=1), [C.terapi, C.terapi], TODAY)
    assert codes(errors) == [
        ("INVALID_DATE", "/assessed_on"),
        ("INVALID_VALUE", "/needs/1/component"),
    ]


def test_plan_goals_keep_add_and_remove_by_id() -> None:
    a, b, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    current = [Goal(a, C.terapi, "x", None), Goal(b, C.hidup_layak, "KTP", None)]
    goals, errors = plan_goals(
        current,
        [GoalRequest(b, C.hidup_layak, "KTP dan KK", None), GoalRequest(None, C.terapi, "y", None)],
        [new],
    )
    assert errors == []
    assert [(g.id, g.description) for g in goals] == [(b, "KTP dan KK"), (new, "y")]


def test_plan_goals_refuse_unknown_and_repeated_ids() -> None:
    a = uuid.uuid4()
    _, errors = plan_goals(
        [Goal(a, C.terapi, "x", None)],
        [
            GoalRequest(uuid.uuid4(), C.terapi, "x", None),
            GoalRequest(a, C.terapi, "x", None),
            GoalRequest(a, C.terapi, "x", None),
        ],
        [],
    )
    assert codes(errors) == [("UNKNOWN_GOAL", "/goals/0/id"), ("INVALID_VALUE", "/goals/2/id")]


def test_service_rules() -> None:
    goal = uuid.uuid4()
    ok = service_errors(
        TODAY, goal, today=TODAY, referral_created_on=TODAY, plan_goal_ids=frozenset({goal})
    )
    assert ok == []
    future = service_errors(
        TODAY + dt.timedelta(days=1),
        uuid.uuid4(),
        today=TODAY,
        referral_created_on=TODAY,
        plan_goal_ids=frozenset(),
    )
    assert codes(future) == [("INVALID_DATE", "/delivered_on"), ("UNKNOWN_GOAL", "/goal_id")]
    early = service_errors(
        TODAY - dt.timedelta(days=1),
        None,
        today=TODAY,
        referral_created_on=TODAY,
        plan_goal_ids=frozenset(),
    )
    assert codes(early) == [("INVALID_DATE", "/delivered_on")]


def test_attendance_once_and_not_before_the_start_except_a_cancellation() -> None:
    later = NOW + dt.timedelta(hours=1)
    assert attendance_refusal(None, NOW, Attendance.attended, NOW) is None
    assert attendance_refusal(None, later, Attendance.missed, NOW) == "APPOINTMENT_NOT_DUE"
    assert attendance_refusal(None, later, Attendance.cancelled, NOW) is None
    # ATTENDANCE_RECORDED comes before APPOINTMENT_NOT_DUE
    assert attendance_refusal("cancelled", later, Attendance.attended, NOW) == (
        "ATTENDANCE_RECORDED"
    )
    assert attendance_event(Attendance.missed) is ChangeType.appointment_missed
    assert attendance_event(Attendance.late) is ChangeType.attendance_recorded


def test_the_next_appointment_is_not_started_and_not_cancelled() -> None:
    assert is_upcoming(NOW + dt.timedelta(minutes=1), None, NOW)
    assert not is_upcoming(NOW, None, NOW)
    assert not is_upcoming(NOW + dt.timedelta(days=1), "cancelled", NOW)


def test_a_report_is_required_for_completed_and_ended_early() -> None:
    for outcome in ("completed", "ended_early"):
        assert codes(report_errors(outcome, None, [])) == [("REPORT_REQUIRED", "/report")]
    assert report_errors("unreachable", None, [uuid.uuid4()]) == []
    assert report_errors("completed", ReportRequest("ok", []), []) == []


def test_a_report_gives_each_goal_of_the_plan_a_result() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    partial = ReportRequest("s", [(a, GoalResult.achieved)])
    assert codes(report_errors("completed", partial, [a, b])) == [
        ("REPORT_INCOMPLETE", "/report/goals")
    ]
    # another outcome keeps a partial report
    assert report_errors("deceased", partial, [a, b]) == []
    stray = ReportRequest("s", [(uuid.uuid4(), GoalResult.achieved), (a, GoalResult.achieved)])
    assert codes(report_errors("ended_early", stray, [a])) == [
        ("UNKNOWN_GOAL", "/report/goals/0/goal_id")
    ]


def test_report_goals_and_service_counts() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    goals = [Goal(a, C.terapi, "x", None), Goal(b, C.hidup_layak, "y", None)]
    assert [r for _, r in report_goals(goals, {str(a): "achieved"})] == ["achieved", None]
    counts = service_counts(["terapi", "terapi", "hidup_layak"])
    assert counts["terapi"] == 2 and counts["hidup_layak"] == 1 and counts["aksesibilitas"] == 0
    assert len(counts) == 7


def test_texts_are_bound_to_their_record() -> None:
    cipher = DataCipher(os.urandom(32))
    rid = uuid.uuid4()
    sealed = texts.seal(cipher, "note", rid, {"body": "rahasia", "none": None})
    assert sealed is not None and "rahasia" not in sealed
    assert texts.open_(cipher, "note", rid, sealed) == {"body": "rahasia"}
    assert texts.seal(cipher, "note", rid, {"x": None}) is None
    with pytest.raises(InvalidTag):
        texts.open_(cipher, "note", uuid.uuid4(), sealed)
    body = texts.seal_text(cipher, "note", rid, "isi catatan")
    assert texts.open_text(cipher, "note", rid, body) == "isi catatan"
    assert texts.open_text(cipher, "note", rid, None) is None


def test_each_write_names_its_event() -> None:
    assert record_events(RecordKind.assessment) == (ChangeType.assessment_recorded,)
    assert record_events(RecordKind.plan) == (ChangeType.plan_updated,)
    assert record_events(RecordKind.appointment) == (ChangeType.appointment_scheduled,)
    assert record_events(RecordKind.service) == (ChangeType.service_recorded,)
    assert record_events(RecordKind.note) == (ChangeType.note_added,)
    assert record_events(RecordKind.attendance, Attendance.missed) == (
        ChangeType.appointment_missed,
    )
    assert record_events(RecordKind.attendance, Attendance.cancelled) == (
        ChangeType.attendance_recorded,
    )
