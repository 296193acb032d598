"""Durations, forecast and the moment scheduler's queue at `bench.queries` scale.

    python -m bench.queries --rows 1000000   # once: seeds rujukan_bench (timeline included)
    python -m bench.aftercare --requests 30

The durations come from the histogram the triggers of migration 0008 keep (one statement:
the blocks that hold the percentiles, then their buckets), except the last scenario, which
filters by what the histogram does not hold and scans the referrals.

Runs the service's own query functions in-process against `rujukan_bench` (the database
time and the answer's assembly, without HTTP: add the baseline row of bench.queries for a
request's fixed cost), each scenario `--requests` times after two warm-up runs, and prints
p50/p95/max in ms, the machine's load and CPU calibration; then EXPLAIN (ANALYZE, BUFFERS)
of one pass of the moment scheduler over its partial index.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from app.aftercare.analytics import DurationGroupBy, durations, forecast
from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.config import Settings
from app.core.db import Database
from app.reference.models import Sentra
from app.referrals.queries import QueryContext, ReferralFilters
from app.referrals.scheduler import due_query
from bench.queries import DATA_KEY, DB_NAME, calibration_ms, sa_url


async def measure(
    name: str, run: Callable[[int], Awaitable[Any]], count: int
) -> tuple[str, int, float, float, float]:
    for i in range(2):
        await run(i)
    times = []
    for i in range(count):
        started = time.perf_counter()
        await run(i)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return name, count, statistics.median(times), p95, times[-1]


async def main(count: int) -> None:
    settings = Settings(database_url=sa_url(DB_NAME), data_key=DATA_KEY)  # type: ignore[arg-type]
    db = Database(settings)
    kemensos = Principal(uuid.uuid4(), "bench", Role.kemensos, frozenset(), frozenset())
    now = dt.datetime.now(dt.UTC)
    ctx = QueryContext(kemensos, now.astimezone(settings.tz).date(), 14, settings.tz)
    print(f"load {os.getloadavg()[0]:.1f}, calibration {calibration_ms():.0f} ms")
    try:
        async with db.read_session() as session:
            registry = list((await session.execute(select(Sentra))).scalars())

            def durations_of(
                filters: ReferralFilters, group_by: DurationGroupBy | None
            ) -> Callable[[int], Awaitable[Any]]:
                return lambda i: durations(session, filters, ctx, group_by)

            def forecast_of(i: int) -> Awaitable[Any]:
                sentra = registry[i % len(registry)]
                return forecast(
                    session, sentra.code, sentra.coverage_regency_codes, ctx.today, now, 8
                )

            scenarios = [
                ("forecast of a sentra, 8 weeks", forecast_of),
                (
                    "durations, province 32",
                    durations_of(ReferralFilters(province_code=("32",)), None),
                ),
                (
                    "durations, a sentra",
                    durations_of(ReferralFilters(sentra_code=(registry[0].code,)), None),
                ),
                ("durations, one group, no filter", durations_of(ReferralFilters(), None)),
                (
                    "durations group_by sentra_code, no filter",
                    durations_of(ReferralFilters(), DurationGroupBy.sentra_code),
                ),
                (
                    "durations group_by province_code, no filter",
                    durations_of(ReferralFilters(), DurationGroupBy.province_code),
                ),
                (
                    "durations group_by pas_category, province 32",
                    durations_of(
                        ReferralFilters(province_code=("32",)), DurationGroupBy.pas_category
                    ),
                ),
                (
                    "durations group_by pas_category, a sentra",
                    durations_of(
                        ReferralFilters(sentra_code=(registry[0].code,)),
                        DurationGroupBy.pas_category,
                    ),
                ),
                (
                    "durations, PAS category fakir_miskin, group_by province_code",
                    durations_of(
                        ReferralFilters(pas_category=("fakir_miskin",)),
                        DurationGroupBy.province_code,
                    ),
                ),
            ]
            rows = [await measure(name, run, count) for name, run in scenarios]
            sql = str(
                due_query(now, postgresql=True).compile(
                    dialect=PGDialect_asyncpg(), compile_kwargs={"literal_binds": True}
                )
            )
            plan = (await session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql))).scalars()
            queued = (
                await session.execute(
                    text("SELECT count(*) FROM referrals WHERE next_moment_at IS NOT NULL")
                )
            ).scalar_one()
    finally:
        await db.dispose()
    print(f"load {os.getloadavg()[0]:.1f}, calibration {calibration_ms():.0f} ms")
    print("| scenario | n | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|")
    for name, n, p50, p95, top in rows:
        print(f"| {name} | {n} | {p50:.1f} | {p95:.1f} | {top:.1f} |")
    print(f"\nThe moment scheduler's pass ({queued:,} referrals queued):\n")
    print("\n".join(plan))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="runs per scenario")
    asyncio.run(main(parser.parse_args().requests))
