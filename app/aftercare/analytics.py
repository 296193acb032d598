"""How long things take, and arrivals ahead (SPEC §11), computed by the database.

Durations: for each step, the database counts the referrals that took it per day bucket
(days rounded to one decimal: the precision the answer has) and group; the median and the
90th percentile are read off those counts (linear interpolation between the two nearest
values, as PostgreSQL's `percentile_cont`), so a million referrals travel as a few
thousand (bucket, count) rows. The times are the ones kept on the referral (when it first
entered each state), never the history. When the request filters and groups by sentra,
province and PAS category only (see `histogram_answers`), the counts come from the
histogram that triggers keep as referrals change (app/aftercare/models.py, migrations
0008_durations and 0009_durations_pas: the same bucket expressions), and only the buckets
of the blocks that hold the percentiles travel; otherwise from a scan of the referrals (a
partial covering index). Both answer the same (a property test).

Forecast: the coverage's referrals by ISO week of their handover date, and the acceptance
rate of the coverage's last 365 days, both from the `(regency_code, created_at)` index.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect, Select

from app.aftercare.models import (
    ALL,
    ReferralDurationBlock,
    ReferralDurationCount,
    ReferralDurationZone,
)
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


QUANTILES = (0.5, 0.9)


def quantile(total: int, at: Callable[[int], int], p: float) -> float:
    """The `p` quantile (linear interpolation, as `percentile_cont`) of `total` ordered
    values, `at(i)` the i-th."""
    position = p * (total - 1)
    low, high = math.floor(position), math.ceil(position)
    low_value = at(low)
    return low_value + (position - low) * (at(high) - low_value)


def percentile(buckets: Sequence[tuple[int, int]], p: float) -> float:
    """The `p` quantile of the values that `buckets` — (value, count), sorted by value —
    hold."""
    return quantile(sum(count for _, count in buckets), lambda i: _nth(buckets, i), p)


def step_of(total: int, at: Callable[[int], int]) -> StepDuration:
    """`total` values in tenths of days, `at(i)` the i-th in order → count, median and p90
    in days (one decimal)."""
    if total == 0:
        return StepDuration(count=0, median_days=None, p90_days=None)
    median, p90 = (round(quantile(total, at, p) / 10, 1) for p in QUANTILES)
    return StepDuration(count=total, median_days=median, p90_days=p90)


def step_duration(buckets: Sequence[tuple[int, int]]) -> StepDuration:
    """Buckets in tenths of days → count, median and p90 in days (one decimal)."""
    ordered = sorted(buckets)
    return step_of(sum(c for _, c in ordered), lambda index: _nth(ordered, index))


def _nth(ordered: Sequence[tuple[int, int]], index: int) -> int:
    seen = 0
    for value, count in ordered:
        seen += count
        if index < seen:
            return value
    raise IndexError(index)


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
    """Whether the kept histogram holds the answer (for a caller who sees every referral:
    the route is Kemensos'): filters and groups by sentra, province and PAS category only;
    by category either a filter of one category or a grouping without a category filter
    (the scan counts a referral once under a filter of several, "any in common", and under
    a filter with a grouping in every category it has, the filter's or not: neither is a
    sum of per-category counts); and never by category, sentra and province at once (no
    grain holds the three)."""
    only_keys = ReferralFilters(
        province_code=filters.province_code,
        sentra_code=filters.sentra_code,
        pas_category=filters.pas_category,
    )
    if filters != only_keys:
        return False
    grouped_by_pas = group_by is DurationGroupBy.pas_category
    if not filters.pas_category and not grouped_by_pas:
        return True
    if grouped_by_pas and filters.pas_category:
        return False
    if not grouped_by_pas and len(set(filters.pas_category)) != 1:
        return False
    by_sentra = bool(filters.sentra_code) or group_by is DurationGroupBy.sentra_code
    by_province = bool(filters.province_code) or group_by is DurationGroupBy.province_code
    return not (by_sentra and by_province)


def _grain(
    table: Any, filters: ReferralFilters, group_by: DurationGroupBy | None
) -> tuple[list[ColumnElement[bool]], Any]:
    """The rows of the grain that answers (see app/aftercare/models.py), and the key."""
    where = []
    for column, values, grouped in (
        (table.c.sentra_code, filters.sentra_code, group_by is DurationGroupBy.sentra_code),
        (table.c.province_code, filters.province_code, group_by is DurationGroupBy.province_code),
        (table.c.pas_category, filters.pas_category, group_by is DurationGroupBy.pas_category),
    ):
        if values:
            where.append(column.in_(sorted(set(values))))
        else:
            where.append(column != ALL if grouped else column == ALL)
    if group_by is None:
        return where, literal_column("''")
    return where, table.c[group_by.value]


def _one_row_per_block(filters: ReferralFilters, group_by: DurationGroupBy | None) -> bool:
    """Whether the grain holds one row per step, key and block (no filter of several
    values on a dimension the answer is not grouped by)."""
    return not (
        (len(set(filters.sentra_code)) > 1 and group_by is not DurationGroupBy.sentra_code)
        or (len(set(filters.province_code)) > 1 and group_by is not DurationGroupBy.province_code)
    )


def histogram_query(filters: ReferralFilters, group_by: DurationGroupBy | None) -> Select[Any]:
    """One statement (one snapshot): per step and group, the count and the buckets of the
    blocks that hold the percentiles' positions (a few more: the positions are found in
    SQL roughly, and exactly in Python), so that a few thousand rows travel, not the
    hundreds of thousands of buckets a grouping by sentra has at a million referrals."""
    blocks, counts = ReferralDurationBlock.__table__, ReferralDurationCount.__table__
    where, key = _grain(blocks, filters, group_by)
    b: Any
    unique = _one_row_per_block(filters, group_by)
    if unique:
        # Nothing to add up: the partitions below follow the primary key's order.
        b = select(blocks.c.step, key.label("key"), blocks.c.block, blocks.c.n)
        b = b.where(*where, blocks.c.n > 0).cte("b")
    else:
        b = (
            select(
                blocks.c.step,
                key.label("key"),
                blocks.c.block,
                cast(func.sum(blocks.c.n), Integer).label("n"),
            )
            .where(*where)
            .group_by(blocks.c.step, *([key] if group_by is not None else []), blocks.c.block)
            .having(func.sum(blocks.c.n) > 0)
            .cte("b")
        )
    partition = [b.c.key, b.c.step]
    c = select(
        b.c.step,
        b.c.key,
        b.c.block,
        b.c.n,
        (
            func.sum(b.c.n).over(partition_by=partition, order_by=b.c.block, rows=(None, 0)) - b.c.n
        ).label("before"),
        func.sum(b.c.n).over(partition_by=partition).label("total"),
    ).cte("c")
    wanted = []
    for p in QUANTILES:
        # A double, not a numeric (10x slower here); rounded or truncated: ± 2 covers both.
        near = cast(literal(p, Float) * (c.c.total - 1), Integer)
        wanted.append(and_(c.c.before <= near + 2, c.c.before + c.c.n > near - 2))
    w = select(c).where(or_(*wanted)).cte("w")
    where, key = _grain(counts, filters, group_by)
    joined = [counts.c.step == w.c.step, counts.c.block == w.c.block]
    if group_by is not None:
        joined.append(key == w.c.key)
    columns = [w.c.step, w.c.key, w.c.block, w.c.n, w.c.before, w.c.total, counts.c.bucket]
    query = select(*columns).select_from(w.join(counts, and_(*joined))).where(*where)
    if unique:
        return query.add_columns(counts.c.n.label("bucket_n"))
    bucket_n = cast(func.sum(counts.c.n), Integer).label("bucket_n")
    return query.add_columns(bucket_n).group_by(*columns)


@dataclass(slots=True)
class _KeptStep:
    """A step's count, and the buckets of the blocks read: (before, n, buckets) by block."""

    total: int = 0
    blocks: dict[int, tuple[int, int, list[tuple[int, int]]]] = field(default_factory=dict)

    def at(self, index: int) -> int:
        """The value at `index` of the step's ordered values."""
        for before, n, buckets in self.blocks.values():
            if before <= index < before + n:
                seen = before
                for value, count in sorted(buckets):
                    seen += count
                    if index < seen:
                        return value
        raise IndexError(index)


