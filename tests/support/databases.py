"""Databases of a test's own, migrated, for tests that change what the shared one must
keep (tampering as the owner, roles and grants)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from app.core.migrate import upgrade
from tests.conftest import PG_URL, _pg_admin, _run


def own_database_url(backend: str, directory: Path) -> str:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'own.db'}"
    else:
        name = f"rujukan_test_{uuid.uuid4().hex[:8]}"
        _run(_pg_admin(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    _run(lambda: upgrade(url))
    return url


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = make_url(url).database
        _run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def pg_dump(database_url: str) -> str:
    """The data of the PostgreSQL database at `database_url`, as `pg_dump --data-only`
    prints it (what a stolen backup would hold)."""
    url = make_url(database_url)
    proc = await asyncio.create_subprocess_exec(
        "pg_dump",
        "--data-only",
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
        url.database or "",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    return out.decode()
