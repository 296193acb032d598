"""Webhook relay benchmark: event-to-delivery latency and deliveries/s with two workers.

    .venv/bin/python -m bench.webhooks [--events 2000] [--steady 500] [--rate 20] [--workers 2]
        [--poll 0.25]

Needs PostgreSQL (RUJUKAN_BENCH_POSTGRES_URL, default the local server, trust auth). It
creates a scratch database, migrates it, subscribes a prison client to a receiver on
127.0.0.1 (a threaded HTTP server that verifies every signature), starts `rujukan
worker` processes and posts release events through the API in-process (ASGI), in two
phases:

- burst: `--events` changes committed while no worker runs; the workers then drain the
  backlog, and first-to-last delivery gives their sustained deliveries/s;
- steady, twice in the same run: `--steady` more, one event per request at `--rate`
  events/s (or as fast as the API takes them, reported as achieved), first with the
  workers woken by each commit (LISTEN/NOTIFY, the default), then with new workers that
  only poll (`RUJUKAN_WEBHOOK_WAKEUPS=false`, every `--poll` seconds); latency is the
  receiver's clock minus the CloudEvent `time` (when the API began the change): the
  intake transaction, commit, notification or poll, fan-out, claim, signing and the HTTP
  round trip; `after_answer_*` is measured from the API's answer instead (after the
  commit: a lower bound of commit-to-delivery, negative when the delivery came first).

The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from standardwebhooks import Webhook

from app.auth.roles import Role
from app.auth.service import create_client
from app.core.config import Settings
from app.core.migrate import upgrade
from app.main import create_app
from app.runtime import build_runtime
from tests.factories import make_event

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get(
    "RUJUKAN_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
DATA_KEY = base64.b64encode(os.urandom(32)).decode()
AUDIT_KEY = base64.b64encode(os.urandom(32)).decode()


class Receiver:
    """Records (webhook-id, arrival wall time, CloudEvent time) per verified delivery, and
    the arrival time by subject (the referral id)."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrivals: list[tuple[str, float, float]] = []
        self.by_subject: dict[str, float] = {}
        self.bad = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                arrived = time.time()
                try:
                    event = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                    made = datetime.fromisoformat(event["time"]).timestamp()
                    with receiver.lock:
                        receiver.arrivals.append((event["id"], arrived, made))
                        receiver.by_subject.setdefault(event["subject"], arrived)
                    status = 204
                except Exception:
                    with receiver.lock:
                        receiver.bad += 1
                    status = 400
                self.send_response(status)
                if status != 204:
                    self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # The default listen backlog (5) overflows under two workers' connections: a
            # refused SYN is retried after a second or more, which is not the relay's time.
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


