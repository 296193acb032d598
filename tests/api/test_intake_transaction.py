"""The intake transaction on PostgreSQL (app/intake/pgbulk.py `transaction`): committed,
rolled back, and never left open on a connection that goes back to the pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.intake import pgbulk


@pytest.fixture
async def connection(database_url: str, backend: str) -> AsyncIterator[Any]:
    if backend != "postgres":
        pytest.skip("the raw asyncpg path is PostgreSQL's")
    url = make_url(database_url)
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    await conn.execute("CREATE TEMP TABLE t (v int)")
    try:
        yield conn
    finally:
        if not conn.is_closed():
            await conn.close()


async def test_a_block_that_ends_is_committed_with_custom_plans(connection: Any) -> None:
    async with pgbulk.transaction(connection):
        assert connection.is_in_transaction()
        assert await connection.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
        await connection.execute("INSERT INTO t VALUES (1)")
    assert not connection.is_in_transaction()
    assert await connection.fetchval("SELECT count(*) FROM t") == 1
    assert await connection.fetchval("SHOW plan_cache_mode") == "auto"  # SET LOCAL


async def test_a_block_that_raises_is_rolled_back(connection: Any) -> None:
    with pytest.raises(ZeroDivisionError):
        async with pgbulk.transaction(connection):
            await connection.execute("INSERT INTO t VALUES (1)")
            raise ZeroDivisionError
    assert not connection.is_in_transaction()
    assert await connection.fetchval("SELECT count(*) FROM t") == 0


async def test_a_cancelled_block_is_rolled_back(connection: Any) -> None:
    started = asyncio.Event()

    async def stuck() -> None:
        async with pgbulk.transaction(connection):
            await connection.execute("INSERT INTO t VALUES (1)")
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not connection.is_in_transaction()
    assert await connection.fetchval("SELECT count(*) FROM t") == 0


class RollbackInterrupted:
    """The connection, but its ROLLBACK is interrupted (as by a second cancellation)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)

    async def execute(self, sql: str, *args: Any) -> Any:
        if sql == "ROLLBACK":
            raise asyncio.CancelledError
        return await self.connection.execute(sql, *args)


async def test_a_connection_that_cannot_be_rolled_back_is_closed(connection: Any) -> None:
    """Back in the pool inside a transaction, it would fail every request that got it."""
    with pytest.raises(ZeroDivisionError):
        async with pgbulk.transaction(RollbackInterrupted(connection)):
            raise ZeroDivisionError
    assert connection.is_closed()


async def test_a_failed_commit_leaves_no_transaction(connection: Any) -> None:
    await connection.execute("CREATE TEMP TABLE u (v int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(asyncpg.UniqueViolationError):
        async with pgbulk.transaction(connection):
            await connection.execute("INSERT INTO u VALUES (1), (1)")  # checked at COMMIT
    assert not connection.is_in_transaction()
    assert await connection.fetchval("SELECT 1") == 1
