"""Which exceptions are a database outage (503) and which stay a bug (500): no database."""

from __future__ import annotations

import errno
from types import SimpleNamespace
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext

from app.core.dbfaults import is_database_unavailable, mark_disconnect


def wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    """What SQLAlchemy raises for a driver error (`orig`), as the asyncpg dialect does."""
    error = sa_exc.DBAPIError("SELECT 1", {}, orig, connection_invalidated=invalidated)
    error.__cause__ = orig
    return error


def with_sqlstate(sqlstate: str) -> Exception:
    error = Exception("driver error")
    error.sqlstate = sqlstate  # type: ignore[attr-defined]
    return error


def raised_from(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as caught:
            raise outer from caught
    except Exception as final:
        return final


UNAVAILABLE: list[BaseException] = [
    wrapped(Exception("connection is closed"), invalidated=True),
    sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")),
    sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"),
    sa_exc.DisconnectionError("gone"),
    ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    ConnectionResetError(errno.ECONNRESET, "reset by peer"),
    OSError(errno.EHOSTUNREACH, "No route to host"),
    TimeoutError(),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
    asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    wrapped(with_sqlstate("57P01")),  # admin shutdown (pg_terminate_backend)
    wrapped(with_sqlstate("57P03")),  # cannot connect now (starting up / shutting down)
    wrapped(with_sqlstate("08006")),  # connection failure
    wrapped(asyncpg.exceptions.AdminShutdownError("terminating")),
    raised_from(RuntimeError("rollback failed"), ConnectionResetError()),
    ExceptionGroup("task group", [ValueError("x"), ConnectionRefusedError()]),
]

NOT_UNAVAILABLE: list[BaseException] = [
    ValueError("bad value"),
    KeyError("missing"),
    AssertionError(),
    sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
    sa_exc.ProgrammingError("SELECT", {}, Exception("syntax error")),
    wrapped(with_sqlstate("23505")),  # unique violation
    wrapped(with_sqlstate("40001")),  # serialization failure: ours to fix, not an outage
    wrapped(with_sqlstate("57014")),  # query cancelled (statement timeout)
    wrapped(Exception("plain driver error")),
    asyncpg.exceptions.UniqueViolationError("duplicate key"),
    asyncpg.exceptions.InterfaceError("another operation is in progress"),
    FileNotFoundError(errno.ENOENT, "No such file"),
    PermissionError(errno.EACCES, "denied"),
    raised_from(RuntimeError("bug"), ValueError("cause")),
]


@pytest.mark.parametrize("error", UNAVAILABLE, ids=lambda e: type(e).__name__)
def test_connection_level_failures_are_unavailable(error: BaseException) -> None:
    assert is_database_unavailable(error)


@pytest.mark.parametrize("error", NOT_UNAVAILABLE, ids=lambda e: type(e).__name__)
def test_other_errors_stay_internal(error: BaseException) -> None:
    assert not is_database_unavailable(error)


def test_a_cyclic_chain_terminates() -> None:
    first, second = ValueError("a"), KeyError("b")
    first.__context__, second.__context__ = second, first
    assert not is_database_unavailable(first)


def context(original: BaseException, dialect: str = "postgresql") -> Any:
    return SimpleNamespace(
        is_disconnect=False,
        original_exception=original,
        dialect=SimpleNamespace(name=dialect),
    )


def test_mark_disconnect_invalidates_connections_that_lost_their_server() -> None:
    ctx = context(asyncpg.exceptions.AdminShutdownError("terminating"))
    mark_disconnect(cast(ExceptionContext, ctx))
    assert ctx.is_disconnect is True


def test_mark_disconnect_leaves_other_errors_and_sqlite_alone() -> None:
    ctx = context(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    mark_disconnect(cast(ExceptionContext, ctx))
    assert ctx.is_disconnect is False
    ctx = context(sa_exc.OperationalError("x", {}, Exception("database is locked")), "sqlite")
    mark_disconnect(cast(ExceptionContext, ctx))
    assert ctx.is_disconnect is False
