"""The unit of work of app/core/db.py on both databases: committed when the block ends,
rolled back when it raises or is cancelled, and never left open on a pooled connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS uow_probe (v text)"))
    yield database
    # The shared test database keeps no table the models do not declare.
    async with database.transaction() as session:
        await session.execute(text("DROP TABLE uow_probe"))
    await database.dispose()


async def _count(db: Database, mark: str) -> int:
    async with db.read_session() as session:
        found = await session.scalar(
            text("SELECT count(*) FROM uow_probe WHERE v = :v"), {"v": mark}
        )
    return int(found or 0)


async def test_a_block_that_ends_is_committed(db: Database) -> None:
    mark = uuid.uuid4().hex
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO uow_probe VALUES (:v)"), {"v": mark})
    assert await _count(db, mark) == 1
    await db.dispose()


async def test_a_block_that_raises_is_rolled_back(db: Database) -> None:
    mark = uuid.uuid4().hex
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO uow_probe VALUES (:v)"), {"v": mark})
            raise RuntimeError("refused")
    assert await _count(db, mark) == 0
    await db.dispose()


async def test_a_cancelled_block_is_rolled_back_and_its_connection_returned_idle(
    db: Database, backend: str
) -> None:
    mark = uuid.uuid4().hex
    inside = asyncio.Event()

    async def work() -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO uow_probe VALUES (:v)"), {"v": mark})
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(work())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _count(db, mark) == 0
    if backend == "postgres":
        # Every pooled connection is idle: none went back inside a transaction.
        async with db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            assert raw.driver_connection is not None
            assert not raw.driver_connection.is_in_transaction()
    await db.dispose()


async def test_postgresql_plans_every_statement_with_its_values(db: Database, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("a PostgreSQL setting")
    async with db.read_session() as session:
        mode = await session.scalar(text("SHOW plan_cache_mode"))
    assert mode == "force_custom_plan"
    await db.dispose()
