"""Intake without HTTP: `app.intake.service` called in-process on PostgreSQL.

    .venv/bin/python -m bench.intake_inprocess [--events 3000] [--concurrency 16] [--batches 10]

What part of a request's cost is intake itself (validation, rules, encryption, the
database round trips) and what part is HTTP and the framework (compare `bench.intake`).
A fresh database `rujukan_bench_inprocess` (dropped and migrated each run), one prison
client, invented events; then (1) `--events` single events from `--concurrency`
concurrent tasks: throughput, this process's CPU per event, p50/p99 latency; (2)
`--batches` batches of 500 events one after the other: throughput and CPU per event.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import time
import uuid
import zoneinfo
from typing import Any

from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.service import create_client
from app.core.clock import Clock
from app.core.config import Settings
from app.intake import service
from app.runtime import build_runtime
from bench import queries
from bench.intake import Events, recreate

DB_NAME = "rujukan_bench_inprocess"
TZ = zoneinfo.ZoneInfo("Asia/Jakarta")


def clock() -> Clock:
    return Clock(dt.datetime.now(dt.UTC), TZ)


async def main_async(args: argparse.Namespace) -> int:
    await recreate(DB_NAME)
    settings = Settings(
        database_url=queries.sa_url(DB_NAME),
        data_key=queries.DATA_KEY,  # type: ignore[arg-type,unused-ignore]
        audit_signing_key=queries.AUDIT_KEY,  # type: ignore[arg-type,unused-ignore]
    )
    services = build_runtime(settings)
    try:
        async with services.db.transaction() as session:
            issued = await create_client(
                session, name="bench prison", role=Role.prison, facility_codes=["*"]
            )
        principal = Principal(issued.client.id, "bench", Role.prison, frozenset({"*"}), frozenset())
        intake = service.Intake(services.db, services.cipher, services.intake_groups)
        events = Events(uuid.uuid4().hex[:6])
        bodies = [json.dumps(events.one()) for _ in range(args.events + 200)]
        latencies: list[float] = []

        async def worker(queue: list[str], record: bool) -> None:
            while queue:
                raw: Any = json.loads(queue.pop())
                started = time.perf_counter()
                result = await service.receive_event(
                    service.Sender(principal, intake, clock()), raw
                )
                if result.status_code != 201:
                    raise RuntimeError(result.body)
                if record:
                    latencies.append((time.perf_counter() - started) * 1000)

        warm = bodies[:200]
        await asyncio.gather(*(worker(warm, False) for _ in range(args.concurrency)))
        queue = bodies[200:]
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(queue, True) for _ in range(args.concurrency)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        latencies.sort()
        print(
            f"single events, {args.concurrency} concurrent: {args.events / wall:,.0f} events/s, "
            f"{1000 * cpu / args.events:.2f} ms CPU per event, "
            f"p50 {statistics.median(latencies):.1f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99)]:.1f} ms"
        )
        batches = [[events.one() for _ in range(500)] for _ in range(args.batches)]
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            outcomes = await service.receive_events(
                service.Sender(principal, intake, clock()), batch
            )
            if any(isinstance(o, Exception) or o.status_code != 201 for o in outcomes):
                raise RuntimeError("a batch event was refused")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        total = 500 * args.batches
        print(
            f"batches of 500, one at a time: {total / wall:,.0f} events/s, "
            f"{1000 * cpu / total:.2f} ms CPU per event"
        )
    finally:
        await services.db.dispose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batches", type=int, default=10)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
