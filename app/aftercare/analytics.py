"""How long things take, and arrivals ahead (SPEC §11), computed by the database.

Durations: for each step, the database counts the referrals that took it per day bucket
(days rounded to one decimal: the precision the answer has) and group; the median and the
90th percentile are read off those counts (linear interpolation between the two nearest
values, as PostgreSQL's `percentile_cont`), so a million referrals travel as a few
thousand (bucket, count) rows. The times are the ones kept on the referral (when it first
entered each state), never the history. Those counts come from the histogram that
triggers keep per step, bucket, sentra and province (`referral_duration_counts`,
migration 0008_durations, same bucket expressions) when the request filters and groups by
nothing else; otherwise from a scan of the referrals (a partial covering index).

Forecast: the coverage's referrals by ISO week of their handover date, and the acceptance
rate of the coverage's last 365 days, both from the `(regency_code, created_at)` index.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect, Select

from app.aftercare.models import ReferralDurationCount, ReferralDurationZone
from app.aftercare.schemas import (
    DurationGroup,
    Durations,
    DurationSteps,
    Forecast,
    ForecastWeek,
    StepDuration,
)
from app.auth.roles import Role
from app.referrals.domain import TERMINAL
from app.referrals.models import Referral, ReferralPasCategory
from app.referrals.queries import QueryContext, ReferralFilters, conditions


class DurationGroupBy(StrEnum):
    sentra_code = "sentra_code"
    province_code = "province_code"
    pas_category = "pas_category"


STEPS = (
    "received_accepted",
    "accepted_assigned",
    "assigned_in_service",
    "in_service_closed",
    "handover_in_service",
)


def _days(dialect: str, start: Any, end: Any) -> Any:
    """Days from `start` to `end` (timestamps), as a float."""
    if dialect == "postgresql":
        # date_part, not EXTRACT: EXTRACT's numeric made a million rows 3x slower.
        return func.date_part("epoch", end - start) / 86400.0
    return func.julianday(end) - func.julianday(start)


def _days_from_local_midnight(dialect: str, day: Any, end: Any, tz: dt.tzinfo) -> Any:
    """Days from the local start of `day` (a date, in RUJUKAN_TIMEZONE) to `end`."""
    if dialect == "postgresql":
        zone = getattr(tz, "key", "UTC")
        midnight = func.timezone(literal(zone, literal_execute=True), cast(day, DateTime()))
        return func.date_part("epoch", end - midnight) / 86400.0
    # SQLite: Indonesia's zones keep one offset all year (no daylight saving time).
    offset = (tz.utcoffset(dt.datetime(2026, 1, 1)) or dt.timedelta()).total_seconds()
    return func.julianday(end) - func.julianday(day) + offset / 86400.0


def _step_days(dialect: str, tz: dt.tzinfo) -> dict[str, tuple[ColumnElement[bool], Any]]:
    """Each step: which referrals took it, and how many days it took them. Every step
    comes after `accept`, so each names `accepted_at IS NOT NULL`: the partial covering
    index `ix_referrals_durations` then answers every part of the query."""
    r = Referral
    accepted = r.accepted_at.is_not(None)
    return {
        "received_accepted": (accepted, _days(dialect, r.created_at, r.accepted_at)),
        "accepted_assigned": (
            and_(accepted, r.assigned_at.is_not(None)),
            _days(dialect, r.accepted_at, r.assigned_at),
        ),
        "assigned_in_service": (
            and_(accepted, r.assigned_at.is_not(None), r.in_service_at.is_not(None)),
            _days(dialect, r.assigned_at, r.in_service_at),
        ),
        "in_service_closed": (
            and_(accepted, r.in_service_at.is_not(None), r.closed_at.is_not(None)),
            _days(dialect, r.in_service_at, r.closed_at),
        ),
        "handover_in_service": (
            and_(accepted, r.in_service_at.is_not(None)),
            _days_from_local_midnight(dialect, r.handover_date, r.in_service_at, tz),
        ),
    }


def percentile(buckets: Sequence[tuple[int, int]], p: float) -> float:
    """The `p` quantile (linear interpolation, as `percentile_cont`) of the values that
    `buckets` — (value, count), sorted by value — hold."""
    total = sum(count for _, count in buckets)
    position = p * (total - 1)
    low, high = math.floor(position), math.ceil(position)

    def at(index: int) -> int:
        seen = 0
        for value, count in buckets:
            seen += count
            if index < seen:
                return value
        raise IndexError(index)

    low_value = at(low)
    return low_value + (position - low) * (at(high) - low_value)


def step_duration(buckets: Sequence[tuple[int, int]]) -> StepDuration:
    """Buckets in tenths of days → count, median and p90 in days (one decimal)."""
    count = sum(c for _, c in buckets)
    if count == 0:
        return StepDuration(count=0, median_days=None, p90_days=None)
    ordered = sorted(buckets)
    return StepDuration(
        count=count,
        median_days=round(percentile(ordered, 0.5) / 10, 1),
        p90_days=round(percentile(ordered, 0.9) / 10, 1),
    )


def durations_query(
    filters: ReferralFilters,
    ctx: QueryContext,
    group_by: DurationGroupBy | None,
    dialect: str,
) -> CompoundSelect[Any]:
    """(step, key, bucket, n): per step and group, how many referrals took the step in
    each tenth of a day."""
    where = conditions(filters, ctx)
    source: Any = Referral.__table__
    key: Any
    if group_by is DurationGroupBy.pas_category:
        source = source.join(
            ReferralPasCategory.__table__, ReferralPasCategory.referral_id == Referral.id
        )
        key = ReferralPasCategory.code
    elif group_by is DurationGroupBy.sentra_code:
        key = Referral.sentra_code
    elif group_by is DurationGroupBy.province_code:
        key = Referral.province_code
    else:
        key = literal_column("''")
    parts = []
    for step, (took, days) in _step_days(dialect, ctx.tz).items():
        bucket = cast(func.round(days * 10), Integer)
        parts.append(
            select(
                literal(step).label("step"),
                key.label("key"),
                bucket.label("bucket"),
                func.count().label("n"),
            )
            .select_from(source)
            .where(*where, took)
            .group_by(*([key] if group_by is not None else []), bucket)
        )
    return union_all(*parts)


def histogram_answers(filters: ReferralFilters, group_by: DurationGroupBy | None) -> bool:
    """Whether the kept histogram holds the answer: filters and groups by sentra and
    province only (for a caller who sees every referral: the route is Kemensos')."""
    only_keys = ReferralFilters(
        province_code=filters.province_code, sentra_code=filters.sentra_code
    )
    return filters == only_keys and group_by is not DurationGroupBy.pas_category


def histogram_query(filters: ReferralFilters, group_by: DurationGroupBy | None) -> Select[Any]:
    """(step, key, bucket, n) from the kept histogram, as `durations_query` answers it."""
    c = ReferralDurationCount
    key: Any
    if group_by is DurationGroupBy.sentra_code:
        key = c.sentra_code
    elif group_by is DurationGroupBy.province_code:
        key = c.province_code
    else:
        key = literal_column("''")
    where = [c.n > 0]
    if filters.province_code:
        where.append(c.province_code.in_(sorted(set(filters.province_code))))
    if filters.sentra_code:
        where.append(c.sentra_code.in_(sorted(set(filters.sentra_code))))
    return (
        select(c.step, key.label("key"), c.bucket, func.sum(c.n).label("n"))
        .where(*where)
        .group_by(c.step, *([key] if group_by is not None else []), c.bucket)
    )


async def histogram_zone(session: AsyncSession) -> str | None:
    return (await session.execute(select(ReferralDurationZone.zone))).scalars().first()


async def durations(
    session: AsyncSession,
    filters: ReferralFilters,
    ctx: QueryContext,
    group_by: DurationGroupBy | None,
    *,
    scan: bool = False,
) -> Durations:
    """The durations (SPEC §11); `scan`: from the referrals even when the histogram holds
    the answer (tests compare the two)."""
    query: Any
    kept = (
        not scan
        and ctx.principal.role is Role.kemensos
        and histogram_answers(filters, group_by)
        and await histogram_zone(session) == getattr(ctx.tz, "key", None)
    )
    if kept:
        query = histogram_query(filters, group_by)
    else:
        query = durations_query(filters, ctx, group_by, session.get_bind().dialect.name)
    histogram: dict[Any, dict[str, list[tuple[int, int]]]] = defaultdict(
        lambda: {step: [] for step in STEPS}
    )
    for row in await session.execute(query):
        # The histogram keeps "no sentra" as ''.
        key = (
            None if kept and group_by is DurationGroupBy.sentra_code and row.key == "" else row.key
        )
        histogram[key][row.step].append((row.bucket, int(row.n)))
    if group_by is None and not histogram:
        histogram[""]  # one group, every step with count 0
    groups = [
        DurationGroup(
            key={} if group_by is None else {group_by.value: group_key},
            steps=DurationSteps(**{s: step_duration(b) for s, b in steps.items()}),
        )
        for group_key, steps in sorted(
            histogram.items(), key=lambda item: (item[0] is None, item[0] or "")
        )
    ]
    return Durations(groups=groups)


@dataclass(frozen=True, slots=True)
class Week:
    label: str
    starts_on: dt.date


def weeks_from(today: dt.date, count: int) -> list[Week]:
    """`count` ISO weeks from the one holding `today`."""
    monday = today - dt.timedelta(days=today.weekday())
    out = []
    for i in range(count):
        start = monday + dt.timedelta(weeks=i)
        year, week, _ = start.isocalendar()
        out.append(Week(f"{year}-W{week:02d}", start))
    return out


def acceptance_rate(accepted: int, rejected: int) -> float:
    """Accepted from `received` over accepted or rejected from it; 1.0 without history."""
    decided = accepted + rejected
    return 1.0 if decided == 0 else accepted / decided


async def forecast(
    session: AsyncSession,
    sentra_code: str,
    coverage: Sequence[str],
    today: dt.date,
    now: dt.datetime,
    weeks: int,
) -> Forecast:
    span = weeks_from(today, weeks)
    regencies = sorted(set(coverage))
    r = Referral
    scheduled: dict[dt.date, int] = defaultdict(int)
    accepted = rejected = 0
    if regencies:
        first, end = span[0].starts_on, span[-1].starts_on + dt.timedelta(days=7)
        rows = await session.execute(
            select(r.handover_date, func.count())
            .where(
                r.regency_code.in_(regencies),
                r.status.not_in(sorted(s.value for s in TERMINAL)),
                r.handover_date >= first,
                r.handover_date < end,
            )
            .group_by(r.handover_date)
        )
        for day, count in rows:
            scheduled[day - dt.timedelta(days=day.weekday())] += count
        decided = (
            await session.execute(
                select(
                    func.count(r.accepted_at),
                    func.count(case((and_(r.status == "rejected", r.accepted_at.is_(None)), 1))),
                ).where(r.regency_code.in_(regencies), r.created_at >= now - dt.timedelta(days=365))
            )
        ).one()
        accepted, rejected = int(decided[0]), int(decided[1])
    # Rounded before use: `expected` is what a reader gets from the two figures shown.
    rate = round(acceptance_rate(accepted, rejected), 3)
    return Forecast(
        sentra_code=sentra_code,
        acceptance_rate=rate,
        weeks=[
            ForecastWeek(
                week=w.label,
                starts_on=w.starts_on,
                scheduled=scheduled[w.starts_on],
                expected=round(scheduled[w.starts_on] * rate, 1),
            )
            for w in span
        ],
    )
