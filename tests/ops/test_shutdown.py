"""SIGTERM in the middle of a burst: in-flight requests finish, nothing is cut.

`rujukan serve` runs uvicorn with `timeout_graceful_shutdown=30` (app/cli.py). On SIGTERM
uvicorn closes its listening socket, lets the requests it is serving finish (closing each
connection after its response), then runs the app's lifespan shutdown (the pool is
disposed last) and exits. The contract this test holds it to:

- **In flight** means the request was completely sent before SIGTERM (every request of
  the burst is, before the signal goes). Each of them gets its complete, expected answer:
  201 for an event, 207 with every item 201 for a batch.
- A request **sent after SIGTERM** may fail with a connection error *before any byte of a
  response* (refused, or reset): the client knows nothing was answered and retries under
  the same `event_id` against another replica. It may also be answered in full (uvicorn
  notices the signal on its next 0.1 s tick). Half a second after the signal, while the
  burst still drains, new connections are refused.
- **No response is ever cut**: once a status line has arrived, the whole body follows.
- Every event whose effect was committed was answered to the client, and only those (no
  committed work with a lost answer, no answer without committed work).
- The process exits by itself, after the lifespan shutdown, well within the timeout.

The burst: 40 single events and 10 batches of 30 events (SQLite serialises writes, so
the batches keep the server busy for seconds), all on fresh connections.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.factories import make_event, unique
from tests.ops.server import Served, create_client, serve, service_env

SINGLES = 40
BATCHES = 10
BATCH_SIZE = 30
LATE = 5
LATE_AFTER = 0.5  # uvicorn notices the signal within its 0.1 s tick
EXIT_TIMEOUT = 40.0


@dataclass
class Outcome:
    kind: str  # "event", "batch", "late"
    event_ids: list[str]
    sent_at: float | None = None  # request completely sent (monotonic)
    response_started: bool = False
    finished_at: float | None = None
    status: int | None = None
    body: Any = None
    error: BaseException | None = None


class Progress:
    """Signals for the burst: every request sent, and the first few answered."""

    def __init__(self, total: int, answered_before_signal: int = 3) -> None:
        self.pending_sends = total
        self.all_sent = asyncio.Event()
        self.finished = 0
        self.some_answered = asyncio.Event()
        self.threshold = answered_before_signal

    def sent(self) -> None:
        self.pending_sends -= 1
        if self.pending_sends <= 0:
            self.all_sent.set()

    def done(self) -> None:
        self.finished += 1
        if self.finished >= self.threshold:
            self.some_answered.set()


async def _send(
    client: httpx.AsyncClient, outcome: Outcome, path: str, payload: Any, progress: Progress
) -> None:
    counted = False

    async def trace(name: str, info: dict[str, Any]) -> None:
        nonlocal counted
        if name == "http11.send_request_body.complete":
            outcome.sent_at = time.monotonic()
            counted = True
            progress.sent()
        elif name == "http11.receive_response_headers.complete":
            outcome.response_started = True

    try:
        response = await client.post(path, json=payload, extensions={"trace": trace})
        outcome.status = response.status_code
        outcome.body = response.json()  # a cut body fails here or in the read above
    except (httpx.TransportError, ValueError) as exc:
        outcome.error = exc
    outcome.finished_at = time.monotonic()
    if not counted:  # failed before it was sent: do not wait for it
        progress.sent()
    progress.done()


async def _burst(served: Served, key: str, facility: str) -> tuple[list[Outcome], float]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=served.base_url, headers=headers, limits=limits, timeout=60
    ) as client:
        tasks = []
        outcomes: list[Outcome] = []
        progress = Progress(SINGLES + BATCHES)
        for i in range(SINGLES + BATCHES):
            if i < SINGLES:
                event = make_event(facility)
                outcome = Outcome("event", [event["event_id"]])
                path, payload = "/v1/release-events", event
            else:
                events = [make_event(facility) for _ in range(BATCH_SIZE)]
                outcome = Outcome("batch", [e["event_id"] for e in events])
                path, payload = "/v1/release-events/batch", {"events": events}
            outcomes.append(outcome)
            tasks.append(asyncio.create_task(_send(client, outcome, path, payload, progress)))

        # Every request of the burst completely sent, the server busy: then SIGTERM.
        async with asyncio.timeout(30):
            await progress.all_sent.wait()
            await progress.some_answered.wait()
        served.process.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()

        await asyncio.sleep(LATE_AFTER)
        late_progress = Progress(LATE)
        for _ in range(LATE):
            event = make_event(facility)
            outcome = Outcome("late", [event["event_id"]])
            outcomes.append(outcome)
            tasks.append(
                asyncio.create_task(
                    _send(client, outcome, "/v1/release-events", event, late_progress)
                )
            )
        async with asyncio.timeout(EXIT_TIMEOUT):
            await asyncio.gather(*tasks)
    return outcomes, sigterm_at


def _answered(outcome: Outcome) -> set[str]:
    if outcome.status == 201:
        return set(outcome.event_ids)
    if outcome.status == 207:
        return {r["event_id"] for r in outcome.body["results"] if r["status"] in (200, 201)}
    return set()


def _committed(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {row[0] for row in connection.execute("SELECT event_id FROM intake_records")}


def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    env = service_env(tmp_path, RUJUKAN_LOG_LEVEL="INFO")
    facility = unique("LP")
    with serve(tmp_path, env) as served:
        key = create_client(env, "prison", facility)["api_key"]
        outcomes, sigterm_at = asyncio.run(_burst(served, key, facility))
        began = time.monotonic()
        exit_code = served.process.wait(EXIT_TIMEOUT)  # by itself: never killed here
        exited_after = time.monotonic() - began

    in_flight = [o for o in outcomes if o.kind != "late"]
    late = [o for o in outcomes if o.kind == "late"]
    assert all(o.sent_at is not None and o.sent_at < sigterm_at for o in in_flight)

    # Every in-flight request answered in full, as it would have been without the signal.
    for o in in_flight:
        assert o.error is None, f"{o.kind} in flight at SIGTERM failed: {o.error!r}"
        if o.kind == "event":
            assert o.status == 201, o.body
        else:
            assert o.status == 207, o.body
            assert [r["status"] for r in o.body["results"]] == [201] * BATCH_SIZE
    drained = [o for o in in_flight if o.finished_at is not None and o.finished_at > sigterm_at]
    assert drained, "nothing was still in flight at SIGTERM: the test proved nothing"

    # After the signal: refused or reset before any response byte, or answered in full.
    for o in late:
        if o.error is not None:
            assert isinstance(o.error, httpx.TransportError), repr(o.error)
            assert not o.response_started, f"a response was cut: {o.error!r}"
        else:
            assert o.status == 201, o.body
    assert any(o.error is not None for o in late), "still accepting connections while draining"

    # Committed work and answered work are the same events.
    answered = set().union(*(_answered(o) for o in outcomes))
    assert _committed(tmp_path / "rujukan.db") == answered

    # Exited by itself (uvicorn re-raises the SIGTERM it handled), after the lifespan ended.
    assert exit_code in (0, -signal.SIGTERM), served.log_tail()
    assert exited_after < EXIT_TIMEOUT
    assert "Application shutdown complete" in served.log_tail(20_000)
