"""What the rehabilitation record adds to the referral detail, in the database.

    RUJUKAN_BENCH_DB=rujukan_bench_rehab .venv/bin/python -m bench.record_detail [--rounds 2000]

Runs on the database `bench.queries` seeded (whose measured referrals carry a record: an
assessment, a plan of 5 goals, 3 appointments, 5 services). Interleaves, round after
round on one connection, the detail's read as it was before the record (the referral and
the other referrals of its NIK) and as it is (`store.load_for_detail`: the same statement
with the latest assessment and the next appointment outer-joined to the referral's row,
and their decryption), so that the machine's load falls on both alike; prints p50/p95 of
each in ms. A machine shared with other work gives slower figures; the ratio travels.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time
import uuid

import asyncpg
from sqlalchemy import or_, select

from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.crypto import DataCipher
from app.core.db import Database
from app.referrals import store
from app.referrals.models import Referral
from app.rehab import service as rehab
from bench.queries import DATA_KEY, DB_NAME, pg_dsn, sa_url


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def main_async(rounds: int) -> None:
    conn = await asyncpg.connect(pg_dsn(DB_NAME))
    try:
        ids = [r["referral_id"] for r in await conn.fetch("SELECT referral_id FROM referral_plans")]
    finally:
        await conn.close()
    assert ids, "seed with bench.queries first"
    db = Database(Settings(database_url=sa_url(DB_NAME), data_key=DATA_KEY))  # type: ignore[arg-type]
    cipher = DataCipher(base64.b64decode(DATA_KEY))
    kemensos = Principal(uuid.uuid4(), "bench", Role.kemensos, frozenset(), frozenset())
    referral_ms: list[float] = []
    record_ms: list[float] = []
    found = 0
    try:
        async with db.read_session() as session:
            for i in range(rounds + 50):
                rid = ids[i % len(ids)]
                started = time.perf_counter()
                same_nik = select(Referral.nik_index).where(Referral.id == rid).scalar_subquery()
                await session.execute(
                    select(Referral).where(or_(Referral.id == rid, Referral.nik_index == same_nik))
                )
                middle = time.perf_counter()
                rows = await store.load_for_detail(session, kemensos, str(rid), utcnow())
                assessment, upcoming = rehab.detail_view(
                    kemensos, rows.assessment, rows.next_appointment, cipher
                )
                done = time.perf_counter()
                session.expunge_all()
                if i >= 50:  # warm-up
                    referral_ms.append((middle - started) * 1000)
                    record_ms.append((done - middle) * 1000)
                    found += assessment is not None and upcoming is not None
    finally:
        await db.dispose()
    assert found == rounds, "every measured referral shows its assessment and next appointment"
    for name, values in (
        ("before: referral + siblings", referral_ms),
        ("now: referral + siblings + record fields", record_ms),
    ):
        print(
            f"{name}: p50 {statistics.median(values):.2f} ms, p95 {pct(values, 0.95):.2f} ms "
            f"({len(values)} rounds)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2000)
    asyncio.run(main_async(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
