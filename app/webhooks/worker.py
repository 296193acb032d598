"""The webhook relay's loop: fan-out (`fanout.py`) and attempts (`delivery.py`) in one task;
the worker runs the moment scheduler (`app/referrals/scheduler.py`) beside it.

It runs as `rujukan worker` (any number of processes on PostgreSQL: the fan-out's row lock
and the attempts' leases share the work out) or, on the embedded SQLite default, inside
`rujukan serve` (`in_process`). It keeps up to `webhook_concurrency` attempts in flight.
Every database step opens its own short transaction and the HTTP calls run outside any,
so a slow endpoint never holds back the outbox horizon. A failing cycle is logged and
retried with backoff; on stop, attempts in flight get about one attempt timeout to finish,
and one abandoned after that is retried when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Sequence

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.crypto import DataCipher
from app.core.db import Database
from app.core.metrics import OUTBOX_BACKLOG, WEBHOOK_DUE
from app.referrals import scheduler
from app.webhooks import fanout
from app.webhooks.delivery import Deliverer, count_due
from app.webhooks.fanout import FANOUT_BATCH, Fanout

log = logging.getLogger("rujukan.webhooks")

GAUGE_INTERVAL_SECONDS = 5.0


class Worker:
    def __init__(self, db: Database, cipher: DataCipher, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.concurrency = settings.webhook_concurrency
        self.fanout = Fanout(db)
        self.deliverer = Deliverer(db, cipher, settings)

    async def aclose(self) -> None:
        await self.deliverer.aclose()

    async def update_gauges(self) -> None:
        async with self.db.read_session() as session:
            backlog = await fanout.backlog(session)
            due = await count_due(session, utcnow())
        OUTBOX_BACKLOG.set(backlog)
        WEBHOOK_DUE.set(due)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: fan out, keep up to `webhook_concurrency` attempts in flight.

        The database is asked for new events and due retries once per poll interval (at
        once again while a fan-out batch comes back full), and for more due deliveries
        whenever a quarter of the attempt slots is free and the last claim was not short.
        """
        poll = self.settings.webhook_poll_interval_seconds
        low_water = max(1, self.concurrency // 4)
        inflight: set[asyncio.Task[str]] = set()
        stopping = asyncio.create_task(stop.wait())
        failures = 0
        next_tick = next_gauges = 0.0
        maybe_due = True
        log.info("webhook relay started", extra={"fields": {"concurrency": self.concurrency}})
        try:
            while not stop.is_set():
                now = time.monotonic()
                try:
                    if now >= next_gauges:
                        next_gauges = now + GAUGE_INTERVAL_SECONDS
                        await self.update_gauges()
                    if now >= next_tick:
                        fanned = await self.fanout.fan_out()
                        next_tick = now if fanned >= FANOUT_BATCH else now + poll
                        maybe_due = True
                    free = self.concurrency - len(inflight)
                    if maybe_due and (free >= low_water or not inflight):
                        claimed = await self.deliverer.claim(free)
                        maybe_due = len(claimed) == free  # short: nothing else is due now
                        for item in claimed:
                            task = asyncio.create_task(self.deliverer.attempt(item))
                            inflight.add(task)
                            task.add_done_callback(inflight.discard)
                    failures = 0
                except Exception:
                    failures += 1
                    log.error("webhook relay cycle failed", exc_info=True)
                    next_tick = now + min(30.0, poll * 2**failures)
                await asyncio.wait(
                    {stopping, *inflight},
                    timeout=max(0.0, next_tick - time.monotonic()),
                    return_when="FIRST_COMPLETED",
                )
        finally:
            stopping.cancel()
            if inflight:  # let attempts finish; an abandoned one is retried after its lease
                _, pending = await asyncio.wait(inflight, timeout=self.deliverer.timeout + 1)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            log.info("webhook relay stopped")


@contextlib.asynccontextmanager
async def in_process(db: Database, cipher: DataCipher, settings: Settings) -> AsyncIterator[None]:
    """Run the relay beside the API (the embedded SQLite default), if settings say so."""
    if not settings.worker_in_process:
        yield
        return
    worker = Worker(db, cipher, settings)
    stop = asyncio.Event()
    task = asyncio.gather(worker.run(stop), scheduler.run(db, settings, stop))
    try:
        yield
    finally:
        stop.set()
        await task
        await worker.aclose()


async def run_worker(
    db: Database,
    cipher: DataCipher,
    settings: Settings,
    *,
    signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
) -> None:
    """`rujukan worker`: the relay loop until SIGTERM or SIGINT, then a graceful stop."""
    if settings.worker_metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr="127.0.0.1")
    worker = Worker(db, cipher, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.gather(worker.run(stop), scheduler.run(db, settings, stop))
    finally:
        await worker.aclose()
        await db.dispose()
