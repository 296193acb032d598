"""Schemathesis against the running service on PostgreSQL, once per role.

A real uvicorn server (tests/livesrv.py) serves a fresh app on a PostgreSQL database of its
own; the schema is the live `/openapi.json`. Every operation goes through the examples,
coverage, fuzzing and stateful phases with every check (`positive_data_acceptance` as
wrapped in tests/fuzz/hooks.py), once with each role's key, and each run must end with
zero failures and zero errors.

The five runs are `st run` processes started together: Schemathesis' own thread workers trip
CPython 3.11's "AST constructor recursion depth mismatch", and five runs in a row would not
fit the CI budget. Bounded: a handful of examples per operation, deterministic generation;
the failing run's report (with `curl` reproductions) is the assertion message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.migrate import upgrade
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import Clients, _pg_admin, _run
from tests.livesrv import LiveServer

ROLES = ("prison", "kemensos", "sentra", "auditor", "admin")
MAX_EXAMPLES = 5
RUN_TIMEOUT = 280  # seconds; the runs go side by side
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Deployment:
    base_url: str
    keys: dict[str, str]
    runs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)


async def _issue_keys(settings: Settings) -> dict[str, str]:
    services = build_runtime(settings)
    try:
        clients = Clients(services)
        sentra_code = f"FZ-{uuid.uuid4().hex[:6].upper()}"
        await clients.add_sentra(sentra_code, province="31", regency="3171", coverage=["3171"])
        made = {
            "prison": await clients.make("prison", facilities=["*"]),
            "kemensos": await clients.make("kemensos"),
            "sentra": await clients.make("sentra", sentra=[sentra_code]),
            "auditor": await clients.make("auditor"),
            "admin": await clients.make("admin"),
        }
    finally:
        await services.db.dispose()
    return {role: client.api_key for role, client in made.items()}


@pytest.fixture(scope="module")
def deployment(settings: Settings, backend: str) -> Iterator[Deployment]:
    """The service on a PostgreSQL database of its own.

    The admin run rotates and deletes whatever clients it can list, and the fuzzer writes
    odd sentra and subscriptions: none of that may reach the other tests' shared database.
    """
    if backend != "postgres":
        pytest.skip("Schemathesis runs against the PostgreSQL deployment only")
    name = f"rujukan_fuzz_{uuid.uuid4().hex[:8]}"
    _run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(settings.database_url).set(database=name)
        own = settings.model_copy(
            update={"database_url": url.render_as_string(hide_password=False)}
        )
        _run(lambda: upgrade(own.database_url))
        keys = _run(_issue_keys(own))
        server = LiveServer(create_app(own))
        server.start()
        deployment = Deployment(server.base_url, keys)
        try:
            for role in ROLES:
                deployment.runs[role] = _start_run(server.base_url, keys[role])
            yield deployment
        finally:
            for run in deployment.runs.values():
                if run.poll() is None:
                    run.kill()
                    run.wait()
            server.stop()
    finally:
        _run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _start_run(base_url: str, api_key: str) -> subprocess.Popen[str]:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--header",
        f"Authorization: Bearer {api_key}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--request-timeout",
        "30",
        # Five runs share one server thread: a 500-event batch may take longer than the
        # default 10 s here without being slow on its own.
        "--max-response-time",
        "30",
        "--no-color",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_passes_every_check(deployment: Deployment, role: str) -> None:
    run = deployment.runs[role]
    try:
        report, _ = run.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        run.kill()
        report, _ = run.communicate()
        pytest.fail(f"Schemathesis as {role} did not finish in {RUN_TIMEOUT}s:\n{report}")

    assert run.returncode == 0, f"Schemathesis as {role} failed:\n{report}"
