"""How long sealing and `rujukan audit verify` take over a large audit log (SPEC §8).

    .venv/bin/python -m bench.audit_verify [--rows 1000000]

Needs PostgreSQL (RUJUKAN_BENCH_POSTGRES_URL, default the local server, trust auth).
Creates `rujukan_bench_audit`, loads `--rows` synthetic audit rows with COPY (one in 20 a
list page naming 50 referrals), seals them as the worker does (blocks of 10,000) and
verifies them as `rujukan audit verify` does; prints the seconds of each as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import sys
import time
import uuid

import asyncpg

from app.audit.seals import Sealer, signing_key, verify
from app.core.config import Settings
from app.core.db import Database
from app.core.migrate import upgrade
from bench import queries

DB_NAME = "rujukan_bench_audit"
KEY = signing_key(base64.b64decode(queries.AUDIT_KEY))


async def load(rows: int) -> float:
    admin = await asyncpg.connect(queries.pg_dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade, queries.sa_url(DB_NAME))
    started = time.monotonic()
    conn = await asyncpg.connect(queries.pg_dsn(DB_NAME))
    clients = [uuid.uuid4() for _ in range(40)]
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    try:
        batch: list[tuple[object, ...]] = []
        for n in range(rows):
            page = n % 20 == 0
            batch.append(
                (
                    at + dt.timedelta(seconds=n),
                    clients[n % 40],
                    "petugas" if n % 3 else None,
                    "referrals.list" if page else "referral.read",
                    None if page else uuid.uuid4(),
                    f"req-{n}",
                    "success",
                    b"".join(uuid.uuid4().bytes for _ in range(50)) if page else None,
                )
            )
            if len(batch) == 50_000 or n == rows - 1:
                await conn.copy_records_to_table(
                    "audit_events",
                    records=batch,
                    columns=[
                        "at", "client_id", "actor", "action", "referral_id", "request_id",
                        "outcome", "disclosed",
                    ],
                )  # fmt: skip
                batch = []
        await conn.execute("VACUUM (ANALYZE) audit_events")
    finally:
        await conn.close()
    return time.monotonic() - started


async def main_async(args: argparse.Namespace) -> int:
    loaded = await load(args.rows)
    db = Database(Settings(database_url=queries.sa_url(DB_NAME)))
    try:
        started = time.monotonic()
        sealed = 0
        while True:
            count = await Sealer(db, KEY).seal_pending(max_blocks=1000)
            sealed += count
            if sealed >= args.rows or not count:
                break
        sealing = time.monotonic() - started
        started = time.monotonic()
        report = await verify(db, [KEY.public_key()])
        verifying = time.monotonic() - started
    finally:
        await db.dispose()
    print(
        json.dumps(
            {
                "rows": args.rows,
                "load_s": round(loaded, 1),
                "seal_s": round(sealing, 1),
                "verify_s": round(verifying, 1),
                "report": report.as_json(),
                "calibration_ms": round(queries.calibration_ms(), 1),
            }
        )
    )
    return 0 if report.finding is None else 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
