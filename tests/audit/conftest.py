"""A database of the test's own (sqlite or postgres, like `database_url`), for tests that
tamper with the audit log as its owner: the shared test database must stay untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.core.config import Settings
from app.core.db import Database
from tests.conftest import TEST_AUDIT_KEY, TEST_DATA_KEY
from tests.support.databases import drop_database, own_database_url


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
