"""Group commit: the single events of concurrent requests, applied in one transaction.

A request that carries one event costs about as much in round trips, transaction start,
commit (a WAL flush) and per-statement work as a batch of fifty: on PostgreSQL intake is
four round trips per transaction whatever its size (app/intake/pgbulk.py). So the events
of requests that arrive while earlier ones are being written wait for the next
transaction and go in it together. Nothing waits for a timer: a lone request is written
at once, and groups only form when requests queue anyway, so the wait a request spends
for its group is the wait it would have spent for a connection or a lock.

Requests are grouped per key (a client and its actor: the rows a group writes name one
client). At most `max_in_flight` groups of a key are in their transaction at a time, each
of at most `max_events` events. Each event still gets its own answer (the group's work
function settles every event on its own, as a batch does); a failure of the group as a
whole (the database is away) is every member's failure. A request cancelled while it
waits (its client went away) leaves its events in the group: they are applied, and a
resend replays their answer.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
Work = Callable[[list[T]], Awaitable[None]]


@dataclass(slots=True)
class _Request(Generic[T]):
    items: list[T]
    work: Work[T]
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Queue(Generic[T]):
    waiting: deque[_Request[T]] = field(default_factory=deque)
    in_flight: int = 0


class GroupCommit(Generic[T]):
    def __init__(self, *, max_events: int = 100, max_in_flight: int = 4) -> None:
        if max_events < 1 or max_in_flight < 1:
            raise ValueError("a group holds at least one event, and one group runs")
        self.max_events = max_events
        self.max_in_flight = max_in_flight
        self._queues: dict[Hashable, _Queue[T]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, key: Hashable, items: list[T], work: Work[T]) -> None:
        """Have `work` done on `items` together with other requests' items of `key`;
        returns when it is done, raises what the group's work raised. A group is done by
        the `work` of its first request (the requests of a key are alike but for time)."""
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
        request = _Request(items, work, asyncio.get_running_loop().create_future())
        queue.waiting.append(request)
        if queue.in_flight < self.max_in_flight:
            queue.in_flight += 1
            # A context of its own: the request that happens to start a group is not the
            # one its logs would be about (each event carries its own request id).
            task = asyncio.create_task(self._drain(key, queue), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Shielded: the group goes on if this request is cancelled.
        await asyncio.shield(request.done)

    async def _drain(self, key: Hashable, queue: _Queue[T]) -> None:
        try:
            while queue.waiting:
                group = [queue.waiting.popleft()]
                size = len(group[0].items)
                while queue.waiting and size + len(queue.waiting[0].items) <= self.max_events:
                    size += len(queue.waiting[0].items)
                    group.append(queue.waiting.popleft())
                try:
                    await group[0].work([item for request in group for item in request.items])
                except Exception as exc:
                    for request in group:
                        if not request.done.done():
                            request.done.set_exception(exc)
                            # Read here too, so a cancelled request's future does not
                            # log "exception was never retrieved".
                            request.done.exception()
                except BaseException:  # this task cancelled: so are its requests
                    for request in group:
                        request.done.cancel()
                    raise
                else:
                    for request in group:
                        if not request.done.done():
                            request.done.set_result(None)
        finally:
            queue.in_flight -= 1
            if queue.in_flight == 0:
                # Only when this task was cancelled can requests be left waiting: nobody
                # would drain them.
                while queue.waiting:
                    queue.waiting.popleft().done.cancel()
                if self._queues.get(key) is queue:
                    del self._queues[key]

    async def wait_idle(self, grace_seconds: float | None = None) -> None:
        """Until every group started so far is done (shutdown); after `grace_seconds` what
        is left is cancelled (its transactions roll back, their requests are cancelled) so
        that a database that hangs cannot hold the process forever."""
        loop = asyncio.get_running_loop()
        deadline = None if grace_seconds is None else loop.time() + grace_seconds
        while self._tasks:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            _, pending = await asyncio.wait(list(self._tasks), timeout=left)
            if pending and deadline is not None and loop.time() >= deadline:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
