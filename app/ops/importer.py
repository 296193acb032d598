"""`rujukan import`: a prison's backlog of release events, from JSON Lines (SPEC §9).

Each line is one event, posted as the client through the intake the API uses (the same
checks, idempotency, audit rows and outbox), in batches that are each one unit of work
like `POST /v1/release-events/batch`. The file's order is kept: a case's events apply in
the order they are written. Rerunning the file replays what was done (`replayed`), so an
interrupted import is resumed by running it again.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from app.auth.models import Client
from app.auth.roles import Role
from app.auth.service import principal_of
from app.core.clock import Clock
from app.core.errors import ProblemError
from app.intake.service import Intake, IntakeResult, Sender, receive_events
from app.runtime import Runtime

BATCH = 500  # the API's batch limit (SPEC §3): the same unit of work as a batch request
OUTCOMES = (
    "created",
    "updated",
    "unchanged",
    "stale",
    "cancelled",
    "revoked",
    "consent_withdrawn",
    "replayed",
    "refused",
)


class ImportRefusedError(Exception):
    """The import cannot start (the client is unknown, inactive or not a prison)."""


@dataclass(slots=True)
class Summary:
    read: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            **{name: self.counts[name] for name in OUTCOMES},
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based, as an editor shows it
    event: Any  # the parsed JSON, or the problem of a line that is no JSON
    malformed: ProblemError | None = None


def read_lines(stream: IO[bytes]) -> Iterator[Line]:
    """The non-blank lines of a JSON Lines stream, parsed (a blank line is no event)."""
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            yield Line(number, orjson.loads(raw))
        except orjson.JSONDecodeError:
            yield Line(
                number,
                None,
                ProblemError("MALFORMED_JSON", "This line is not one JSON document in UTF-8."),
            )


def batches(lines: Iterable[Line], size: int = BATCH) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def sender_for(runtime: Runtime, client_id: str) -> Sender:
    """The prison client the events are posted as, or why it cannot be."""
    try:
        key = uuid.UUID(client_id)
    except ValueError:
        raise ImportRefusedError(f"--client: {client_id!r} is not a client id (a UUID)") from None
    async with runtime.db.read_session() as session:
        client = await session.get(Client, key)
    if client is None:
        raise ImportRefusedError(f"--client: no client {client_id}")
    if not client.active:
        raise ImportRefusedError(f"--client: client {client_id} is deactivated")
    if client.role != Role.prison.value:
        raise ImportRefusedError(
            f"--client: client {client_id} has the role {client.role}; only a prison posts "
            "release events"
        )
    intake = Intake(runtime.db, runtime.cipher, runtime.intake_groups)
    return Sender(principal_of(client), intake, Clock(dt.datetime.now(dt.UTC), runtime.settings.tz))


def _event_id(event: Any) -> str | None:
    value = event.get("event_id") if isinstance(event, dict) else None
    return value if isinstance(value, str) else None


async def run_import(
    sender: Sender,
    lines: Iterable[Line],
    rejects: IO[bytes],
    *,
    on_batch: Callable[[int], None] = lambda _: None,
    batch_size: int = BATCH,
) -> Summary:
    """Post every line; count each by its outcome; write each refused one to `rejects`."""
    summary = Summary()
    started = time.monotonic()
    try:
        for batch in batches(lines, batch_size):
            summary.read += len(batch)
            postable = [line for line in batch if line.malformed is None]
            # Each batch at its own moment: "now" of a long import moves on, as the
            # prison's requests would.
            clock = Clock(dt.datetime.now(dt.UTC), sender.clock.tz)
            now_sender = Sender(sender.principal, sender.intake, clock)
            outcomes = (
                await receive_events(
                    now_sender, [line.event for line in postable], prefixes=[()] * len(postable)
                )
                if postable
                else []
            )
            answered: dict[int, IntakeResult | ProblemError] = {
                line.number: outcome for line, outcome in zip(postable, outcomes, strict=True)
            }
            for line in batch:
                outcome = line.malformed or answered[line.number]
                if isinstance(outcome, ProblemError):
                    summary.counts["refused"] += 1
                    rejects.write(
                        orjson.dumps(
                            {
                                "line": line.number,
                                "event_id": _event_id(line.event),
                                "status": outcome.status,
                                "problem": outcome.body(None),
                            }
                        )
                        + b"\n"
                    )
                elif outcome.replayed:
                    summary.counts["replayed"] += 1
                else:
                    summary.counts[str(outcome.body["outcome"])] += 1
            rejects.flush()
            on_batch(len(batch))
    finally:
        summary.seconds = time.monotonic() - started
    return summary
