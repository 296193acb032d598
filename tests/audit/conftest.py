"""A database of the test's own (sqlite or postgres, like `database_url`), for tests that
tamper with the audit log as its owner: the shared test database must stay untouched."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.db import Database
from app.core.migrate import upgrade
from tests.conftest import PG_URL, TEST_AUDIT_KEY, TEST_DATA_KEY, _pg_admin, _run


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


@pytest.fixture
async def own_db(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    url = own_database_url(backend, tmp_path)
    settings = Settings(
        database_url=url,
        data_key=TEST_DATA_KEY,  # type: ignore[arg-type]
        audit_signing_key=TEST_AUDIT_KEY,  # type: ignore[arg-type]
    )
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()
        drop_database(url)
