"""Schemathesis' `positive_data_acceptance` against a live server, once per role: which
schema-valid requests does the service refuse, and with which code?

    .venv/bin/python -m bench.schema_acceptance                    # every role, SQLite
    .venv/bin/python -m bench.schema_acceptance --role kemensos --max-examples 20

A fresh embedded SQLite database in a temporary directory, migrated; one client per role
(a prison bound to `*`, a sentra bound to a registered sentra); the service on 127.0.0.1
(tests/livesrv.py). For each role, `st run` with only the built-in
`positive_data_acceptance` check, no allow-list: every refusal is printed with its
operation, status and problem codes, so that the refusals a schema could have prevented
stand out from the documented ones (`app.openapi.BEYOND_SCHEMA`); `--beyond-documented`
runs the fuzz suite's wrapper instead, which fails only on the undocumented ones.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from app.core.config import Settings
from app.core.migrate import upgrade
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import Clients
from tests.livesrv import LiveServer

ROLES = ("prison", "kemensos", "sentra", "bapas", "auditor", "admin")
ROOT = Path(__file__).resolve().parents[1]


async def _keys(settings: Settings) -> dict[str, str]:
    runtime = build_runtime(settings)
    try:
        clients = Clients(runtime)
        await clients.add_sentra("BENCH-SENTRA", province="31", regency="3171", coverage=["3171"])
        made = {
            "prison": await clients.make("prison", facilities=["*"]),
            "kemensos": await clients.make("kemensos"),
            "sentra": await clients.make("sentra", sentra=["BENCH-SENTRA"]),
            "bapas": await clients.make("bapas", bapas=["*"]),
            "auditor": await clients.make("auditor"),
            "admin": await clients.make("admin"),
        }
    finally:
        await runtime.db.dispose()
    return {role: client.api_key for role, client in made.items()}


def _run(
    base_url: str, key: str, max_examples: int, *, beyond_documented: bool, all_checks: bool
) -> str:
    st = Path(sys.executable).with_name("st")
    env = dict(os.environ)
    check = "positive_data_acceptance"
    if beyond_documented or all_checks:
        # The fuzz suite's wrapper: refusals the operation documents pass (app/openapi.py).
        check = "positive_data_acceptance_beyond_schema"
        env["SCHEMATHESIS_HOOKS"] = "tests.fuzz.hooks"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [
        str(st),
        "run",
        f"{base_url}/openapi.json",
        *(
            ["--checks", "all", "--exclude-checks", "positive_data_acceptance"]
            if all_checks
            else ["--checks", check]
        ),
        "--header",
        f"Authorization: Bearer {key}",
        "--max-examples",
        str(max_examples),
        "--generation-deterministic",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    return done.stdout + done.stderr


_FAILURE = re.compile(r"^_+ (?P<op>[A-Z]+ \S+) _+$")
_CODE = re.compile(r'"code":\s*"([A-Z_]+)"')


def _summary(report: str) -> Counter[tuple[str, str]]:
    """(operation, codes) of each refusal in the report."""
    found: Counter[tuple[str, str]] = Counter()
    operation = ""
    for line in report.splitlines():
        match = _FAILURE.match(line.strip())
        if match:
            operation = match["op"]
        elif "API rejected schema-compliant request" in line or '"code"' in line:
            codes = ",".join(sorted(set(_CODE.findall(line))))
            if codes:
                found[(operation, codes)] += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", action="append", choices=ROLES)
    parser.add_argument("--max-examples", type=int, default=10)
    parser.add_argument("--full", action="store_true", help="print each role's whole report")
    parser.add_argument(
        "--all-checks",
        action="store_true",
        help="every check, as tests/fuzz/test_schemathesis.py runs them (one role at a time)",
    )
    parser.add_argument(
        "--beyond-documented",
        action="store_true",
        help="fail only on refusals the operation does not document (tests/fuzz/hooks.py)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(url)
        settings = Settings(
            database_url=url,
            data_key=base64.b64encode(os.urandom(32)).decode(),  # type: ignore[arg-type]
            rate_limit_per_second=1e6,
            rate_limit_burst=1_000_000,
            auth_failures_per_second=1e6,
            auth_failure_burst=1_000_000,
            run_worker_in_process=False,
        )
        keys = asyncio.run(_keys(settings))
        server = LiveServer(create_app(settings))
        server.start()
        try:
            for role in args.role or ROLES:
                report = _run(
                    server.base_url,
                    keys[role],
                    args.max_examples,
                    beyond_documented=args.beyond_documented,
                    all_checks=args.all_checks,
                )
                print(f"== {role}")
                if args.full:
                    print(report)
                tail = [line for line in report.splitlines() if line.strip()][-3:]
                for (operation, codes), count in sorted(_summary(report).items()):
                    print(f"  {operation}: {codes} x{count}")
                print("  " + " | ".join(tail))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
