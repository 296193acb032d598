"""The worker's loop: the webhook relay's fan-out (`fanout.py`) and attempts (`delivery.py`),
and the audit log's seals (`app/audit/seals.py`), in one task; the worker runs the moment
scheduler (`app/referrals/scheduler.py`) beside it.

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
from collections.abc import AsyncIterator, Callable, Sequence

from app.audit.seals import Sealer
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.crypto import DataCipher
from app.core.db import Database
from app.core.metrics import OUTBOX_BACKLOG, WEBHOOK_DUE
from app.referrals import scheduler
from app.webhooks import fanout, pruning
from app.webhooks.delivery import Deliverer, count_due
from app.webhooks.fanout import FANOUT_BATCH, Fanout
from app.webhooks.wakeup import OutboxListener

log = logging.getLogger("rujukan.webhooks")

GAUGE_INTERVAL_SECONDS = 5.0
# After a wake-up finds events held back by the commit horizon (on PostgreSQL a transaction
# still open anywhere on the server), look again this soon, then twice as late each time,
# until the poll interval would come first. (Nothing new, or another worker fanning out:
# no recheck.)
RECHECK_SECONDS = 0.01
OUTBOX_TABLE = "outbox_events"
PRUNE_INTERVAL_SECONDS = 600.0


class Worker:
    def __init__(
        self,
        db: Database,
        cipher: DataCipher,
        settings: Settings,
        *,
        sealer: Sealer | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.sealer = sealer
        self.concurrency = settings.webhook_concurrency
        self.fanout = Fanout(db)
        self.deliverer = Deliverer(db, cipher, settings)
        self.wake = asyncio.Event()
        self.listener: OutboxListener | None = None
        if settings.webhook_wakeups and not db.is_sqlite:
            self.listener = OutboxListener(settings, self.wake)

    async def aclose(self) -> None:
        await self.deliverer.aclose()

    async def update_gauges(self) -> None:
        async with self.db.read_session() as session:
            backlog = await fanout.backlog(session)
            due = await count_due(session, utcnow())
        OUTBOX_BACKLOG.set(backlog)
        WEBHOOK_DUE.set(due)

    async def seal(self) -> None:
        """Seal the audit rows committed since the last seal; a failure is logged and
        tried again at the next interval (the rows wait, unsealed, and lose nothing)."""
        if self.sealer is None:
            return
        try:
            sealed = await self.sealer.seal_pending()
        except Exception:
            log.error("audit sealing failed", exc_info=True)
            return
        if sealed:
            log.info("audit rows sealed", extra={"fields": {"rows": sealed}})

    async def prune_now_and_then(self, stop: asyncio.Event) -> None:
        """Pruning (`app/webhooks/pruning.py`) beside the relay: at start, then every
        `PRUNE_INTERVAL_SECONDS`; a failure is logged and tried again next time."""
        while not stop.is_set():
            try:
                pruned, deliveries = await pruning.prune(
                    self.db, self.settings.event_retention_days
                )
                if pruned or deliveries:
                    log.info(
                        "pruned old events",
                        extra={"fields": {"outbox_events": pruned, "deliveries": deliveries}},
                    )
            except Exception:
                log.error("pruning failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=PRUNE_INTERVAL_SECONDS)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: fan out, keep up to `webhook_concurrency` attempts in flight.

        The database is asked for new events and due retries when an event commits (the
        wake-up, `app/webhooks/wakeup.py`) and otherwise once per poll interval (at once
        again while a fan-out batch comes back full), and for more due deliveries whenever
        a quarter of the attempt slots is free and the last claim was not short.
        """
        poll = self.settings.webhook_poll_interval_seconds
        low_water = max(1, self.concurrency // 4)
        inflight: set[asyncio.Task[str]] = set()
        stopping = asyncio.create_task(stop.wait())
        waking = asyncio.create_task(self.wake.wait())
        unwatch: Callable[[], None] | None = None
        listening: asyncio.Task[None] | None = None
        if self.settings.webhook_wakeups and self.db.is_sqlite:
            unwatch = self.db.watch_commits(OUTBOX_TABLE, self.wake.set)
        if self.listener is not None:
            listening = asyncio.create_task(self.listener.run(stop))
        pruner = asyncio.create_task(self.prune_now_and_then(stop))
        failures = 0
        recheck: float | None = None  # the next recheck's delay, after a wake-up
        next_tick = next_gauges = next_seal = 0.0
        maybe_due = True
        log.info("webhook relay started", extra={"fields": {"concurrency": self.concurrency}})
        try:
            while not stop.is_set():
                now = time.monotonic()
                if waking.done():
                    self.wake.clear()
                    waking = asyncio.create_task(self.wake.wait())
                    next_tick, recheck = now, RECHECK_SECONDS
                try:
                    if now >= next_tick:
                        fanned = await self.fanout.fan_out()
                        if fanned >= FANOUT_BATCH:
                            next_tick = now
                        elif self.fanout.held_back and recheck is not None and recheck < poll:
                            next_tick, recheck = now + recheck, recheck * 2
                        else:
                            next_tick, recheck = now + poll, None
                        maybe_due = True
                    free = self.concurrency - len(inflight)
                    if maybe_due and (free >= low_water or not inflight):
                        claimed = await self.deliverer.claim(free)
                        maybe_due = len(claimed) == free  # short: nothing else is due now
                        for item in claimed:
                            task = asyncio.create_task(self.deliverer.attempt(item))
                            inflight.add(task)
                            task.add_done_callback(inflight.discard)
                    if now >= next_gauges:  # after the urgent work: a wake-up is not kept waiting
                        next_gauges = now + GAUGE_INTERVAL_SECONDS
                        await self.update_gauges()
                    if now >= next_seal:  # the audit seals, also after the urgent work
                        next_seal = now + self.settings.audit_seal_interval_seconds
                        await self.seal()
                    failures = 0
                except Exception:
                    failures += 1
                    log.error("webhook relay cycle failed", exc_info=True)
                    next_tick = now + min(30.0, poll * 2**failures)
                await asyncio.wait(
                    {stopping, waking, *inflight},
                    timeout=max(0.0, next_tick - time.monotonic()),
                    return_when="FIRST_COMPLETED",
                )
        finally:
            stopping.cancel()
            waking.cancel()
            if unwatch is not None:
                unwatch()
            # The listener may be waiting on a connect, the pruner mid-batch (a transaction
            # that rolls back): neither needs to finish.
            for helper in (listening, pruner):
                if helper is not None:
                    helper.cancel()
                    await asyncio.gather(helper, return_exceptions=True)
            if inflight:  # let attempts finish; an abandoned one is retried after its lease
                _, pending = await asyncio.wait(inflight, timeout=self.deliverer.timeout + 1)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            log.info("webhook relay stopped")


@contextlib.asynccontextmanager
async def in_process(
    db: Database, cipher: DataCipher, settings: Settings, *, sealer: Sealer | None = None
) -> AsyncIterator[None]:
    """Run the worker beside the API (the embedded SQLite default), if settings say so."""
    if not settings.worker_in_process:
        yield
        return
    worker = Worker(db, cipher, settings, sealer=sealer)
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
    sealer: Sealer | None = None,
) -> None:
    """`rujukan worker`: the loop until SIGTERM or SIGINT, then a graceful stop."""
    if settings.worker_metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr="127.0.0.1")
    worker = Worker(db, cipher, settings, sealer=sealer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.gather(worker.run(stop), scheduler.run(db, settings, stop))
    finally:
        await worker.aclose()
        await db.dispose()
