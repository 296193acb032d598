"""Firing the moments (SPEC §7) that came due: `rujukan worker`, or `serve` in-process on
the embedded default, runs `run` beside the webhook relay.

Each pass reads the referrals whose `next_moment_at` has come, from its partial index
(only referrals with a moment to come are in it), in small transactions; on PostgreSQL
rows another scheduler holds are skipped (`SKIP LOCKED`), so several workers share the
work. A moment is written to `referral_moments` with `ON CONFLICT DO NOTHING` and its event
to the outbox only if that row was new: the unique key, not timing, makes it fire once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import cast

from sqlalchemy import Select, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock, utcnow
from app.core.config import Settings
from app.core.db import Database, insert_or_skip
from app.referrals.changes import outbox_row
from app.referrals.models import OutboxEvent, Referral, ReferralMoment
from app.referrals.moments import Facts, Rules, schedule

log = logging.getLogger("rujukan.moments")

BATCH = 200
MOMENTS = cast(Table, ReferralMoment.__table__)
OUTBOX = cast(Table, OutboxEvent.__table__)


def rules_of(settings: Settings) -> Rules:
    return Rules(settings.tz, settings.triage_days, settings.stall_days)


def facts_of(referral: Referral) -> Facts:
    return Facts(
        status=referral.status,
        custody_status=referral.custody_status,
        reason_code=referral.reason_code,
        handover_date=referral.handover_date,
        created_at=referral.created_at,
        last_activity_at=referral.last_activity_at,
        closed_at=referral.closed_at,
        outcome=referral.outcome,
        follow_ups_done=referral.follow_ups_done,
        moments_from=referral.moments_from,
        consent_withdrawn=referral.consent_withdrawn_at is not None,
    )


def due_query(now: dt.datetime, *, postgresql: bool) -> Select[Referral]:
    """The referrals whose next moment has come, oldest first, from the partial index; on
    PostgreSQL those another scheduler holds are skipped."""
    query = (
        select(Referral)
        .where(Referral.next_moment_at <= now)
        .order_by(Referral.next_moment_at)
        .limit(BATCH)
    )
    return query.with_for_update(skip_locked=True) if postgresql else query


async def _fire_batch(session: AsyncSession, rules: Rules, now: dt.datetime) -> tuple[int, int]:
    """One batch of due referrals: (referrals looked at, moments fired)."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    referrals = list((await session.execute(due_query(now, postgresql=postgresql))).scalars())
    fired = 0
    for referral in referrals:
        due, upcoming = schedule(facts_of(referral), rules, now)
        for moment in due:
            inserted = await session.execute(
                insert_or_skip(session, MOMENTS, "referral_id", "moment", "occurrence").returning(
                    MOMENTS.c.id
                ),
                {
                    "referral_id": referral.id,
                    "moment": moment.moment.value,
                    "occurrence": moment.occurrence,
                    "due_at": moment.due_at,
                    "fired_at": now,
                },
            )
            if inserted.first() is not None:
                await session.execute(
                    OUTBOX.insert(),
                    outbox_row(referral, moment.moment, Clock(now, rules.tz), referral.status),
                )
                fired += 1
        referral.next_moment_at = upcoming
    return len(referrals), fired


async def fire_due(db: Database, rules: Rules, now: dt.datetime) -> int:
    """Every moment due at `now`, in transactions of up to `BATCH` referrals: the number
    fired (by this scheduler; another's are not counted)."""
    fired = 0
    while True:
        async with db.transaction() as session:
            seen, batch_fired = await _fire_batch(session, rules, now)
        fired += batch_fired
        if seen < BATCH:
            return fired


async def run(
    db: Database,
    settings: Settings,
    stop: asyncio.Event,
    *,
    now: Callable[[], dt.datetime] = utcnow,
) -> None:
    """Until `stop` is set: fire what came due, every `RUJUKAN_MOMENT_INTERVAL_SECONDS`.
    A failing pass is logged and retried at the next."""
    rules = rules_of(settings)
    interval = settings.moment_interval_seconds
    log.info("moment scheduler started")
    while not stop.is_set():
        try:
            fired = await fire_due(db, rules, now())
            if fired:
                log.info("moments fired", extra={"fields": {"count": fired}})
        except Exception:
            log.error("moment scheduler pass failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    log.info("moment scheduler stopped")
