"""Which moments are due, and when to look again (SPEC §7), as a pure function."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from app.referrals.moments import Facts, Rules, schedule

JAKARTA = dt.timezone(dt.timedelta(hours=7))
RULES = Rules(tz=JAKARTA, triage_days=14, stall_days=30)
T0 = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)
BASE = Facts(
    status="received",
    custody_status="in_custody",
    reason_code=None,
    handover_date=dt.date(2026, 6, 10),
    created_at=T0,
    last_activity_at=None,
    closed_at=None,
    outcome=None,
    follow_ups_done=0,
    moments_from=None,
)


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=JAKARTA)


def names(facts: Facts, now: dt.datetime) -> list[tuple[str, str]]:
    due, _ = schedule(facts, RULES, now)
    return [(d.moment.value, d.occurrence) for d in due]


def test_in_custody_only_the_triage_deadline_is_ahead() -> None:
    due, upcoming = schedule(BASE, RULES, T0)
    assert due == []
    assert upcoming == local_midnight(dt.date(2026, 6, 24))  # handover + 14 days


def test_released_twenty_days_ago_handover_and_triage_are_due_at_once() -> None:
    facts = replace(BASE, custody_status="released", handover_date=dt.date(2026, 5, 12))
    assert names(facts, T0) == [
        ("referral.handover_reached", ""),
        ("referral.triage_overdue", ""),
    ]


def test_handover_is_due_at_the_local_start_of_the_day() -> None:
    facts = replace(BASE, custody_status="released", status="accepted")
    just_before = local_midnight(dt.date(2026, 6, 10)) - dt.timedelta(seconds=1)
    assert names(facts, just_before) == []
    assert schedule(facts, RULES, just_before)[1] == local_midnight(dt.date(2026, 6, 10))
    assert names(facts, local_midnight(dt.date(2026, 6, 10))) == [("referral.handover_reached", "")]


def test_no_handover_for_a_cancelled_release_nor_triage_once_accepted() -> None:
    late = T0 + dt.timedelta(days=60)
    assert names(replace(BASE, custody_status="release_cancelled", status="cancelled"), late) == []
    assert names(replace(BASE, status="accepted"), late) == []


def test_stalled_after_each_period_without_activity_and_only_the_latest() -> None:
    facts = replace(BASE, status="assigned", last_activity_at=T0)
    assert names(facts, T0 + dt.timedelta(days=29)) == []
    assert schedule(facts, RULES, T0)[1] == T0 + dt.timedelta(days=30)
    first = names(facts, T0 + dt.timedelta(days=30))
    assert [m for m, _ in first] == ["referral.stalled"]
    # Down for three periods: the latest one fires, and the next is a period later.
    due, upcoming = schedule(facts, RULES, T0 + dt.timedelta(days=100))
    (latest,) = due
    assert latest.occurrence.endswith("/3") and latest.due_at == T0 + dt.timedelta(days=90)
    assert upcoming == T0 + dt.timedelta(days=120)
    # New activity starts a new count.
    again = replace(facts, last_activity_at=T0 + dt.timedelta(days=95))
    assert names(again, T0 + dt.timedelta(days=100)) == []


def test_held_in_custody_never_stalls() -> None:
    facts = replace(BASE, status="on_hold", reason_code="returned_to_custody", last_activity_at=T0)
    assert names(facts, T0 + dt.timedelta(days=400)) == []
    assert schedule(facts, RULES, T0)[1] is None
    held = replace(facts, reason_code="hospitalised")
    assert [m for m, _ in names(held, T0 + dt.timedelta(days=31))] == ["referral.stalled"]


def test_follow_ups_are_due_after_a_completed_close() -> None:
    closed_at = dt.datetime(2026, 5, 31, 20, 0, tzinfo=dt.UTC)  # 1 June in Jakarta
    facts = replace(
        BASE, status="closed", outcome="completed", closed_at=closed_at, custody_status="released"
    )
    facts = replace(facts, handover_date=dt.date(2026, 1, 1), moments_from=closed_at)
    due, upcoming = schedule(facts, RULES, closed_at)
    assert due == [] and upcoming == local_midnight(dt.date(2026, 9, 1))
    assert names(facts, local_midnight(dt.date(2026, 9, 1))) == [("referral.follow_up_due", "1")]
    done_one = replace(facts, follow_ups_done=1)
    assert names(done_one, local_midnight(dt.date(2026, 9, 1))) == []
    assert schedule(done_one, RULES, closed_at)[1] == local_midnight(dt.date(2026, 12, 1))
    ended = replace(facts, outcome="ended_early")
    assert schedule(ended, RULES, closed_at) == ([], None)


def test_nothing_due_before_moments_from_fires() -> None:
    facts = replace(
        BASE,
        custody_status="released",
        handover_date=dt.date(2026, 5, 1),
        moments_from=T0,  # imported at T0, released a month before
    )
    assert names(facts, T0) == []
    # Still received at the triage deadline? That was before the import too.
    assert schedule(facts, RULES, T0)[1] is None


def test_every_event_produced_is_a_type_the_feed_and_subscriptions_know() -> None:
    from app.referrals.domain import ChangeType
    from app.referrals.moments import Moment

    # ChangeType is the one list of §7's types: the scheduler's moments are among them.
    known = {e.value for e in ChangeType}
    assert {e.value for e in Moment} <= known
    assert len(known) == 18


def test_no_moment_after_a_consent_withdrawal() -> None:
    """SPEC §12: nothing more happens about the person, not even a follow-up reminder."""
    completed = replace(
        BASE,
        status="closed",
        custody_status="released",
        handover_date=dt.date(2026, 5, 12),
        closed_at=T0,
        outcome="completed",
    )
    later = T0 + dt.timedelta(days=400)
    assert names(completed, later)  # the handover and three follow-ups
    assert schedule(replace(completed, consent_withdrawn=True), RULES, later) == ([], None)
