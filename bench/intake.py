"""Intake benchmark: the service against a bare-stack baseline, on one PostgreSQL, in one run.

    .venv/bin/python -m bench.intake [--duration 15] [--connections 16] [--profile DIR]

Needs PostgreSQL (RUJUKAN_BENCH_POSTGRES_URL, default the local server, trust auth).

1. Fresh databases `rujukan_bench_intake` (the service) and `rujukan_bench_baseline` (the
   baseline), both migrated with `app.migrate.upgrade`, so both write the same tables with
   the same indexes. Both are dropped and created again on every run.
2. The service: `rujukan serve` (one process) with RUJUKAN_DATA_KEY, a rate limit of 10⁶/s
   and RUJUKAN_RUN_WORKER_IN_PROCESS=false. The baseline: `bench/baseline.py` under uvicorn
   (Starlette + asyncpg, the same durable writes in one transaction, no validation, no
   encryption). Both listen on 127.0.0.1 only and are stopped at the end whatever happens.
3. Load: N keep-alive connections (16 for single events) of a minimal HTTP/1.1 client
   (`Connection`; httpx cost as much CPU per request as the baseline server, on the same
   two cores), each posting unique synthetic events (invented people, bodies prepared
   before the run) back to back for a fixed duration after a short warm-up; every answer
   is checked (201, or 207 with every item 201). Throughput, latency percentiles, the
   server's CPU per event and peak resident memory (VmHWM, reset before each scenario),
   and the load generator's own CPU per request.
4. If `rujukan_bench` (bench/queries.py) exists, its portal scenarios are run against it
   with the functions of bench/queries.py (`--query-requests` rounds).
5. `--profile DIR` records py-spy (collapsed stacks) of the service during each scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.auth.roles import Role
from app.auth.service import create_client
from app.core.config import Settings
from app.core.db import Database
from app.core.migrate import upgrade
from app.intake.schemas import EXAMPLE_EVENT
from bench import queries
from bench.http1 import Connection

ROOT = Path(__file__).resolve().parents[1]
SERVICE_DB = "rujukan_bench_intake"
BASELINE_DB = "rujukan_bench_baseline"
JAKARTA = dt.timezone(dt.timedelta(hours=7))


@dataclass
class Run:
    """One scenario against one server."""

    target: str
    scenario: str
    connections: int
    seconds: float = 0.0
    requests: int = 0
    events: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Events:
    """Unique, valid release events: a new event_id and case_ref (so a new referral) each."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.counter = itertools.count()

    def one(self) -> dict[str, Any]:
        n = next(self.counter)
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=n % 15_000)
        nik = f"317101{birth:%d%m%y}{n // 15_000 % 9_999 + 1:04d}"
        now = dt.datetime.now(JAKARTA)
        event: dict[str, Any] = json.loads(json.dumps(EXAMPLE_EVENT))
        event["event_id"] = f"BENCH-{self.tag}-{n:08d}"
        event["case_ref"] = f"B.I-{self.tag}-{n}/2026"
        event["occurred_at"] = now.isoformat(timespec="seconds")
        event["release"]["date"] = (now.date() - dt.timedelta(days=1)).isoformat()
        event["consent"]["recorded_at"] = (now - dt.timedelta(days=2)).isoformat(timespec="seconds")
        person = event["person"]
        person["nik"] = nik
        person["birth_date"] = birth.isoformat()
        person["full_name"] = f"Budi Santoso {n}"
        return event


def resident_peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux: clear_refs 5), so each scenario has its own."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass


async def load(
    base_url: str,
    path: str,
    headers: dict[str, str],
    bodies: list[bytes],
    per_request: int,
    connections: int,
    duration: float,
    run: Run | None,
) -> None:
    """`connections` workers posting back to back for `duration` seconds (run=None: warm-up),
    each body once (prepared beforehand, so building them costs no time during the run)."""
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    ).encode()
    stop = time.monotonic() + duration

    async def worker() -> None:
        client = Connection(host, port)
        try:
            while time.monotonic() < stop and bodies:
                content = bodies.pop()
                started = time.perf_counter()
                try:
                    status, answer = await client.post(head, content)
                except (OSError, asyncio.IncompleteReadError, IndexError, ValueError) as exc:
                    client.close()
                    if run is not None:
                        run.errors += 1
                        run.first_error = run.first_error or repr(exc)
                    await asyncio.sleep(0.1)
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                ok = status == 201
                if status == 207:
                    ok = all(r["status"] == 201 for r in json.loads(answer)["results"])
                if run is None:
                    continue
                run.requests += 1
                run.latencies_ms.append(elapsed)
                if ok:
                    run.events += per_request
                else:
                    run.errors += 1
                    run.first_error = run.first_error or answer[:500].decode(errors="replace")
        finally:
            client.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    if run is not None:
        run.seconds = time.monotonic() - started
        if not bodies:
            run.first_error = run.first_error or "ran out of prepared bodies"


