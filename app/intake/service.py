"""Event intake: schema, facility binding, idempotency, rules, then the case semantics.

One event and a batch of up to 500 take the same path: the events are parsed and checked
one by one (pure work, no database), then applied together in one transaction with a
handful of set-based statements whatever their number — claim the idempotency rows, lock
the cases, find open referrals for the NIKs, then insert/update the rows of every
applied event at once. Each event still succeeds or fails on its own (SPEC §3): its case
semantics are decided in memory, in request order, against the locked rows as the
earlier events of the batch left them, and an event that fails (404/409) writes nothing.
On PostgreSQL the statements are those of `app/intake/pgbulk.py` (four round trips per
request), run on the pooled asyncpg connection; on SQLite, SQLAlchemy with executemany.
Every event is audited: applied ones with their transaction, refused and replayed ones
after it.

Idempotency (SPEC §3): the (client, event_id) rows of `intake_records` are inserted first
in the applying transaction with ON CONFLICT DO NOTHING. On PostgreSQL a copy that arrives
while another request is applying the same event blocks on that unique index until the
first commits (then it finds the row: after its own commit it replays the stored answer)
or rolls back (then the copy claims the row and applies the event itself). A 4xx stores
nothing: the claim of an event that failed its case semantics is deleted before commit.
On SQLite the transactions are serialised (see app/db.py).

A batch that repeats an event_id is cut before the repeat: the parts are applied one
after the other, each in its own transaction, so that the repeat is judged (replayed,
409, or applied) against what its first copy did, as if sent after it.

Locks are taken in one order (claims by event_id, then cases by (facility_code,
case_ref), new cases inserted in that order) so that concurrent batches do not
deadlock; a case created by a concurrent request after the cases were locked, or a
deadlock PostgreSQL detects anyway, rolls the transaction back and the whole part is
retried.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from pydantic import ValidationError
from sqlalchemy import Table, bindparam, delete, select, tuple_, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import audit
from app.core.audit import AuditEvent
from app.core.clock import Clock
from app.core.context import request_id_var
from app.core.crypto import DataCipher
from app.core.db import Database
from app.core.dbfaults import is_database_unavailable, is_retryable_conflict
from app.core.errors import FieldError, ProblemError, json_pointer, validation_failed
from app.core.validation import body_errors
from app.intake import pgbulk
from app.intake.groups import GroupCommit
from app.intake.models import IntakeRecord
from app.intake.rules import check_event
from app.intake.schemas import EventType, ReleaseEvent
from app.reference.catalogue import SUPERVISED_RELEASES, ReleaseType
from app.reference.regions import load_regions
from app.referrals import domain
from app.referrals.domain import CustodyStatus, Status
from app.referrals.events import history_row, outbox_row
from app.referrals.models import Referral, ReferralHistory, ReferralPasCategory
from app.referrals.records import CASE_FIELDS, ReferralRecord, ReferralRow, read_case, write_case
from app.referrals.service import set_state, state_of
from app.webhooks.models import OutboxEvent

log = logging.getLogger("rujukan.intake")
CREATING = frozenset({EventType.scheduled, EventType.rescheduled, EventType.completed})
SCHEDULING = frozenset({EventType.scheduled, EventType.rescheduled})
TERMINAL = frozenset(s.value for s in domain.TERMINAL)
TERMINAL_CODES = sorted(TERMINAL)  # the statements' `terminal` parameter
ATTEMPTS = 3
AUDIT_ACTION = "release_event.receive"
REFERRAL_TABLE = cast(Table, Referral.__table__)
REFERRAL_COLUMNS = tuple(REFERRAL_TABLE.columns.keys())
INTAKE_TABLE = cast(Table, IntakeRecord.__table__)


@dataclass(frozen=True, slots=True)
class Intake:
    """What intake works with: the database, the data key, the group commit."""

    db: Database
    cipher: DataCipher
    groups: GroupCommit[Any]


@dataclass(frozen=True, slots=True)
class IntakeResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


Outcome = IntakeResult | ProblemError


@dataclass(slots=True)
class _Item:
    """One event of a request on its way through intake."""

    raw: Any
    prefix: tuple[str | int, ...]
    # The request's: the item may be applied in a transaction of several requests.
    request_id: str | None = None
    event: ReleaseEvent | None = None
    digest: str = ""
    warnings: list[FieldError] = field(default_factory=list)
    # The rules failed: this 422, unless the event_id was already answered (then replay).
    refused: ProblemError | None = None
    result: Outcome | None = None
    # Its audit row was written with the applying transaction.
    audited: bool = False


class _RetryError(Exception):
    """The transaction met a concurrent writer (a case it did not see, a deadlock)."""


def canonical_json(value: Any) -> bytes:
    """`value` as the UTF-8 JSON its idempotency hash is taken of: keys sorted, no spaces,
    no escapes beyond JSON's own. Stored hashes depend on these bytes: orjson writes the
    same bytes as `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
    for every value without floats, which every valid event is (tests/unit pins it). What
    orjson refuses (integers beyond 64 bits, lone surrogates) takes `json.dumps`, which
    raises UnicodeEncodeError for a lone surrogate."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode()


def body_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def _surrogate_free(value: Any, loc: tuple[str | int, ...], bad: list[FieldError]) -> Any:
    """A copy of `value` without lone surrogates (JSON `"\\ud800"` parses to one, but it is
    no Unicode text: it can be neither stored nor answered); each is an INVALID_TEXT."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            bad.append(FieldError("INVALID_TEXT", "not valid Unicode text", json_pointer(loc)))
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [_surrogate_free(v, (*loc, i), bad) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            clean = _surrogate_free(key, loc, []) if isinstance(key, str) else key
            if clean != key:
                bad.append(
                    FieldError(
                        "INVALID_TEXT", "not valid Unicode text", json_pointer((*loc, clean))
                    )
                )
            out[clean] = _surrogate_free(child, (*loc, clean), bad)
        return out
    return value


def parse_event(
    raw: Any, prefix: tuple[str | int, ...] = (), canonical: bytes | None = None
) -> ReleaseEvent:
    """The validated event, or its 422. `canonical` is `raw` as canonical JSON when the
    caller has it (it is what the idempotency hash is taken of): validated directly."""
    bad: list[FieldError] = []
    if canonical is None:
        clean = _surrogate_free(raw, (), bad)
        canonical = json.dumps(clean).encode()
    try:
        event = ReleaseEvent.model_validate_json(canonical)
    except ValidationError as exc:
        errors = body_errors(exc.errors(include_url=False))
    else:
        errors = []
    if bad:
        # The replaced text may have failed for another reason too: one error per field.
        flagged = {e.pointer for e in bad}
        errors = bad + [e for e in errors if e.pointer not in flagged]
    if errors:
        base = json_pointer(prefix)
        for error in errors:
            error.pointer = base + (error.pointer or "")
        raise validation_failed(errors)
    return event


@dataclass(frozen=True, slots=True)
class Sender:
    """Who posts events, to which intake, at what moment."""

    principal: Principal
    intake: Intake
    clock: Clock


async def receive_event(sender: Sender, raw: Any) -> IntakeResult:
    """One event: its answer, or its problem raised."""
    [outcome] = await receive_events(sender, [raw], prefixes=[()])
    if isinstance(outcome, ProblemError):
        raise outcome
    return outcome


async def receive_events(
    sender: Sender, raws: Sequence[Any], *, prefixes: Sequence[tuple[str | int, ...]] | None = None
) -> list[Outcome]:
    """Each event's answer or problem, in request order (SPEC §3's check order per event)."""
    services, principal, clock = sender.intake, sender.principal, sender.clock
    if prefixes is None:
        prefixes = [("events", i) for i in range(len(raws))]
    items = [
        _check(principal, raw, prefix, clock) for raw, prefix in zip(raws, prefixes, strict=True)
    ]
    todo = [i for i in items if i.result is None and i.event is not None]
    if len(items) == 1 and todo:
        # A request of one event: applied with those of concurrent requests of the same
        # client (app/intake/groups.py), as of the moment of the request that began the
        # group (a few milliseconds before the others arrived).
        async def settle_group(group: list[_Item]) -> None:
            await _settle_all(services, principal, group, clock)

        await services.groups.run((principal.client_id, principal.actor), todo, settle_group)
    elif todo:
        await _settle_all(services, principal, todo, clock)
    # Every intake is audited (SPEC §8): an applied event with its transaction, a refused
    # or replayed one here, apart (nothing else was written for it).
    await audit.record_apart(
        services.db, [_audit_row(principal, i) for i in items if not i.audited]
    )
    outcomes: list[Outcome] = []
    for item in items:
        if item.result is None:  # pragma: no cover - _settle settles every item
            raise AssertionError("an event was left without an answer")
        outcomes.append(item.result)
    return outcomes


def _check(principal: Principal, raw: Any, prefix: tuple[str | int, ...], clock: Clock) -> _Item:
    """Schema, facility binding and the rules: everything that needs no database."""
    item = _Item(raw, prefix, request_id_var.get())
    try:
        # One serialisation for both the body hash and the validation; a body with a lone
        # surrogate (no Unicode text) cannot be encoded and takes the slow path to its 422.
        canonical: bytes | None = canonical_json(raw)
    except UnicodeEncodeError:
        canonical = None
    try:
        event = parse_event(raw, prefix, canonical)
    except ProblemError as problem:
        item.result = problem
        return item
    if not principal.may_post_for(event.facility.code):
        item.result = ProblemError(
            "FACILITY_NOT_PERMITTED",
            "This client may not post events for that facility.",
            errors=[
                FieldError(
                    "FACILITY_NOT_PERMITTED",
                    "not bound to this client",
                    pointer=json_pointer(prefix) + "/facility/code",
                )
            ],
        )
        return item
    if canonical is None:  # pragma: no cover - such a body never validates
        raise AssertionError("an event that is no Unicode text validated")
    item.event = event
    item.digest = hashlib.sha256(canonical).hexdigest()  # = body_hash(raw)
    rules = check_event(event, clock=clock, regions=load_regions())
    if rules.errors:
        base = json_pointer(prefix)
        for err in rules.errors:
            err.pointer = base + (err.pointer or "")
        item.refused = validation_failed(rules.errors)
    item.warnings = rules.warnings
    return item


def _audit_row(principal: Principal, item: _Item) -> dict[str, Any]:
    """The audit row of an event nothing was written for: refused (its problem code) or
    replayed."""
    result = item.result
    if isinstance(result, ProblemError):
        return audit.row(principal, AUDIT_ACTION, result.code)
    if result is None:  # pragma: no cover - every item is answered by now
        raise AssertionError("an event was left without an answer")
    return audit.row(
        principal,
        AUDIT_ACTION,
        "replayed",
        referral_id=uuid.UUID(result.body["referral"]["id"]),
    )


async def _settle_all(
    services: Intake, principal: Principal, items: list[_Item], clock: Clock
) -> None:
    """Answer every item (checked, not yet answered), in order: a transaction per part.

    Each event succeeds or fails on its own (SPEC §3), even when the database refuses one
    of them for a reason no check foresaw (a bug): the transaction fails whole, so the
    events it held are tried again one by one, and only the one the database refuses is
    answered 500. A database that is away fails them all (503, retried by the sender)."""
    try:
        for part in _parts(items):
            await _settle(services, principal, part, clock)
    except Exception as exc:
        left = [i for i in items if i.result is None]
        if len(items) == 1 or is_database_unavailable(exc):
            raise
        log.error("a transaction of %d events failed: each alone", len(left), exc_info=True)
        for item in left:
            try:
                await _settle_all(services, principal, [item], clock)
            except Exception as one:
                if is_database_unavailable(one):
                    raise
                log.error("an event could not be applied", exc_info=True)
                item.result = ProblemError(
                    "INTERNAL_ERROR", "This event could not be stored; nothing of it was."
                )


def _parts(items: list[_Item]) -> list[list[_Item]]:
    """The events still to settle, cut before each repeated event_id."""
    parts: list[list[_Item]] = [[]]
    seen: set[str] = set()
    for item in items:
        if item.result is not None or item.event is None:
            continue
        if item.event.event_id in seen:
            parts.append([])
            seen.clear()
        seen.add(item.event.event_id)
        parts[-1].append(item)
    return [p for p in parts if p]


async def _settle(services: Intake, principal: Principal, part: list[_Item], clock: Clock) -> None:
    """Answer every event of `part` (distinct event_ids): replay, refuse or apply."""
    # Idempotency comes before the rules (an answered event replays even if it would fail
    # them today), but it is only looked up for the events the rules refused: for the
    # others, claiming the (client, event_id) row finds a replay or a conflict by itself.
    refused = [i for i in part if i.refused is not None]
    if refused:
        await _replay(services, principal, refused)
        for item in refused:
            if item.result is None:
                item.result = item.refused
    todo = [i for i in part if i.result is None]
    for _attempt in range(ATTEMPTS):
        if not todo:
            return
        try:
            answers, raced = await _apply(services, principal, todo, clock)
        except _RetryError:
            continue
        except Exception as exc:
            if not is_retryable_conflict(exc):
                raise
            continue
        for item, answer in answers:
            item.result = answer
            item.audited = True
        if raced:
            # Answered by another request meanwhile (or earlier): replay its answer. One
            # that is still unanswered rolled back: claim it again.
            await _replay(services, principal, raced)
        todo = [i for i in todo if i.result is None]
    for item in todo:
        item.result = ProblemError(
            "SERVICE_UNAVAILABLE",
            "Concurrent requests kept changing these cases; retry the event.",
            headers={"Retry-After": "1"},
        )


async def _replay(services: Intake, principal: Principal, items: list[_Item]) -> None:
    """Set the stored answer (or 409 EVENT_ID_CONFLICT) of each item already answered."""
    by_id = {i.event.event_id: i for i in items if i.event is not None}
    async with services.db.read_session() as session:
        rows = (
            await session.execute(
                select(
                    IntakeRecord.event_id,
                    IntakeRecord.body_sha256,
                    IntakeRecord.status_code,
                    IntakeRecord.response,
                ).where(
                    IntakeRecord.client_id == principal.client_id,
                    IntakeRecord.event_id.in_(list(by_id)),
                )
            )
        ).all()
    for row in rows:
        item = by_id[row.event_id]
        if row.body_sha256 != item.digest:
            item.result = ProblemError(
                "EVENT_ID_CONFLICT",
                "This event_id was already used for a different event body.",
            )
        else:
            item.result = IntakeResult(row.status_code, row.response, replayed=True)


@dataclass(slots=True)
class _Writes:
    """What the applied events of one transaction write, gathered for set-based statements."""

    new: dict[uuid.UUID, ReferralRecord] = field(default_factory=dict)
    # Existing referrals an applied event changed (PostgreSQL writes them; on SQLite the
    # ORM's unit of work knows).
    changed: set[uuid.UUID] = field(default_factory=set)
    pas_rewrite: set[uuid.UUID] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    unclaim: list[int] = field(default_factory=list)


class _OpenByNik:
    """Open (non-terminal) referrals per NIK blind index, kept current as events apply."""

    def __init__(self, rows: Sequence[tuple[uuid.UUID, str]]) -> None:
        self._open: dict[str, set[uuid.UUID]] = {}
        for referral_id, nik_index in rows:
            self._open.setdefault(nik_index, set()).add(referral_id)

    def forget(self, referral: ReferralRow) -> None:
        if referral.nik_index is not None:
            self._open.get(referral.nik_index, set()).discard(referral.id)

    def note(self, referral: ReferralRow) -> None:
        if referral.nik_index is not None and referral.status not in TERMINAL:
            self._open.setdefault(referral.nik_index, set()).add(referral.id)

    def others(self, referral: ReferralRow) -> bool:
        if referral.nik_index is None:
            return False
        return bool(self._open.get(referral.nik_index, set()) - {referral.id})


Answers = list[tuple[_Item, Outcome]]


async def _apply(
    services: Intake, principal: Principal, items: list[_Item], clock: Clock
) -> tuple[Answers, list[_Item]]:
    """Apply `items` (distinct event_ids, all past the rules) in one transaction.

    Returns each applied or refused item with its answer, and the items whose claim
    found the event_id taken (to be replayed after commit).
    """
    if services.db.is_sqlite:
        async with services.db.transaction() as session:
            return await _apply_sqlite(session, services, principal, items, clock)
    return await _apply_postgresql(services, principal, items, clock)


def _claim_rows(principal: Principal, items: list[_Item], now: dt.datetime) -> list[dict[str, Any]]:
    """The idempotency rows to claim, in event_id order (the order locks are taken in)."""
    return [
        {
            "client_id": principal.client_id,
            "event_id": _event(i).event_id,
            "body_sha256": i.digest,
            "event_type": _event(i).event_type.value,
            "occurred_at": _event(i).occurred_at,
            "created_at": now,
            "status_code": 0,
            "response": {},
        }
        for i in sorted(items, key=lambda i: _event(i).event_id)
    ]


def _nik_indexes(services: Intake, items: list[_Item]) -> list[str]:
    return sorted(
        {services.cipher.blind_index(nik) for i in items if (nik := _event(i).person.nik)}
    )


def _case_keys(items: list[_Item]) -> list[tuple[str, str]]:
    return sorted({(_event(i).facility.code, _event(i).case_ref) for i in items})


def _held_niks(cases: dict[tuple[str, str], ReferralRow], niks: list[str]) -> list[str]:
    """NIKs the locked referrals hold that no event carries: a stale event flags against
    the NIK its referral holds, which may not be the event's."""
    return sorted({r.nik_index for r in cases.values() if r.nik_index is not None} - set(niks))


async def _apply_postgresql(
    services: Intake, principal: Principal, items: list[_Item], clock: Clock
) -> tuple[Answers, list[_Item]]:
    """On PostgreSQL: BEGIN, one read (claim, NIK lookup, lock), one write, COMMIT.

    The statements run on the pooled connection's asyncpg driver directly: on this path
    SQLAlchemy's per-statement work (compiling, binding, result mapping, the greenlet
    hop) cost several times the Python work of an event. The pool still hands out and
    checks the connection; one that lost its server is invalidated here.
    """
    now = clock.now
    niks = _nik_indexes(services, items)
    async with services.db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        if driver is None:  # pragma: no cover - a checked-out connection has its driver's
            raise AssertionError("no driver connection")
        if driver.is_in_transaction():  # pragma: no cover - the pool returns them idle
            # A transaction left open on a pooled connection would turn ours into a
            # savepoint, and its rollback would silently undo acknowledged events. Out of
            # the pool with it; the part is tried again on another connection.
            await conn.invalidate()
            raise _RetryError
        try:
            async with pgbulk.transaction(driver):
                claimed: dict[str, int] = {}
                open_rows: list[tuple[uuid.UUID, str]] = []
                cases: dict[tuple[str, str], ReferralRow] = {}
                keys = _case_keys(items)
                for row in await pgbulk.READ.fetch(
                    driver,
                    {
                        **pgbulk.CLAIMS.bind(_claim_rows(principal, items, now)),
                        "niks": niks,
                        "terminal": TERMINAL_CODES,
                        "facility_codes": [k[0] for k in keys],
                        "case_refs": [k[1] for k in keys],
                    },
                ):
                    if row["kind"] == "c":
                        claimed[row["event_id"]] = row["id"]
                    elif row["kind"] == "n":
                        open_rows.append((row["referral_id"], row["nik_index"]))
                    else:
                        record = ReferralRecord(**pgbulk.record_values(row["referral"]))
                        cases[(record.facility_code, record.case_ref)] = record
                raced = [i for i in items if _event(i).event_id not in claimed]
                mine = [i for i in items if _event(i).event_id in claimed]
                if not mine:
                    return [], raced
                held = _held_niks(cases, niks)
                if held:
                    rows = await pgbulk.OPEN_BY_NIK.fetch(
                        driver, {"niks": held, "terminal": TERMINAL_CODES}
                    )
                    open_rows += [(r["id"], r["nik_index"]) for r in rows]
                writes, answers = _decide(
                    mine, claimed, cases, _OpenByNik(open_rows), services, principal, now
                )
                ok = await pgbulk.WRITE.fetchval(driver, _write_parameters(cases, writes))
                if not ok:
                    # A concurrent request created one of these cases after they were
                    # locked: nothing was written; roll back and try again.
                    raise _RetryError
                return answers, raced
        except Exception as exc:
            lost = driver.is_closed()
            if lost or is_database_unavailable(exc):
                # Out of the pool with it; the pool's older connections are dropped too.
                with contextlib.suppress(Exception):
                    await conn.invalidate(exc)
            if lost and not is_database_unavailable(exc):
                # asyncpg's "connection is closed" (an InterfaceError) on a connection the
                # server dropped: the database went away, the request may be retried (503).
                raise ConnectionError("the database connection was lost") from exc
            raise


async def _apply_sqlite(
    session: AsyncSession,
    services: Intake,
    principal: Principal,
    items: list[_Item],
    clock: Clock,
) -> tuple[Answers, list[_Item]]:
    """The portable path (the embedded SQLite): SQLAlchemy Core and ORM, executemany."""
    now = clock.now
    claimed: dict[str, int] = {
        row.event_id: row.id
        for row in await session.execute(
            sqlite.insert(INTAKE_TABLE)
            .on_conflict_do_nothing(index_elements=["client_id", "event_id"])
            .returning(INTAKE_TABLE.c.id, INTAKE_TABLE.c.event_id),
            _claim_rows(principal, items, now),
        )
    }
    raced = [i for i in items if _event(i).event_id not in claimed]
    mine = [i for i in items if _event(i).event_id in claimed]
    if not mine:
        return [], raced
    lock = (
        select(Referral)
        .where(tuple_(Referral.facility_code, Referral.case_ref).in_(_case_keys(mine)))
        .order_by(Referral.facility_code, Referral.case_ref)
        .execution_options(populate_existing=True)
    )
    cases: dict[tuple[str, str], ReferralRow] = {
        (r.facility_code, r.case_ref): r for r in (await session.execute(lock)).scalars()
    }
    niks = _nik_indexes(services, mine)
    open_rows = await _open_by_nik(session, niks + _held_niks(cases, niks))
    writes, answers = _decide(mine, claimed, cases, _OpenByNik(open_rows), services, principal, now)
    await _write(session, cases, writes)
    return answers, raced


def _decide(
    mine: list[_Item],
    claimed: dict[str, int],
    cases: dict[tuple[str, str], ReferralRow],
    open_by_nik: _OpenByNik,
    services: Intake,
    principal: Principal,
    now: dt.datetime,
) -> tuple[_Writes, Answers]:
    """Each claimed event's case semantics, in request order, on the in-memory rows."""
    writes = _Writes()
    answers: Answers = []
    for item in mine:
        event = _event(item)
        claim_id = claimed[event.event_id]
        try:
            answer = _apply_one(item, event, cases, open_by_nik, writes, services, principal, now)
        except ProblemError as problem:
            writes.unclaim.append(claim_id)
            existing = cases.get((event.facility.code, event.case_ref))
            writes.audit.append(
                audit.row(
                    principal,
                    AUDIT_ACTION,
                    problem.code,
                    referral_id=existing.id if existing is not None else None,
                    request_id=item.request_id,
                )
            )
            answers.append((item, problem))
            continue
        writes.answers.append(
            {
                "id": claim_id,
                "status_code": answer.status_code,
                "response": answer.body,
                "outcome": answer.body["outcome"],
                "referral_id": uuid.UUID(answer.body["referral"]["id"]),
            }
        )
        answers.append((item, answer))
    return writes, answers


async def _open_by_nik(session: AsyncSession, niks: list[str]) -> list[tuple[uuid.UUID, str]]:
    """(id, nik_index) of the open referrals of these NIKs."""
    if not niks:
        return []
    query = select(Referral.id, Referral.nik_index).where(
        Referral.nik_index.in_(niks), Referral.status.not_in(TERMINAL)
    )
    return [(row.id, row.nik_index) for row in await session.execute(query)]


def _event(item: _Item) -> ReleaseEvent:
    if item.event is None:  # pragma: no cover - only parsed events reach the database
        raise AssertionError("unparsed event")
    return item.event


def _apply_one(
    item: _Item,
    event: ReleaseEvent,
    cases: dict[tuple[str, str], ReferralRow],
    open_by_nik: _OpenByNik,
    writes: _Writes,
    services: Intake,
    principal: Principal,
    now: dt.datetime,
) -> IntakeResult:
    """The case semantics of one event, on the in-memory rows (SPEC §3). Raises the
    event's 404/409 before changing anything."""
    key = (event.facility.code, event.case_ref)
    referral = cases.get(key)
    case = event.model_dump(mode="json", include=set(CASE_FIELDS))
    created = referral is None
    if referral is None:
        if event.event_type not in CREATING:
            raise ProblemError("UNKNOWN_CASE", "No referral exists for this facility and case_ref.")
        referral = _new_referral(event, principal, case, services, now)
        cases[key] = referral
        writes.new[referral.id] = referral
        outcome = "created"
        previous_status: str | None = None
        previous_custody: str | None = None
        changed = list(CASE_FIELDS)
    else:
        previous_custody = referral.custody_status
        if event.occurred_at < referral.last_event_at:
            outcome, previous_status, changed = "stale", referral.status, []
        else:
            open_by_nik.forget(referral)
            try:
                outcome, previous_status, changed = _apply_existing(referral, event, case, services)
            finally:
                open_by_nik.note(referral)
    open_by_nik.note(referral)

    flags = sorted({w.code for w in item.warnings})
    if open_by_nik.others(referral):
        flags.append("OPEN_REFERRAL_EXISTS_FOR_NIK")
    extra: list[FieldError] = []
    if "OPEN_REFERRAL_EXISTS_FOR_NIK" in flags:
        extra.append(
            FieldError(
                "OPEN_REFERRAL_EXISTS_FOR_NIK",
                "another open referral exists for this NIK; see related_referral_ids",
                pointer="/person/nik",
            )
        )
    if outcome != "stale" and flags != referral.data_quality_flags:
        referral.data_quality_flags = flags
    if outcome != "stale" and not created:
        writes.changed.add(referral.id)
    if outcome not in ("stale", "unchanged"):
        if not created:
            referral.version += 1
        referral.updated_at = now
        referral.last_event_at = event.occurred_at
        if created or "pas_categories" in changed:
            writes.pas_rewrite.add(referral.id)
    elif outcome == "unchanged":
        referral.last_event_at = max(referral.last_event_at, event.occurred_at)

    writes.history.append(
        history_row(
            referral,
            principal,
            now,
            from_status=previous_status,
            event_type=event.event_type.value,
            event_id=event.event_id,
            event_outcome=outcome,
            reason_code=referral.reason_code if referral.status != previous_status else None,
            changed_fields=changed,
        )
    )
    if created:
        writes.outbox.append(outbox_row(referral, "referral.created", now, previous_status=None))
    elif outcome not in ("stale", "unchanged"):
        if referral.status != previous_status:
            writes.outbox.append(
                outbox_row(
                    referral, "referral.status_changed", now, previous_status=previous_status
                )
            )
        if changed or referral.custody_status != previous_custody:
            writes.outbox.append(
                outbox_row(referral, "referral.updated", now, previous_status=previous_status)
            )
    writes.audit.append(
        audit.row(
            principal, AUDIT_ACTION, outcome, referral_id=referral.id, request_id=item.request_id
        )
    )
    body = {
        "event_id": event.event_id,
        "outcome": outcome,
        "referral": {
            "id": str(referral.id),
            "status": referral.status,
            "custody_status": referral.custody_status,
            "version": referral.version,
        },
        "warnings": [
            {"code": w.code, "detail": w.detail, "pointer": w.pointer}
            for w in [*item.warnings, *extra]
        ],
    }
    return IntakeResult(201 if created else 200, body)


async def _write(
    session: AsyncSession, cases: dict[tuple[str, str], ReferralRow], writes: _Writes
) -> None:
    """The gathered rows, a statement per table (executemany), parents first."""
    if writes.new:
        fresh = sorted(writes.new.values(), key=lambda r: (r.facility_code, r.case_ref))
        inserted = (
            await session.execute(
                sqlite.insert(REFERRAL_TABLE)
                .on_conflict_do_nothing(index_elements=["facility_code", "case_ref"])
                .returning(REFERRAL_TABLE.c.id),
                [_referral_row(r) for r in fresh],
            )
        ).all()
        if len(inserted) != len(fresh):
            # A concurrent request created one of these cases after they were locked.
            raise _RetryError
    # The locked rows the events changed: the unit of work writes them (autoflush).
    await session.flush()
    rewrite = writes.pas_rewrite
    existing = [rid for rid in rewrite if rid not in writes.new]
    if existing:
        await session.execute(
            delete(ReferralPasCategory).where(ReferralPasCategory.referral_id.in_(existing))
        )
    pas_rows = _pas_rows(cases, rewrite)
    for model, rows in (
        (ReferralPasCategory, pas_rows),
        (ReferralHistory, writes.history),
        (OutboxEvent, writes.outbox),
        (AuditEvent, writes.audit),
    ):
        if rows:
            await session.execute(cast(Table, model.__table__).insert(), rows)
    if writes.answers:
        table = INTAKE_TABLE
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                status_code=bindparam("b_status_code"),
                response=bindparam("b_response"),
                outcome=bindparam("b_outcome"),
                referral_id=bindparam("b_referral_id"),
            ),
            [{"b_" + key: value for key, value in row.items()} for row in writes.answers],
        )
    if writes.unclaim:
        await session.execute(delete(IntakeRecord).where(IntakeRecord.id.in_(writes.unclaim)))


def _write_parameters(cases: dict[tuple[str, str], ReferralRow], writes: _Writes) -> dict[str, Any]:
    """The parameters of `pgbulk.WRITE`."""
    fresh = sorted(writes.new.values(), key=lambda r: (r.facility_code, r.case_ref))
    changed = [r for r in cases.values() if r.id in writes.changed and r.id not in writes.new]
    rewrite = writes.pas_rewrite
    return {
        **pgbulk.REFERRALS.bind([_referral_row(r) for r in fresh]),
        "new_count": len(fresh),
        **pgbulk.CHANGED.bind([_referral_row(r) for r in changed]),
        "pas_rewrite": [rid for rid in rewrite if rid not in writes.new],
        **pgbulk.PAS.bind(_pas_rows(cases, rewrite)),
        **pgbulk.HISTORY.bind(writes.history),
        **pgbulk.OUTBOX.bind(writes.outbox),
        **pgbulk.AUDIT.bind(writes.audit),
        **pgbulk.ANSWERS.bind(writes.answers),
        "unclaim": writes.unclaim,
    }


def _referral_row(referral: ReferralRow) -> dict[str, Any]:
    return {c: getattr(referral, c) for c in REFERRAL_COLUMNS}


def _pas_rows(
    cases: dict[tuple[str, str], ReferralRow], rewrite: set[uuid.UUID]
) -> list[dict[str, Any]]:
    return [
        {"referral_id": r.id, "code": code}
        for r in cases.values()
        if r.id in rewrite
        for code in r.case_data["pas_categories"]
    ]


def _new_referral(
    event: ReleaseEvent,
    principal: Principal,
    case: dict[str, Any],
    services: Intake,
    now: dt.datetime,
) -> ReferralRecord:
    """A row to insert (by `_write`, with the others), its case data written."""
    custody = (
        CustodyStatus.released
        if event.event_type is EventType.completed
        else CustodyStatus.in_custody
    )
    referral = ReferralRecord(
        id=uuid.uuid4(),
        facility_code=event.facility.code,
        case_ref=event.case_ref,
        origin_client_id=principal.client_id,
        status=Status.received.value,
        custody_status=custody.value,
        version=1,
        last_event_at=event.occurred_at,
        created_at=now,
        updated_at=now,
    )
    write_case(referral, case, services.cipher)
    return referral


def _apply_existing(
    referral: ReferralRow,
    event: ReleaseEvent,
    case: dict[str, Any],
    services: Intake,
) -> tuple[str, str, list[str]]:
    """Type-specific semantics on an existing referral: (outcome, previous status, changed).
    Raises before changing anything when the event does not apply."""
    state = state_of(referral)
    previous = referral.status
    kind = event.event_type
    released = state.custody_status is CustodyStatus.released
    if kind in SCHEDULING and released:
        raise ProblemError("ALREADY_RELEASED", "The person is already released.")
    if kind is EventType.cancelled and released:
        raise ProblemError(
            "ALREADY_RELEASED", "A completed release cannot be cancelled; use release.revoked."
        )
    if kind is EventType.revoked and ReleaseType(event.release.type) not in SUPERVISED_RELEASES:
        raise ProblemError("NOT_SUPERVISED", "Only a supervised release can be revoked.")

    old_case = read_case(referral, services.cipher)
    changed = [f for f in CASE_FIELDS if old_case.get(f) != case.get(f)]
    if changed:
        write_case(referral, case, services.cipher)

    effect = {
        EventType.scheduled: domain.on_release_scheduled,
        EventType.rescheduled: domain.on_release_scheduled,
        EventType.completed: domain.on_release_completed,
        EventType.cancelled: domain.on_release_cancelled,
        EventType.revoked: domain.on_release_revoked,
    }.get(kind)
    new_state = effect(state) if effect is not None else state
    state_changed = new_state != state
    if state_changed:
        set_state(referral, new_state)

    if not changed and not state_changed:
        return "unchanged", previous, []
    if kind is EventType.cancelled and state_changed:
        return "cancelled", previous, changed
    if kind is EventType.revoked and state_changed:
        return "revoked", previous, changed
    return "updated", previous, changed
