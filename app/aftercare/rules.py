"""Aftercare (bimbingan lanjut, SPEC §11) as rules: when follow-ups are due, who may record
one, what it may say. Pure: no I/O."""

from __future__ import annotations

import calendar
import datetime as dt
from enum import StrEnum

from app.auth.roles import Role
from app.core.errors import FieldError
from app.core.i18n import msg

# Months after the local date of the close at which a follow-up is due.
FOLLOW_UP_MONTHS = (3, 6, 12)


class Contact(StrEnum):
    reached = "reached"
    unreachable = "unreachable"


class Housing(StrEnum):
    stable = "stable"
    unstable = "unstable"
    homeless = "homeless"
    unknown = "unknown"


class Work(StrEnum):
    employed = "employed"
    self_employed = "self_employed"
    in_training = "in_training"
    unemployed = "unemployed"
    unknown = "unknown"


class Family(StrEnum):
    living_with = "living_with"
    in_contact = "in_contact"
    no_contact = "no_contact"
    unknown = "unknown"


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole months; a day the month lacks falls back to its last day."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(closed_on: dt.date) -> tuple[dt.date, ...]:
    return tuple(add_months(closed_on, m) for m in FOLLOW_UP_MONTHS)


def next_due(closed_on: dt.date | None, done: int) -> dt.date | None:
    """The earliest follow-up still due after `done` were recorded (null after the last)."""
    if closed_on is None or done >= len(FOLLOW_UP_MONTHS):
        return None
    return due_dates(closed_on)[done]


def has_aftercare(status: str, outcome: str | None) -> bool:
    return status == "closed" and outcome == "completed"


def refusal(status: str, outcome: str | None, done: int) -> str | None:
    """The 409 a new follow-up gets, if any: only a `completed` close has aftercare, and
    it has three follow-ups."""
    if not has_aftercare(status, outcome):
        return "NO_AFTERCARE"
    if done >= len(FOLLOW_UP_MONTHS):
        return "AFTERCARE_COMPLETE"
    return None


def may_record(role: Role, own_sentra: bool) -> bool:
    """Kemensos, or the sentra the referral was last assigned to (the one that closed it,
    or, when Kemensos closed it, the last one that served it)."""
    return role is Role.kemensos or (role is Role.sentra and own_sentra)


def date_errors(done_on: dt.date, closed_on: dt.date, today: dt.date) -> list[FieldError]:
    if done_on > today:
        return [FieldError("INVALID_DATE", msg("must not lie in the future"), "/done_on")]
    if done_on < closed_on:
        return [
            FieldError(
                "INVALID_DATE",
                msg("must not lie before the close ({closed_on})", closed_on=closed_on.isoformat()),
                "/done_on",
            )
        ]
    return []
