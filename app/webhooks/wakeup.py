"""What wakes the relay when an event commits, so that a delivery need not wait for a poll.

On PostgreSQL a statement-level trigger on `outbox_events` (migration 0004_closed_loop)
runs `NOTIFY rujukan_outbox` in the transaction that inserts the rows, whoever the writer;
PostgreSQL delivers it when, and only if, that transaction commits. `OutboxListener` keeps
one dedicated asyncpg connection that LISTENs (`add_listener`) and sets the worker's
wake-up. Notifications can be lost (the connection drops, the server restarts): the
listener reconnects with backoff and wakes the relay once it is back, and the relay still
polls, so a lost notification costs latency, never an event.

On the embedded SQLite the writers are in the relay's own process: `Database.watch_commits`
calls back after every commit that inserted outbox rows (an in-process signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.engine import make_url

from app.core.config import Settings

log = logging.getLogger("rujukan.webhooks")

CHANNEL = "rujukan_outbox"
APPLICATION_NAME = "rujukan-relay-listener"
RECONNECT_MIN_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 10.0


def asyncpg_dsn(database_url: str) -> dict[str, Any]:
    """asyncpg's connect() arguments for a `postgresql+asyncpg://` URL."""
    url = make_url(database_url)
    args: dict[str, Any] = {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }
    return {k: v for k, v in args.items() if v is not None}


class OutboxListener:
    """LISTEN on a dedicated connection; `wake` is called on every notification and after
    every (re)connection (anything committed while it was away is fetched then)."""

    def __init__(self, settings: Settings, wake: asyncio.Event) -> None:
        self.connect_args = asyncpg_dsn(settings.database_url)
        self.wake = wake
        self.connected = asyncio.Event()  # set while a connection listens (tests look)
        self.connections = 0  # how many times it has connected

    def _notified(self, *_args: object) -> None:
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        import asyncpg  # type: ignore[import-untyped]  # PostgreSQL only

        delay = RECONNECT_MIN_SECONDS
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                lost = asyncio.Event()
                conn: Any = None
                try:
                    conn = await asyncpg.connect(
                        **self.connect_args,
                        timeout=10,
                        server_settings={"application_name": APPLICATION_NAME},
                    )
                    conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                    await conn.add_listener(CHANNEL, self._notified)
                    self.connections += 1
                    self.connected.set()
                    delay = RECONNECT_MIN_SECONDS
                    self.wake.set()  # catch up on what committed while not listening
                    # A dead server is only noticed on use: check the connection now and
                    # then while waiting.
                    while not stop.is_set() and not lost.is_set():
                        waiting = asyncio.create_task(lost.wait())
                        await asyncio.wait(
                            {stopping, waiting}, timeout=5.0, return_when="FIRST_COMPLETED"
                        )
                        waiting.cancel()
                        if not stop.is_set() and not lost.is_set():
                            await conn.execute("SELECT 1", timeout=5)
                except Exception:
                    log.warning("outbox listener connection lost; polling until it is back")
                finally:
                    self.connected.clear()
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close(timeout=2)
                if stop.is_set():
                    break
                await asyncio.wait({stopping}, timeout=delay)
                delay = min(RECONNECT_MAX_SECONDS, delay * 2)
        finally:
            stopping.cancel()
