"""`rujukan import`: a prison's backlog of release events, from JSON Lines (SPEC §9).

Each line is one event, posted as the client through the intake the API uses (the same
checks, idempotency, audit rows and outbox), in batches that are each one unit of work
like `POST /v1/release-events/batch`. The file's order is kept: a case's events apply in
the order they are written. Rerunning the file replays what was done (`replayed`), so an
interrupted import is resumed by running it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
import zlib
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
from app.core.i18n import msg
from app.intake.service import Intake, IntakeResult, Sender, receive_events
from app.runtime import Runtime

BATCH = 500  # the API's batch limit (SPEC §3): the same unit of work as a batch request
STREAMS = 2
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
                ProblemError("MALFORMED_JSON", msg("This line is not one JSON document in UTF-8.")),
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


def _case_key(line: Line) -> str:
    """The case an event belongs to: its events must stay in one stream, in file order."""
    event = line.event
    if isinstance(event, dict):
        facility = event.get("facility")
        code = facility.get("code") if isinstance(facility, dict) else None
        return f"{code}\x00{event.get('case_ref')}"
    return str(line.number)


def _streams(lines: list[Line], count: int) -> list[list[Line]]:
    """`lines` split by case into `count` streams, each in file order."""
    streams: list[list[Line]] = [[] for _ in range(count)]
    for line in lines:
        streams[zlib.crc32(_case_key(line).encode()) % count].append(line)
    return [s for s in streams if s]


async def _post(sender: Sender, lines: list[Line]) -> dict[int, IntakeResult | ProblemError]:
    """One batch through intake, as a `POST /v1/release-events/batch` would be: one unit
    of work, its events answered in order. Each at its own moment: a long import's "now"
    moves on, as the prison's requests would."""
    clock = Clock(dt.datetime.now(dt.UTC), sender.clock.tz)
    outcomes = await receive_events(
        Sender(sender.principal, sender.intake, clock, backfill=True),
        [line.event for line in lines],
        prefixes=[()] * len(lines),
    )
    return {line.number: outcome for line, outcome in zip(lines, outcomes, strict=True)}


async def run_import(
    sender: Sender,
    lines: Iterable[Line],
    rejects: IO[bytes],
    *,
    on_batch: Callable[[int], None] = lambda _: None,
    batch_size: int = BATCH,
    streams: int = STREAMS,
) -> Summary:
    """Post every line; count each by its outcome; write each refused one to `rejects`.

    Lines are read `streams` batches at a time and split by case, so that the database
    applies one batch while this process checks the next (measured in
    docs/benchmarks.md); a case's events stay in one batch stream, in file order."""
    summary = Summary()
    started = time.monotonic()
    try:
        for chunk in batches(lines, batch_size * streams):
            summary.read += len(chunk)
            postable = [line for line in chunk if line.malformed is None]
            answered: dict[int, IntakeResult | ProblemError] = {}
            for part in await asyncio.gather(
                *(_post(sender, stream) for stream in _streams(postable, streams))
            ):
                answered.update(part)
            for line in chunk:
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
            on_batch(len(chunk))
    finally:
        summary.seconds = time.monotonic() - started
    return summary