async def recreate(name: str) -> None:
    admin = await asyncpg.connect(queries.pg_dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade, queries.sa_url(name))


async def prison_key(database: str) -> tuple[uuid.UUID, str]:
    settings = Settings(database_url=queries.sa_url(database), data_key=queries.DATA_KEY)  # type: ignore[arg-type,unused-ignore]
    db = Database(settings)
    try:
        async with db.transaction() as session:
            issued = await create_client(
                session, name="bench intake prison", role=Role.prison, facility_codes=["*"]
            )
    finally:
        await db.dispose()
    return issued.client.id, issued.api_key


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=out, start_new_session=True
        )


def start_service(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RUJUKAN_DATABASE_URL": queries.sa_url(SERVICE_DB),
        "RUJUKAN_DATA_KEY": queries.DATA_KEY,
        "RUJUKAN_AUDIT_SIGNING_KEY": queries.AUDIT_KEY,
        "RUJUKAN_RATE_LIMIT_PER_SECOND": "1000000",
        "RUJUKAN_RATE_LIMIT_BURST": "1000000",
        "RUJUKAN_LOG_LEVEL": "WARNING",
        "RUJUKAN_RUN_WORKER_IN_PROCESS": "false",
    }
    rujukan = str(Path(sys.executable).parent / "rujukan")
    return spawn([rujukan, "serve", "--host", "127.0.0.1", "--port", str(port)], env, log)


