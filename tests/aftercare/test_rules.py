"""The aftercare rules (SPEC §11) as pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from app.aftercare import rules
from app.auth.roles import Role

D = dt.date


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2026, 1, 15), 3, D(2026, 4, 15)),
        (D(2026, 11, 30), 3, D(2027, 2, 28)),  # 30 February does not exist: its last day
        (D(2027, 11, 30), 3, D(2028, 2, 29)),  # a leap year's
        (D(2026, 8, 31), 6, D(2027, 2, 28)),
        (D(2026, 3, 31), 3, D(2026, 6, 30)),
        (D(2026, 12, 31), 12, D(2027, 12, 31)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),
    ],
)
def test_months_fall_back_to_the_last_day(day: dt.date, months: int, expected: dt.date) -> None:
    assert rules.add_months(day, months) == expected


def test_follow_ups_are_due_at_3_6_and_12_months() -> None:
    assert rules.due_dates(D(2026, 5, 31)) == (D(2026, 8, 31), D(2026, 11, 30), D(2027, 5, 31))
    assert rules.next_due(D(2026, 5, 31), 0) == D(2026, 8, 31)
    assert rules.next_due(D(2026, 5, 31), 2) == D(2027, 5, 31)
    assert rules.next_due(D(2026, 5, 31), 3) is None
    assert rules.next_due(None, 0) is None


@pytest.mark.parametrize(
    ("status", "outcome", "done", "code"),
    [
        ("closed", "completed", 0, None),
        ("closed", "completed", 2, None),
        ("closed", "completed", 3, "AFTERCARE_COMPLETE"),
        ("closed", "ended_early", 0, "NO_AFTERCARE"),
        ("closed", "declined_by_person", 0, "NO_AFTERCARE"),
        ("in_service", None, 0, "NO_AFTERCARE"),
        ("rejected", None, 0, "NO_AFTERCARE"),
    ],
)
def test_only_a_completed_close_has_three_follow_ups(
    status: str, outcome: str | None, done: int, code: str | None
) -> None:
    assert rules.refusal(status, outcome, done) == code


def test_who_may_record() -> None:
    assert rules.may_record(Role.kemensos, own_sentra=False)
    assert rules.may_record(Role.sentra, own_sentra=True)
    assert not rules.may_record(Role.sentra, own_sentra=False)
    for role in (Role.prison, Role.bapas, Role.auditor, Role.admin):
        assert not rules.may_record(role, own_sentra=True)


def test_done_on_lies_between_the_close_and_today() -> None:
    closed, today = D(2026, 6, 1), D(2026, 9, 1)
    assert rules.date_errors(D(2026, 6, 1), closed, today) == []
    assert rules.date_errors(today, closed, today) == []
    (late,) = rules.date_errors(D(2026, 9, 2), closed, today)
    (early,) = rules.date_errors(D(2026, 5, 31), closed, today)
    assert (late.code, late.pointer) == (early.code, early.pointer) == ("INVALID_DATE", "/done_on")