async def admin(sql: str) -> None:
    url = make_url(PG_URL)
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_for(receiver: Receiver, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while receiver.count() < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {receiver.count()} of {count} deliveries arrived")
        await asyncio.sleep(0.01)


async def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        await asyncio.to_thread(proc.wait, 30)


async def start_workers(
    count: int, env: dict[str, str], logs: Path, *, first: int = 0
) -> list[subprocess.Popen[bytes]]:
    """`rujukan worker` processes, started from a thread (Popen blocks while it forks)."""

    def start(index: int) -> subprocess.Popen[bytes]:
        with (logs / f"worker-{index}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    return [await asyncio.to_thread(start, index) for index in range(first, first + count)]


async def post(http: httpx.AsyncClient, headers: dict[str, str], events: list[Any]) -> None:
    response = await http.post("/v1/release-events/batch", json={"events": events}, headers=headers)
    assert response.status_code == 207, response.text


async def bench(args: argparse.Namespace, url: str, logs: Path) -> dict[str, Any]:
    settings = Settings(
        database_url=url,
        data_key=DATA_KEY,  # type: ignore[arg-type]
        audit_signing_key=AUDIT_KEY,  # type: ignore[arg-type]
        webhook_allow_private=True,
        rate_limit_per_second=1_000_000,
        rate_limit_burst=1_000_000,
        run_worker_in_process=False,
    )
    services = build_runtime(settings)
    facility = f"LP-BENCH{uuid.uuid4().hex[:6].upper()}"
    async with services.db.transaction() as session:
        issued = await create_client(
            session, name="bench", role=Role.prison, facility_codes=[facility]
        )
    headers = {"Authorization": f"Bearer {issued.api_key}"}
    receiver = Receiver()
    receiver.thread.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUKAN_")}
    env.update(
        RUJUKAN_DATABASE_URL=url,
        RUJUKAN_DATA_KEY=DATA_KEY,
        RUJUKAN_AUDIT_SIGNING_KEY=AUDIT_KEY,
        RUJUKAN_WEBHOOK_ALLOW_PRIVATE="true",
        RUJUKAN_WEBHOOK_POLL_INTERVAL_SECONDS=str(args.poll),
        RUJUKAN_WEBHOOK_CONCURRENCY=str(args.concurrency),
        RUJUKAN_LOG_LEVEL="WARNING",
    )
    procs: list[subprocess.Popen[bytes]] = []
    transport = httpx.ASGITransport(app=create_app(settings, runtime=services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            created = await http.post(
                "/v1/webhook-subscriptions",
                json={"url": receiver.url, "event_types": ["referral.created"]},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            receiver.secret = created.json()["secret"]
            # Burst: a backlog posted while no worker runs, then drained by the workers.
            burst_events = [make_event(facility) for _ in range(args.events)]
            posted_at = time.monotonic()
            for start in range(0, args.events, 500):
                await post(http, headers, burst_events[start : start + 500])
            posted_for = time.monotonic() - posted_at
            procs = await start_workers(args.workers, env, logs)
            await wait_for(receiver, args.events, 300)
            burst = list(receiver.arrivals)
            span = max(a for _, a, _ in burst) - min(a for _, a, _ in burst)

            # Steady: latency at a rate the API sustains beside the workers, woken by each
            # commit, then polling only.
            steady = args.steady
            results: dict[str, dict[str, float]] = {}
            for mode in ("wakeups", "polling_only"):
                if mode == "polling_only":
                    await stop_workers(procs)
                    polling = {**env, "RUJUKAN_WEBHOOK_WAKEUPS": "false"}
                    procs = await start_workers(args.workers, polling, logs, first=args.workers)
                await asyncio.sleep(2.0)  # the workers are up (and listening)
                already = receiver.count()
                steady_events = [make_event(facility) for _ in range(steady)]
                began = time.monotonic()
                answered: dict[str, float] = {}
                for sent, event in enumerate(steady_events, 1):
                    response = await http.post("/v1/release-events", json=event, headers=headers)
                    assert response.status_code == 201, response.text
                    answered[response.json()["referral"]["id"]] = time.time()
                    lag = began + sent / args.rate - time.monotonic()
                    if lag > 0:
                        await asyncio.sleep(lag)
                achieved = steady / (time.monotonic() - began)
                await wait_for(receiver, already + steady, 60)
                latencies = [arrived - made for _, arrived, made in receiver.arrivals[already:]]
                # The commit lies between the change's start (`time`) and the API's answer:
                # from the answer is a lower bound of commit-to-delivery, from `time` an
                # upper bound (it includes the intake's own transaction).
                after_answer = [receiver.by_subject[rid] - at for rid, at in answered.items()]
                results[mode] = {
                    "events": steady,
                    "target_rate_per_s": args.rate,
                    "achieved_rate_per_s": round(achieved, 1),
                    "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
                    "latency_p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
                    "latency_max_ms": round(max(latencies) * 1000, 1),
                    "after_answer_p50_ms": round(statistics.median(after_answer) * 1000, 1),
                    "after_answer_p95_ms": round(percentile(after_answer, 0.95) * 1000, 1),
                }
    finally:
        await stop_workers(procs)
        receiver.server.shutdown()
        await services.db.dispose()
    ids = [i for i, _, _ in receiver.arrivals]
    return {
        "workers": args.workers,
        "concurrency_per_worker": args.concurrency,
        "poll_interval_s": args.poll,
        "steady": results,
        "burst": {
            "events": args.events,
            "api_post_seconds": round(posted_for, 2),
            "first_to_last_delivery_seconds": round(span, 2),
            "deliveries_per_s": round(len(burst) / span, 1) if span else None,
        },
        "duplicates": len(ids) - len(set(ids)),
        "bad_signatures": receiver.bad,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="burst size")
    parser.add_argument("--steady", type=int, default=500, help="events in the steady phase")
    parser.add_argument("--rate", type=float, default=20, help="steady events/s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--poll", type=float, default=0.25)
    args = parser.parse_args()
    name = f"rujukan_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory() as logs:
            result = asyncio.run(bench(args, url, Path(logs)))
        print(json.dumps(result, indent=2))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
