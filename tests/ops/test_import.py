"""`rujukan import` (SPEC §9) as an operator runs it: a real process on a real database
(the embedded SQLite and PostgreSQL), a generated backlog with the mix of a real one.

The summary must match what the database holds; a rerun creates nothing; an import
interrupted by Ctrl-C and run again ends exactly where an uninterrupted one does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.backlog import Backlog
from tests.conftest import IN_CI, PG_URL, TEST_DATA_KEY, _pg_admin, _run
from tests.ops.server import ROOT

FACILITY = "LP-IMPORT"


@pytest.fixture(params=["sqlite", "postgres"])
def env(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUJUKAN_")}
    base.update(RUJUKAN_LOG_LEVEL="WARNING", RUJUKAN_DATA_KEY=TEST_DATA_KEY)
    if request.param == "sqlite":
        yield {**base, "RUJUKAN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"}
        return
    if not pg_available:
        if IN_CI:
            pytest.fail("PostgreSQL is not reachable and CI=true")
        pytest.skip("PostgreSQL not reachable")
    name = f"rujukan_import_{uuid.uuid4().hex[:8]}"
    _run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield {**base, "RUJUKAN_DATABASE_URL": url}
    finally:
        _run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def cli(
    env: dict[str, str], *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=ROOT,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def prison(env: dict[str, str]) -> str:
    assert cli(env, "db", "upgrade").returncode == 0
    done = cli(env, "clients", "create", "--name", "SDP impor", "--role", "prison",
               "--facility", FACILITY)  # fmt: skip
    assert done.returncode == 0, done.stderr
    client_id: str = json.loads(done.stdout)["client_id"]
    return client_id


def write_backlog(path: Path, events: int) -> Counter[str]:
    backlog = Backlog(FACILITY, seed=7)
    with path.open("wb") as out:
        for event in backlog.lines(events):
            out.write(orjson.dumps(event) + b"\n")
    return backlog.expected


def stored(env: dict[str, str], client_id: str) -> dict[str, Any]:
    """What the database holds for the client: referrals, intake outcomes, audit rows."""

    async def read() -> dict[str, Any]:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(env["RUJUKAN_DATABASE_URL"])
        cid = uuid.UUID(client_id)
        try:
            async with engine.connect() as conn:
                referrals = (
                    await conn.execute(
                        sa.text("SELECT count(*) FROM referrals WHERE facility_code = :f"),
                        {"f": FACILITY},
                    )
                ).scalar_one()
                outcomes = dict(
                    (
                        await conn.execute(
                            sa.text(
                                "SELECT outcome, count(*) FROM intake_records "
                                "WHERE client_id = :c AND status_code > 0 GROUP BY outcome"
                            ),
                            {"c": cid if engine.dialect.name == "postgresql" else cid.hex},
                        )
                    ).all()
                )
                audited = (
                    await conn.execute(
                        sa.text(
                            "SELECT count(*) FROM audit_events WHERE action = :a AND client_id = :c"
                        ),
                        {
                            "a": "release_event.receive",
                            "c": cid if engine.dialect.name == "postgresql" else cid.hex,
                        },
                    )
                ).scalar_one()
        finally:
            await engine.dispose()
        return {"referrals": referrals, "outcomes": outcomes, "audited": audited}

    result: dict[str, Any] = _run(read())
    return result


def summary_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(done.stdout)
    return out


APPLIED = ("created", "updated", "unchanged", "stale", "cancelled", "revoked")


def test_import_counts_match_the_database_and_a_rerun_creates_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    client_id = prison(env)
    source = tmp_path / "backlog.jsonl"
    expected = write_backlog(source, 1_200)
    lines = source.read_bytes().count(b"\n")

    first = cli(env, "import", str(source), "--client", client_id)
    assert first.returncode == 1, first.stderr  # the backlog holds refused events
    summary = summary_of(first)
    assert summary["read"] == lines
    assert {k: summary[k] for k in expected} == dict(expected)
    assert summary["consent_withdrawn"] == summary["revoked"] == 0
    assert "Traceback" not in first.stderr
    assert f"{expected['refused']} event(s) refused" in first.stderr

    db = stored(env, client_id)
    assert db["referrals"] == summary["created"]
    assert db["outcomes"] == {k: summary[k] for k in APPLIED if summary[k]}
    assert db["audited"] == lines  # every event audited: applied, replayed or refused

    rejects = [
        json.loads(x) for x in (tmp_path / "backlog.jsonl.rejects.jsonl").read_text().splitlines()
    ]
    assert len(rejects) == summary["refused"]
    source_lines = source.read_text().splitlines()
    for reject in rejects:
        assert reject["status"] == 422
        assert reject["problem"]["errors"][0]["pointer"] == "/person/nik"
        assert json.loads(source_lines[reject["line"] - 1])["event_id"] == reject["event_id"]

    again = summary_of(cli(env, "import", str(source), "--client", client_id))
    assert again["created"] == again["updated"] == again["cancelled"] == again["stale"] == 0
    assert again["replayed"] == lines - summary["refused"]
    assert again["refused"] == summary["refused"]
    assert stored(env, client_id)["referrals"] == summary["created"]
    rejected_again = (tmp_path / "backlog.jsonl.rejects.jsonl").read_text().splitlines()
    assert len(rejected_again) == summary["refused"]  # rewritten, not appended to


def test_an_interrupted_import_resumed_loses_nothing(env: dict[str, str], tmp_path: Path) -> None:
    client_id = prison(env)
    source = tmp_path / "backlog.jsonl"
    expected = write_backlog(source, 6_000)

    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "import", str(source), "--client", client_id],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while stored(env, client_id)["referrals"] < 300:  # some batches are in
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    assert process.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    partial = stored(env, client_id)["referrals"]
    assert 0 < partial < expected["created"], "interrupted before the end"

    resumed = summary_of(cli(env, "import", str(source), "--client", client_id))
    db = stored(env, client_id)
    assert db["referrals"] == expected["created"]
    assert resumed["created"] == expected["created"] - partial
    # The database ends as an uninterrupted import leaves it.
    assert db["outcomes"] == {k: expected[k] for k in APPLIED if expected[k]}


def test_stdin_malformed_lines_and_blank_lines(env: dict[str, str], tmp_path: Path) -> None:
    client_id = prison(env)
    good = Backlog(FACILITY, seed=1).case(0)[0]
    body = b"\n".join([orjson.dumps(good), b"", b"{not json", b"[]"]) + b"\n"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "import", "-", "--client", client_id],
        env=env, cwd=tmp_path, input=body, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    summary = json.loads(done.stdout)
    assert done.returncode == 1
    assert summary["read"] == 3 and summary["created"] == 1 and summary["refused"] == 2
    rejects = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["status"], r["problem"]["code"]) for r in rejects] == [
        (3, 422, "MALFORMED_JSON"),
        (4, 422, "VALIDATION_FAILED"),
    ]
    assert rejects[0]["event_id"] is None


@pytest.mark.parametrize(
    ("role", "message"), [("kemensos", "only a prison posts"), (None, "no client")]
)
def test_the_client_must_be_an_active_prison(
    env: dict[str, str], tmp_path: Path, role: str | None, message: str
) -> None:
    assert cli(env, "db", "upgrade").returncode == 0
    client_id = str(uuid.uuid4())
    if role is not None:
        client_id = json.loads(cli(env, "clients", "create", "--name", "x", "--role", role).stdout)[
            "client_id"
        ]
    source = tmp_path / "one.jsonl"
    write_backlog(source, 1)
    done = cli(env, "import", str(source), "--client", client_id)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert message in done.stderr