def start_baseline(port: int, client_id: uuid.UUID, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RUJUKAN_BASELINE_DSN": queries.pg_dsn(BASELINE_DB),
        "RUJUKAN_BASELINE_CLIENT_ID": str(client_id),
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "bench.baseline:app_factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return spawn([*argv, "--no-access-log"], env, log)


async def wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                text = await asyncio.to_thread(log.read_text)
                raise RuntimeError(f"{url}: the server exited: {text[-2000:]}")
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within 30 s")


def stop(server: subprocess.Popen[bytes] | None) -> None:
    if server is None or server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def profiler(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not installed: no profile", file=sys.stderr)
        return None
    argv = [py_spy, "record", "--pid", str(pid), "--format", "raw", "-o", str(out)]
    argv += ["--duration", str(int(seconds)), "--rate", "200", "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def measure(
    name: str,
    url: str,
    pid: int,
    scenario: str,
    path: str,
    headers: dict[str, str],
    args: argparse.Namespace,
    batch: int,
    tag: str,
) -> Run:
    # A tag per server and scenario: event ids never repeat across the runs of one database.
    events = Events(f"{tag}{name[0]}{'b' if batch else 's'}")
    if batch:
        connections = args.batch_connections

        def body() -> bytes:
            return json.dumps({"events": [events.one() for _ in range(batch)]}).encode()

        # Generously more than the fastest run could post (5,000 events/s).
        count = int(5_000 * (args.duration + args.warmup) / batch) + connections
    else:
        connections = args.connections

        def body() -> bytes:
            return json.dumps(events.one()).encode()

        count = int(2_000 * (args.duration + args.warmup)) + connections
    bodies = [body() for _ in range(count)]
    bodies.reverse()  # popped from the end: posted in the order they were made

    headers = {**headers, "Content-Type": "application/json"}
    await load(url, path, headers, bodies, 1, connections, args.warmup, None)
    reset_peak(pid)
    run = Run(name, scenario, connections)
    spy = None
    if args.profile and name == "service":
        out = os.path.join(args.profile, f"{scenario.split()[0]}.txt")
        spy = profiler(pid, Path(out), args.duration)
    cpu_before = cpu_seconds(pid)
    client_cpu = time.process_time()
    await load(url, path, headers, bodies, batch or 1, connections, args.duration, run)
    run.client_cpu_seconds = time.process_time() - client_cpu
    run.cpu_seconds = cpu_seconds(pid) - cpu_before
    run.peak_rss_mb = resident_peak_mb(pid)
    if spy is not None:
        spy.wait(timeout=60)
    return run


def table(runs: list[Run]) -> str:
    lines = [
        "| scenario | server | conns | events | events/s | p50 ms | p95 ms | p99 ms | "
        "server CPU ms/event | client CPU ms/request | peak RSS MB | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.scenario} | {r.target} | {r.connections} | {r.events:,} | {r.rate:,.0f} | "
            f"{r.pct(50):.1f} | {r.pct(95):.1f} | {r.pct(99):.1f} | "
            f"{1000 * r.cpu_seconds / max(r.events, 1):.2f} | "
            f"{1000 * r.client_cpu_seconds / max(r.requests, 1):.2f} | {r.peak_rss_mb:.0f} | "
            f"{r.errors} |"
        )
    lines += [
        "",
        "| scenario | throughput service/baseline | p99 service/baseline |",
        "|---|---|---|",
    ]
    for scenario in dict.fromkeys(r.scenario for r in runs):
        pair = {r.target: r for r in runs if r.scenario == scenario}
        if "service" in pair and "baseline" in pair and pair["baseline"].rate:
            s, b = pair["service"], pair["baseline"]
            lines.append(f"| {scenario} | {s.rate / b.rate:.2f} | {s.pct(99) / b.pct(99):.1f} |")
    return "\n".join(lines)


async def portal_queries(args: argparse.Namespace, logdir: Path) -> str:
    count = await queries.referral_count()
    if not count:
        return f"(no `{queries.DB_NAME}`: run `python -m bench.queries` first; queries skipped)"
    data = await queries.samples()
    keys = await queries.issue_keys()
    port = queries.free_port()
    server = queries.start_server(port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
            await queries.wait_ready(probe, server)
        results, _ = await asyncio.wait_for(
            queries.run_http(f"http://127.0.0.1:{port}", keys, data, args.query_requests),
            timeout=args.timeout,
        )
    finally:
        stop(server)
    lines = [
        f"Portal queries on `{queries.DB_NAME}` ({count:,} referrals), one request at a time, "
        f"{args.query_requests} rounds:",
        "",
        "| scenario | n | p50 ms | p95 ms | p99 ms | max ms | target p95 | |",
        "|---|---|---|---|---|---|---|---|",
        *(r.row() for r in results),
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    calibration = [queries.calibration_ms()]
    logdir = Path(tempfile.mkdtemp(prefix="rujukan-bench-intake-"))
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    log(f"creating {SERVICE_DB} and {BASELINE_DB}; server logs in {logdir}")
    await recreate(SERVICE_DB)
    await recreate(BASELINE_DB)
    _, key = await prison_key(SERVICE_DB)
    baseline_client, _ = await prison_key(BASELINE_DB)
    tag = dt.datetime.now(dt.UTC).strftime("%H%M%S")
    service = baseline = None
    runs: list[Run] = []
    try:
        service_port, baseline_port = queries.free_port(), queries.free_port()
        service = start_service(service_port, logdir / "service.log")
        baseline = start_baseline(baseline_port, baseline_client, logdir / "baseline.log")
        s_url, b_url = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{baseline_port}"
        await wait_ready(s_url + "/readyz", service, logdir / "service.log")
        await wait_ready(b_url + "/events", baseline, logdir / "baseline.log")
        auth = {"Authorization": f"Bearer {key}"}
        scenarios = [
            (f"single event, {args.connections} conns", "/events", "/v1/release-events", 0),
            (
                f"batch of {args.batch_size}, {args.batch_connections} conns",
                "/events/batch",
                "/v1/release-events/batch",
                args.batch_size,
            ),
        ]
        for scenario, b_path, s_path, batch in scenarios:
            for name, url, pid, path, headers in (
                ("baseline", b_url, baseline.pid, b_path, {}),
                ("service", s_url, service.pid, s_path, auth),
            ):
                log(f"{scenario}: {name} ({args.duration:.0f} s)")
                run = await asyncio.wait_for(
                    measure(name, url, pid, scenario, path, headers, args, batch, tag),
                    timeout=args.timeout,
                )
                if run.errors:
                    log(f"  {run.errors} failed requests, first: {run.first_error}")
                runs.append(run)
    finally:
        stop(service)
        stop(baseline)
    load_avg = os.getloadavg()
    print(f"# Intake benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)\n")
    print(
        f"`{args.command}`; {os.cpu_count()} CPUs, load average {load_avg[0]:.1f}; "
        f"{args.duration:.0f} s per run after {args.warmup:.0f} s warm-up; the load generator "
        f"runs on the same machine; CPU calibration {calibration[0]:.0f} ms before, "
        f"{queries.calibration_ms():.0f} ms after (bench/queries.py `calibration_ms`: "
        "compare runs at similar figures).\n"
    )
    print(table(runs))
    if not args.skip_queries:
        log("portal queries")
        print()
        print(await portal_queries(args, logdir))
    latencies = [statistics.median(r.latencies_ms) for r in runs if r.latencies_ms]
    return 0 if latencies and not any(r.errors for r in runs) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--query-requests", type=int, default=50)
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--profile", metavar="DIR", help="py-spy raw profiles of the service")
    parser.add_argument("--timeout", type=float, default=600, help="seconds, per stage")
    args = parser.parse_args()
    args.command = "python -m bench.intake " + " ".join(sys.argv[1:])
    try:  # the servers run on uvloop (uvicorn picks it up); so does the load generator
        import uvloop
    except ImportError:
        return asyncio.run(main_async(args))
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
