"""What recording an export's disclosures costs (SPEC §8), for a 180,000-row export.

    .venv/bin/python -m bench.disclosures [--rows 180000] [--rounds 5] [--end-to-end]

Needs PostgreSQL (RUJUKAN_BENCH_POSTGRES_URL, default the local server, trust auth).
Seeds its own database `rujukan_bench_disclosures` with `bench.queries`' generator
(reused when it holds `--rows` referrals).

The figure: the work disclosure records add to an export of every referral, measured
alone and interleaved `--rounds` times: for each later batch (5,000 ids, the export's
own, in its order) a transaction that writes the batch's audit row with the ids packed,
against the read-only transaction each later batch of 1,000 was read in before (the
reads themselves are the same rows either way and are not timed). (On a loaded 2-core machine an
export of 180,000 rows takes a minute or more and varies by tens of seconds between runs:
the difference of two whole exports cannot show a fraction of a second.)

`--end-to-end` also streams `GET /v1/referrals/export.csv` (every referral) through the
app in this process, alternating:

- `with`: the service as it is: each later batch of 5,000 rows read and its disclosure row
  (the ids packed, 16 bytes each) written in one short transaction;
- `without`: the export as it was before disclosure records: later batches read in
  read-only transactions, one audit row for the whole export.

Prints one JSON line per run and the medians; the difference is the cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import Row, func, select

from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.service import create_client
from app.core.audit import AUDIT_TABLE
from app.core.config import Settings
from app.core.db import Database
from app.core.migrate import upgrade
from app.main import create_app
from app.referrals import portal
from app.referrals.models import Referral
from app.referrals.queries import ListSort, QueryContext, ReferralFilters, page_query
from app.runtime import build_runtime
from bench import queries

DB_NAME = "rujukan_bench_disclosures"


async def _batch_without(
    db: Database,
    principal: Any,
    filters: ReferralFilters,
    ctx: QueryContext,
    sort: ListSort,
    after: tuple[Any, Any] | None,
    request_id: str | None,
) -> Sequence[Row[Any]]:
    """The export's later batch before disclosure records: a read-only transaction."""
    query = page_query(filters, ctx, sort, after=after, limit=portal.EXPORT_LATER_BATCH)
    async with db.read_session() as session:
        rows: Sequence[Row[Any]] = (await session.execute(query)).all()
    return rows


def _disclosure_without(
    principal: Any, action: str, rows: Sequence[Row[Any]], request_id: str | None = None
) -> dict[str, Any]:
    return portal.audit.row(principal, action, "success", request_id=request_id)


async def ensure_database(rows: int) -> None:
    queries.DB_NAME = DB_NAME  # the generator's helpers read the module's name
    if await queries.referral_count() == rows:
        await asyncio.to_thread(upgrade, queries.sa_url(DB_NAME))
        return
    print(f"seeding {rows:,} referrals into {DB_NAME}", file=sys.stderr, flush=True)
    await queries.recreate_database()
    await asyncio.to_thread(upgrade, queries.sa_url(DB_NAME))
    await queries.seed(rows, lambda m: print(m, file=sys.stderr, flush=True))


async def direct(db: Database, principal: Any, rounds: int) -> dict[str, float]:
    """The added work alone: per batch, a writing transaction with the disclosure row
    against a read-only one, interleaved; medians in seconds for the whole export."""
    async with db.read_session() as session:
        ids = list(
            (await session.execute(select(Referral.id).order_by(Referral.created_at.desc())))
            .scalars()
            .all()
        )
    # The export's batches: the first as the request reads it, then the later ones.
    first, step = portal.EXPORT_BATCH, portal.EXPORT_LATER_BATCH
    batches = [ids[:first]] + [ids[n : n + step] for n in range(first, len(ids), step)]
    rows = [[SimpleNamespace(id=i) for i in batch] for batch in batches]
    times: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(rounds):
        started = time.perf_counter()
        for batch in rows[1:]:  # the first batch's row is the request's own, as before
            async with db.transaction() as session:
                await portal.record_batch(session, principal, batch, "bench")
        times["with"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(1, -(-len(ids) // first)):  # before: batches of 1,000, read-only
            async with db.read_session():
                pass
        times["without"].append(time.perf_counter() - started)
    return {
        "batches": len(batches),
        "median_with_s": round(statistics.median(times["with"]), 3),
        "median_without_s": round(statistics.median(times["without"]), 3),
        "added_s": round(statistics.median(times["with"]) - statistics.median(times["without"]), 3),
    }


async def main_async(args: argparse.Namespace) -> int:
    await ensure_database(args.rows)
    settings = Settings(
        database_url=queries.sa_url(DB_NAME),
        data_key=queries.DATA_KEY,  # type: ignore[arg-type]
        audit_signing_key=queries.AUDIT_KEY,  # type: ignore[arg-type]
        rate_limit_per_second=1_000_000,
        rate_limit_burst=1_000_000,
        run_worker_in_process=False,
        log_level="WARNING",
    )
    services = build_runtime(settings)
    async with services.db.transaction() as session:
        issued = await create_client(session, name="bench kemensos", role=Role.kemensos)
    headers = {"Authorization": f"Bearer {issued.api_key}"}
    principal = Principal(issued.client.id, "bench", Role.kemensos, frozenset(), frozenset())
    figure = await direct(services.db, principal, args.rounds)
    figure.update(rows=args.rows, calibration_ms=round(queries.calibration_ms(), 1))
    print(json.dumps(figure), flush=True)
    if not args.end_to_end:
        await services.db.dispose()
        return 0
    app = create_app(settings, runtime=services)
    shipped = (portal._export_batch, portal.disclosure)
    results: dict[str, list[float]] = {"with": [], "without": []}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=900) as http:
        for round_ in range(args.rounds + 1):  # the first round warms up
            for mode in ("with", "without"):
                if mode == "with":
                    portal._export_batch, portal.disclosure = shipped
                else:
                    portal._export_batch = _batch_without  # type: ignore[assignment]
                    portal.disclosure = _disclosure_without
                async with services.db.read_session() as session:
                    before = await session.scalar(select(func.count()).select_from(AUDIT_TABLE))
                started = time.perf_counter()
                response = await http.get("/v1/referrals/export.csv", headers=headers)
                seconds = time.perf_counter() - started
                assert response.status_code == 200, response.text[:500]
                lines = response.content.count(b"\n") - 1
                async with services.db.read_session() as session:
                    after = await session.scalar(select(func.count()).select_from(AUDIT_TABLE))
                    size = await session.scalar(
                        select(func.coalesce(func.sum(func.length(AUDIT_TABLE.c.disclosed)), 0))
                    )
                line = {
                    "round": round_,
                    "mode": mode,
                    "rows": lines,
                    "seconds": round(seconds, 3),
                    "audit_rows_added": (after or 0) - (before or 0),
                }
                print(json.dumps(line), flush=True)
                if round_:
                    results[mode].append(seconds)
    portal._export_batch, portal.disclosure = shipped
    with_s, without_s = statistics.median(results["with"]), statistics.median(results["without"])
    print(
        json.dumps(
            {
                "rows": args.rows,
                "median_with_s": round(with_s, 3),
                "median_without_s": round(without_s, 3),
                "added_s": round(with_s - without_s, 3),
                "disclosed_bytes_total": size,
                "calibration_ms": round(queries.calibration_ms(), 1),
            }
        )
    )
    await services.db.dispose()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=180_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--end-to-end", action="store_true", help="also time whole exports through the app"
    )
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
