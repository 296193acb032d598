"""Engine, session factory, declarative Base and the column types both databases share."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, UOWTransaction
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from app.core.config import Settings
from app.core.dbfaults import mark_disconnect

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def insert_or_skip(
    session: AsyncSession, table: Table, *conflict_columns: str
) -> PgInsert | SqliteInsert:
    """`INSERT … ON CONFLICT (conflict_columns) DO NOTHING` in the session's dialect: rows
    that would violate that unique key are skipped, not an error (RETURNING names the
    rows written)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))


class Database:
    """The engine and sessions of one process.

    SQLite allows one writer at a time; instead of letting concurrent requests race for
    the file lock (and fail with "database is locked"), transactions on the embedded
    database queue on an asyncio lock. PostgreSQL needs no such lock: its row locks and
    unique indexes do the work.
    """

    def __init__(self, settings: Settings, *, echo: bool = False) -> None:
        self.settings = settings
        self.is_sqlite = settings.is_sqlite
        kwargs: dict[str, Any] = {
            "hide_parameters": True,
            "echo": echo,
            # JSON columns (the case data of every listed referral) read and written with
            # orjson: the standard library's decoder was a tenth of a portal list's time.
            "json_deserializer": orjson.loads,
            "json_serializer": _json_text,
        }
        if self.is_sqlite:
            path = settings.sqlite_path
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pool_recycle=1800,
                # asyncpg prepares each statement once per connection, and after five runs
                # PostgreSQL may keep one generic plan for it: chosen while the tables were
                # small (a new database, before the first ANALYZE), the case lookup of
                # intake walked every referral of a facility (8 s for a batch of 500;
                # docs/benchmarks.md). Custom plans cost ~0.2 ms of planning a statement.
                # JIT compilation: the dashboards' aggregates over a million referrals
                # spent 10 s compiling to save milliseconds (docs/benchmarks.md).
                connect_args={
                    "server_settings": {"plan_cache_mode": "force_custom_plan", "jit": "off"}
                },
            )
        self.engine: AsyncEngine = create_async_engine(settings.database_url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            # Set-based writes (intake's history, outbox and audit rows) as multi-row
            # INSERTs rather than one execution per row: PostgreSQL's work per statement
            # was a large share of a batch's (docs/benchmarks.md).
            self.engine.dialect.use_insertmanyvalues_wo_returning = True
        # A connection that lost its server is dropped from the pool, pre-ping or not.
        event.listen(self.engine.sync_engine, "handle_error", mark_disconnect)
        if not self.is_sqlite:
            pool = self.engine.sync_engine.pool
            event.listen(pool, "connect", _note_idle)
            event.listen(pool, "checkin", _note_idle)
            event.listen(pool, "checkout", _ping_if_idle)
        self._commit_watchers: dict[str, list[Callable[[], None]]] = {}
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=self._session_class()
        )
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None

    def watch_commits(self, table: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (on the event loop's thread) after every commit of this process
        that inserted rows into `table`; returns the function that stops watching. The
        in-process wake-up of the webhook relay on the embedded database."""
        self._commit_watchers.setdefault(table, []).append(callback)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._commit_watchers.get(table, []).remove(callback)

        return stop

    def _session_class(self) -> type[Session]:
        """A Session class of this database alone, whose events note the watched tables a
        transaction inserted into and tell their watchers once it has committed."""
        watchers = self._commit_watchers

        class WatchedSession(Session):
            pass

        def note(session: Session, table: str | None) -> None:
            if table is not None and table in watchers:
                session.info.setdefault("inserted_into", set()).add(table)

        def on_execute(state: ORMExecuteState) -> None:
            if watchers and state.is_insert:
                note(state.session, getattr(getattr(state.statement, "table", None), "name", None))

        def on_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
            if watchers:
                for obj in session.new:
                    note(session, getattr(obj, "__tablename__", None))

        def on_commit(session: Session) -> None:
            for table in session.info.pop("inserted_into", ()):
                for callback in list(watchers.get(table, ())):
                    callback()

        def on_rollback(session: Session) -> None:
            session.info.pop("inserted_into", None)

        event.listen(WatchedSession, "do_orm_execute", on_execute)
        event.listen(WatchedSession, "before_flush", on_flush)
        event.listen(WatchedSession, "after_commit", on_commit)
        event.listen(WatchedSession, "after_rollback", on_rollback)
        return WatchedSession

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            session = await stack.enter_async_context(self.sessionmaker())
            await stack.enter_async_context(session.begin())
            yield session

    @contextlib.asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only (no lock on SQLite: WAL readers never block)."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


# A pooled connection idle for longer is pinged before it is handed out. SQLAlchemy's
# pool_pre_ping pings on every checkout: a round trip per request, which under load costs
# more than the request's own Python work. A connection in steady use needs none: if its
# server went away meanwhile, the request gets a 503 (app/dbfaults.py) and the pool drops
# every connection as old as it (`mark_disconnect`), so at most the requests in flight at
# that moment see the outage.
IDLE_PING_SECONDS = 1.0


def _note_idle(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is not None and time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return
    try:
        # The driver adapter's own ping: it leaves no transaction open behind it (a plain
        # SELECT through the adapter would begin one, and intake's raw asyncpg path would
        # then run inside it as a savepoint, rolled back when the connection is returned).
        dbapi_connection.ping()
    except Exception as exc:
        # The pool discards this connection and checks out (or opens) another.
        raise DisconnectionError("the pooled connection is gone") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
