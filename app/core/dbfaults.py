"""Which exceptions mean "the database is not there right now" (answered 503, not 500).

A request that loses its database — PostgreSQL stopped or restarting, its backend
terminated, the network gone, the pool exhausted — gets a 503 `SERVICE_UNAVAILABLE` with
`Retry-After`: the client's retry is the right answer (release events are idempotent).
Everything else (a constraint violation, a bug) stays a 500.

`mark_disconnect` is a SQLAlchemy `handle_error` listener: it tells the pool that a
connection hit by such an error is dead, so the pool invalidates it (and every connection
older than it) instead of handing it out again. Recovery after an outage therefore does not
depend on a ping before use (app/db.py pings only connections idle for over a second).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext

RETRY_AFTER_SECONDS = 2

# SQLSTATEs of a lost or refused connection: class 08 (connection exception), 57P01-57P05
# (admin/crash shutdown, cannot connect now, database dropped, idle session timeout),
# 53300 (too many connections).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P0", "53300")
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
    }
)
# asyncpg's own names for a connection that is gone (matched by name: asyncpg is optional,
# the embedded SQLite default does not need it).
_ASYNCPG_CONNECTION_ERRORS = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "ClientCannotConnectError",
        "ConnectionRejectionError",
        "PostgresConnectionError",
        "CannotConnectNowError",
        "AdminShutdownError",
        "CrashShutdownError",
        "TooManyConnectionsError",
    }
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups (each once)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen or len(seen) > 50:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        if isinstance(current, sa_exc.DBAPIError) and isinstance(current.orig, BaseException):
            stack.append(current.orig)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def _sqlstate(exc: BaseException) -> str | None:
    for attribute in ("sqlstate", "pgcode"):
        value = getattr(exc, attribute, None)
        if isinstance(value, str) and value:
            return value
    return None


def _is_connection_level(exc: BaseException) -> bool:
    """This one exception, without its chain."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.TimeoutError):  # QueuePool: no connection within pool_timeout
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.DisconnectionError):
        return True
    if type(exc).__name__ in _ASYNCPG_CONNECTION_ERRORS and type(exc).__module__.startswith(
        "asyncpg"
    ):
        return True
    state = _sqlstate(exc)
    if state is not None and state.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        return True
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


def is_database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the database could not be reached or
    dropped the connection: the request may be retried as it is."""
    return any(_is_connection_level(e) for e in _chain(exc))


def mark_disconnect(context: ExceptionContext) -> None:
    """`handle_error` listener: a connection-level error invalidates the connection (and,
    SQLAlchemy's default, the pool's older connections) even when the dialect did not
    recognise it as a disconnect."""
    if context.is_disconnect or context.dialect.name == "sqlite":  # SQLite never disconnects
        return
    if is_database_unavailable(context.original_exception):
        context.is_disconnect = True


# The schema is not (fully) there: a table or column of this release is missing. An
# unmigrated database answers 503 like an unreachable one (SPEC §9), never 500.
_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})


def is_schema_missing(exc: BaseException) -> bool:
    for e in _chain(exc):
        if _sqlstate(e) in _SCHEMA_SQLSTATES:
            return True
        if type(e).__name__ == "OperationalError" and "no such table" in str(e):
            return True
    return False


# A deadlock PostgreSQL broke, or a serialization failure: the transaction was rolled
# back and may be run again as it is.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_retryable_conflict(exc: BaseException) -> bool:
    return any(_sqlstate(e) in _RETRYABLE_SQLSTATES for e in _chain(exc))
