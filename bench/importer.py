"""`rujukan import` of a generated backlog on a fresh PostgreSQL database, as an operator runs it.

    python -m bench.importer                      # 100,000 events, then the rerun
    python -m bench.importer --events 20000

Writes a synthetic backlog (`bench.backlog`), creates the database `rujukan_bench_import`
(dropped first), migrates it, creates a prison client with `rujukan clients create`, then
times `rujukan import FILE --client ID` as a subprocess: events/s over the whole command
(start-up included), the command's CPU time per event and its peak RSS (from wait4), the
machine's load average, and the summary checked against the counts the generator
expected. The rerun must replay every line and create nothing. Prints Markdown rows for
docs/benchmarks.md; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from bench.backlog import Backlog
from bench.queries import calibration_ms

ADMIN_URL = os.environ.get(
    "RUJUKAN_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "rujukan_bench_import"
FACILITY = "LP-IMPORT"
RUJUKAN = str(Path(sys.executable).with_name("rujukan"))


async def _admin(sql: str) -> None:
    url = make_url(ADMIN_URL)
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database="postgres"
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run(args: list[str], env: dict[str, str]) -> tuple[str, float, float, int]:
    """stdout, wall seconds, CPU seconds (user + system) and peak RSS in MB of one command."""
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: some lines were refused, as the mix wants
        raise SystemExit(f"{' '.join(args[:3])} failed with exit status {proc.returncode}")
    return out, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def _row(label: str, summary: dict[str, Any], wall: float, cpu: float, rss: int) -> str:
    read = summary["read"]
    return (
        f"| {label} | {read:,} | {read / wall:,.0f} | {cpu * 1000 / read:.2f} | {rss} "
        f"| {os.getloadavg()[0]:.1f} | {summary['created']:,} | {summary['replayed']:,} "
        f"| {summary['refused']:,} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="backlog lines (at least)")
    args = parser.parse_args()

    url = make_url(ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "RUJUKAN_DATABASE_URL": url,
        "RUJUKAN_DATA_KEY": base64.b64encode(os.urandom(32)).decode(),
        "RUJUKAN_LOG_LEVEL": "WARNING",
    }
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{DATABASE}"'))
    try:
        with tempfile.TemporaryDirectory(prefix="rujukan-import-") as tmp:
            backlog = Backlog(FACILITY)
            path = Path(tmp) / "backlog.jsonl"
            with path.open("wb") as out:
                for event in backlog.lines(args.events):
                    out.write(orjson.dumps(event) + b"\n")
            _run([RUJUKAN, "db", "upgrade"], env)
            created, _, _, _ = _run(
                [RUJUKAN, "clients", "create", "--name", "Import bench", "--role", "prison",
                 "--facility", FACILITY],
                env,
            )  # fmt: skip
            client = json.loads(created)["client_id"]
            print(f"calibration_ms before: {calibration_ms():.0f}", file=sys.stderr)
            rows = []
            for label in ("first run", "rerun"):
                printed, wall, cpu, rss = _run(
                    [RUJUKAN, "import", str(path), "--client", client], env
                )
                summary = json.loads(printed)
                rows.append(_row(label, summary, wall, cpu, rss))
                if label == "first run":
                    got = {k: v for k, v in summary.items() if k not in ("read", "seconds") and v}
                    want = dict(backlog.expected)
                    if got != want:
                        raise SystemExit(f"summary {got} != expected {want}")
                elif summary["replayed"] != summary["read"] - summary["refused"]:
                    raise SystemExit(f"the rerun did not replay everything: {summary}")
            print(f"calibration_ms after: {calibration_ms():.0f}", file=sys.stderr)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    print(
        "| run | events | events/s | CPU ms/event | peak RSS MB | load avg | created "
        "| replayed | refused |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
