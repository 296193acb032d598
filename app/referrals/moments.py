"""The moments of a referral (SPEC §7): events that fire when their time comes, not when
someone calls. Pure: which moments are due at a given time, and when to look again;
`app/referrals/scheduler.py` fires them.

Each moment has an occurrence key; the database keeps one row per (referral, moment,
occurrence), so a moment fires once however many schedulers run. A stalled referral is
stalled again after each further period: its key is the period's start and number, and a
scheduler that was down for several periods fires the latest one only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from app.aftercare import rules as aftercare
from app.referrals.domain import triage_due_at


class Moment(StrEnum):
    handover_reached = "referral.handover_reached"
    triage_overdue = "referral.triage_overdue"
    stalled = "referral.stalled"
    follow_up_due = "referral.follow_up_due"


STALLABLE = frozenset({"assigned", "in_service", "on_hold"})


@dataclass(frozen=True, slots=True)
class Rules:
    tz: dt.tzinfo
    triage_days: int
    stall_days: int


@dataclass(frozen=True, slots=True)
class Facts:
    """What the moments of one referral depend on."""

    status: str
    custody_status: str
    reason_code: str | None
    handover_date: dt.date
    created_at: dt.datetime
    last_activity_at: dt.datetime | None
    closed_at: dt.datetime | None
    outcome: str | None
    follow_ups_done: int
    moments_from: dt.datetime | None
    consent_withdrawn: bool = False  # SPEC §12: nothing more happens about the person


@dataclass(frozen=True, slots=True)
class Due:
    moment: Moment
    occurrence: str
    due_at: dt.datetime


def _midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def _candidates(facts: Facts, rules: Rules, now: dt.datetime) -> list[Due]:
    """Every moment of the referral's present state, due or not, each with its time."""
    out: list[Due] = []
    if facts.consent_withdrawn:
        return out
    if facts.custody_status == "released" and facts.status != "cancelled":
        out.append(Due(Moment.handover_reached, "", _midnight(facts.handover_date, rules.tz)))
    if facts.status == "received":
        at = triage_due_at(facts.handover_date, rules.triage_days, rules.tz)
        out.append(Due(Moment.triage_overdue, "", at))
    held_in_custody = facts.status == "on_hold" and facts.reason_code == "returned_to_custody"
    if facts.status in STALLABLE and not held_in_custody:
        anchor = facts.last_activity_at or facts.created_at
        period = dt.timedelta(days=rules.stall_days)
        periods = max(1, int((now - anchor) / period))
        key = f"{anchor.astimezone(dt.UTC):%Y%m%dT%H%M%S}/{periods}"
        out.append(Due(Moment.stalled, key, anchor + periods * period))
    if aftercare.has_aftercare(facts.status, facts.outcome) and facts.closed_at is not None:
        closed_on = facts.closed_at.astimezone(rules.tz).date()
        for number, day in enumerate(aftercare.due_dates(closed_on), start=1):
            if number > facts.follow_ups_done:
                out.append(Due(Moment.follow_up_due, str(number), _midnight(day, rules.tz)))
    return out


def schedule(facts: Facts, rules: Rules, now: dt.datetime) -> tuple[list[Due], dt.datetime | None]:
    """The moments due at `now` (to fire unless they fired already), and the next time one
    will be (null: none to come in this state). Moments due before `moments_from` never
    fire (`rujukan import`, referrals stored before moments existed)."""
    due: list[Due] = []
    upcoming: list[dt.datetime] = []
    for candidate in _candidates(facts, rules, now):
        if candidate.due_at > now:
            upcoming.append(candidate.due_at)
        elif facts.moments_from is None or candidate.due_at >= facts.moments_from:
            due.append(candidate)
        if candidate.moment is Moment.stalled and candidate.due_at <= now:
            # A stalled referral is stalled again one period later.
            upcoming.append(candidate.due_at + dt.timedelta(days=rules.stall_days))
    return due, min(upcoming, default=None)