async def histogram_zone(session: AsyncSession) -> str | None:
    return (await session.execute(select(ReferralDurationZone.zone))).scalars().first()


async def _kept(
    session: AsyncSession, filters: ReferralFilters, group_by: DurationGroupBy | None
) -> dict[Any, dict[str, StepDuration]]:
    kept: dict[Any, dict[str, _KeptStep]] = defaultdict(
        lambda: {step: _KeptStep() for step in STEPS}
    )
    for row in await session.execute(histogram_query(filters, group_by)):
        # The histogram keeps "no sentra" as ''.
        key = None if group_by is DurationGroupBy.sentra_code and row.key == "" else row.key
        step = kept[key][row.step]
        step.total = int(row.total)
        block = step.blocks.setdefault(row.block, (int(row.before), int(row.n), []))
        block[2].append((row.bucket, int(row.bucket_n)))
    return {
        key: {name: step_of(step.total, step.at) for name, step in steps.items()}
        for key, steps in kept.items()
    }


async def _scanned(
    session: AsyncSession,
    filters: ReferralFilters,
    ctx: QueryContext,
    group_by: DurationGroupBy | None,
) -> dict[Any, dict[str, StepDuration]]:
    query = durations_query(filters, ctx, group_by, session.get_bind().dialect.name)
    histogram: dict[Any, dict[str, list[tuple[int, int]]]] = defaultdict(
        lambda: {step: [] for step in STEPS}
    )
    for row in await session.execute(query):
        histogram[row.key][row.step].append((row.bucket, row.n))
    return {
        key: {name: step_duration(buckets) for name, buckets in steps.items()}
        for key, steps in histogram.items()
    }


def _none(index: int) -> int:
    raise IndexError(index)


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
    kept = (
        not scan
        and ctx.principal.role is Role.kemensos
        and histogram_answers(filters, group_by)
        and await histogram_zone(session) == getattr(ctx.tz, "key", None)
    )
    histogram: dict[Any, dict[str, StepDuration]]
    if kept:
        histogram = await _kept(session, filters, group_by)
    else:
        histogram = await _scanned(session, filters, ctx, group_by)
    if group_by is None and not histogram:
        histogram[""] = {step: step_of(0, _none) for step in STEPS}  # every count 0
    groups = [
        DurationGroup(
            key={} if group_by is None else {group_by.value: group_key},
            steps=DurationSteps(**steps),
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
