"""Event intake (SPEC §3): schema, facility binding, idempotency, rules, case semantics.

An event's way through intake:

1. `receive_events` checks each event on its own (`_check`: schema, facility binding,
   the PAS rules — no database);
2. the checked events are applied in one transaction: a batch's together; a lone event
   together with those of concurrent requests of the same client (`app/intake/groups.py`:
   group commit, the one unit of work that is not a request's);
3. `_apply` claims their idempotency rows (`app/intake/store.py`: a replay or a conflict
   shows itself there), locks their cases and finds the open referrals of their NIKs
   (`app/referrals/store.py`), then decides each event in request order against the rows
   as the earlier events left them — what it does is `case_events.on_event`'s answer —
   and records its change (`ChangeLog`); the rows are written set-based at the end.

Each event succeeds or fails on its own: one that the semantics refuse (404/409) writes
nothing, its claim is released. Every event is audited: applied ones in their transaction,
refused and replayed ones after it. A batch that repeats an event_id is cut before the
repeat, so that the repeat is judged against what its first copy did.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import audit
from app.core.clock import Clock
from app.core.context import request_id_var
from app.core.crypto import DataCipher
from app.core.db import Database
from app.core.dbfaults import is_database_unavailable, is_retryable_conflict
from app.core.errors import FieldError, ProblemError, json_pointer, validation_failed
from app.core.i18n import msg
from app.core.validation import prune_unknown
from app.intake import store as claims
from app.intake.groups import GroupCommit
from app.intake.parsing import canonical_json, parse_event
from app.intake.rules import check_event
from app.intake.schemas import ReleaseEvent
from app.reference.catalogue import SUPERVISED_RELEASES
from app.reference.regions import load_regions
from app.referrals import store
from app.referrals.case_events import CaseFacts, EventEffect, EventFacts, EventRefusal, on_event
from app.referrals.changes import Change
from app.referrals.domain import TERMINAL, LifecycleState
from app.referrals.models import Referral
from app.referrals.records import CASE_FIELDS, read_case, write_case
from app.referrals.service import OPEN_FLAG, set_state, state_of
from app.rights.rectification import changed_pointers
from app.rights.service import settle_rectifications

log = logging.getLogger("rujukan.intake")
ATTEMPTS = 3
AUDIT_ACTION = "release_event.receive"
TERMINAL_STATUSES = frozenset(s.value for s in TERMINAL)


@dataclass(frozen=True, slots=True)
class Intake:
    """What intake works with: the database, the data key, the group commit."""

    db: Database
    cipher: DataCipher
    groups: GroupCommit[Any]


@dataclass(frozen=True, slots=True)
class Sender:
    """Who posts events, to which intake, at what moment."""

    principal: Principal
    intake: Intake
    clock: Clock
    # `rujukan import`: a backlog's referrals fire no moment already past (SPEC §7).
    backfill: bool = False


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

    @property
    def checked(self) -> ReleaseEvent:
        if self.event is None:  # pragma: no cover - only parsed events reach the database
            raise AssertionError("unparsed event")
        return self.event


class _RetryError(Exception):
    """The transaction met a concurrent writer (a case it did not see, a deadlock)."""


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
    if prefixes is None:
        prefixes = [("events", i) for i in range(len(raws))]
    principal, intake = sender.principal, sender.intake

    def check_all() -> list[_Item]:
        return [
            _check(principal, raw, prefix, sender.clock)
            for raw, prefix in zip(raws, prefixes, strict=True)
        ]

    # A batch's checks (no database) run in a worker thread, so that the event loop keeps
    # answering other requests; a lone event's are too small to be worth the hop.
    items = await anyio.to_thread.run_sync(check_all) if len(raws) > 1 else check_all()
    todo = [i for i in items if i.result is None and i.event is not None]
    if len(items) == 1 and todo:
        # A request of one event: applied with those of concurrent requests of the same
        # client, as of the moment of the request that began the group (a few
        # milliseconds before the others arrived).
        async def settle_group(group: list[_Item]) -> None:
            await _settle_all(sender, group)

        await intake.groups.run((principal.client_id, principal.actor), todo, settle_group)
    elif todo:
        await _settle_all(sender, todo)
    # Every intake is audited (SPEC §8): an applied event with its transaction, a refused
    # or replayed one here, apart (nothing else was written for it).
    await audit.record_apart(intake.db, [_audit_row(principal, i) for i in items if not i.audited])
    outcomes: list[Outcome] = []
    for item in items:
        if item.result is None:  # pragma: no cover - _settle settles every item
            raise AssertionError("an event was left without an answer")
        outcomes.append(item.result)
    return outcomes


def _check(principal: Principal, raw: Any, prefix: tuple[str | int, ...], clock: Clock) -> _Item:
    """Schema, facility binding and the rules: everything that needs no database."""
    item = _Item(raw, prefix, request_id_var.get())
    # An event with more unknown members than a problem lists fails its schema: only the
    # first ones are kept for the validator, and its hash is never needed (SPEC §1).
    pruned, omitted = prune_unknown(raw, ReleaseEvent)
    canonical: bytes | None = None
    if not omitted:
        try:
            # One serialisation for both the body hash and the validation; a body with a
            # lone surrogate (no Unicode text) cannot be encoded: the slow path to its 422.
            canonical = canonical_json(raw)
        except UnicodeEncodeError:
            canonical = None
    try:
        event = parse_event(pruned, prefix, canonical, omitted=omitted)
    except ProblemError as problem:
        item.result = problem
        return item
    if not principal.may_post_for(event.facility.code):
        item.result = ProblemError(
            "FACILITY_NOT_PERMITTED",
            msg("This client may not post events for that facility."),
            errors=[
                FieldError(
                    "FACILITY_NOT_PERMITTED",
                    msg("not bound to this client"),
                    pointer=json_pointer(prefix) + "/facility/code",
                )
            ],
        )
        return item
    if canonical is None:  # pragma: no cover - such a body never validates
        raise AssertionError("an event that is no Unicode text validated")
    item.event = event
    item.digest = hashlib.sha256(canonical).hexdigest()  # = parsing.body_hash(raw)
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
        principal, AUDIT_ACTION, "replayed", referral_id=uuid.UUID(result.body["referral"]["id"])
    )


async def _settle_all(sender: Sender, items: list[_Item]) -> None:
    """Answer every item (checked, not yet answered), in order: a transaction per part.

    Each event succeeds or fails on its own (SPEC §3), even when the database refuses one
    of them for a reason no check foresaw (a bug): the transaction fails whole, so the
    events it held are tried again one by one, and only the one the database refuses is
    answered 500. A database that is away fails them all (503, retried by the sender)."""
    todo, copies = _copies(items)
    try:
        for part in _parts(todo):
            await _settle(sender, part)
    except Exception as exc:
        left = [i for i in items if i.result is None]
        if len(items) == 1 or is_database_unavailable(exc):
            raise
        log.error("a transaction of %d events failed: each alone", len(left), exc_info=True)
        for item in left:
            try:
                await _settle_all(sender, [item])
            except Exception as one:
                if is_database_unavailable(one):
                    raise
                log.error("an event could not be applied", exc_info=True)
                item.result = ProblemError(
                    "INTERNAL_ERROR", msg("This event could not be stored; nothing of it was.")
                )
    for copy, first in copies:
        copy.result = _answer_of_copy(first, copy)


def _answer_of_copy(first: _Item, copy: _Item) -> Outcome:
    result = first.result
    if isinstance(result, IntakeResult):
        return dataclasses.replace(result, replayed=True)
    if result is None:  # pragma: no cover - the original was settled first
        raise AssertionError("a copy of an unanswered event")
    # The same refusal, its pointers moved to the copy's place in the batch.
    old, new = json_pointer(first.prefix), json_pointer(copy.prefix)
    errors = [
        dataclasses.replace(e, pointer=new + e.pointer[len(old) :])
        if e.pointer is not None and e.pointer.startswith(old)
        else e
        for e in result.errors
    ]
    return dataclasses.replace(result, errors=errors)


def _copies(items: list[_Item]) -> tuple[list[_Item], list[tuple[_Item, _Item]]]:
    """(the items to settle, (copy, original) pairs). A copy repeats the event_id and body
    of the item just before it with that id: posted after it, it gets the same answer (its
    replay, or the same refusal), so it needs no transaction of its own; 500 copies of one
    event were 500 transactions (SPEC §3: "as if posted after it")."""
    todo: list[_Item] = []
    copies: list[tuple[_Item, _Item]] = []
    last: dict[str, _Item] = {}
    for item in items:
        event_id = item.checked.event_id
        previous = last.get(event_id)
        if previous is not None and previous.digest == item.digest:
            copies.append((item, previous))
        else:
            todo.append(item)
        last[event_id] = item
    return todo, copies


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


async def _settle(sender: Sender, part: list[_Item]) -> None:
    """Answer every event of `part` (distinct event_ids): replay, refuse or apply."""
    db = sender.intake.db
    # Idempotency comes before the rules (an answered event replays even if it would fail
    # them today), but it is only looked up for the events the rules refused: for the
    # others, claiming the (client, event_id) row finds a replay or a conflict by itself.
    refused = [i for i in part if i.refused is not None]
    if refused:
        await _replay(db, sender.principal, refused)
        for item in refused:
            if item.result is None:
                item.result = item.refused
    todo = [i for i in part if i.result is None]
    for _attempt in range(ATTEMPTS):
        if not todo:
            return
        try:
            # The unit of work of these events (of one request, or of a group of them).
            async with db.transaction() as session:
                answers, raced = await _apply(session, sender, todo)
        except _RetryError:
            continue
        except store.CaseRacedError:
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
            await _replay(db, sender.principal, raced)
        todo = [i for i in todo if i.result is None]
    for item in todo:
        item.result = ProblemError(
            "SERVICE_UNAVAILABLE",
            msg("Concurrent requests kept changing these cases; retry the event."),
            headers={"Retry-After": "1"},
        )


async def _replay(db: Database, principal: Principal, items: list[_Item]) -> None:
    """Set the stored answer (or 409 EVENT_ID_CONFLICT) of each item already answered."""
    by_id = {i.checked.event_id: i for i in items}
    async with db.read_session() as session:
        rows = await claims.answered(session, principal.client_id, list(by_id))
    for row in rows:
        item = by_id[row.event_id]
        if row.body_sha256 != item.digest:
            item.result = ProblemError(
                "EVENT_ID_CONFLICT",
                msg("This event_id was already used for a different event body."),
            )
        else:
            item.result = IntakeResult(row.status_code, row.response, replayed=True)


Answers = list[tuple[_Item, Outcome]]


async def _apply(
    session: AsyncSession, sender: Sender, items: list[_Item]
) -> tuple[Answers, list[_Item]]:
    """Apply `items` (distinct event_ids, all past the rules) in the session's transaction.

    Returns each applied or refused item with its answer, and the items whose claim found
    the event_id taken (to be replayed after commit). Locks are taken in one order —
    claims by event_id, then cases by (facility_code, case_ref), new cases inserted in
    that order — so that concurrent transactions wait for each other, not deadlock."""
    principal, cipher, now = sender.principal, sender.intake.cipher, sender.clock.now
    ordered = sorted(items, key=lambda i: i.checked.event_id)
    read = await claims.read(
        session,
        [
            {
                "client_id": principal.client_id,
                "event_id": i.checked.event_id,
                "body_sha256": i.digest,
                "event_type": i.checked.event_type.value,
                "occurred_at": i.checked.occurred_at,
                "created_at": now,
                "status_code": 0,
                "response": {},
            }
            for i in ordered
        ],
        sorted({(i.checked.facility.code, i.checked.case_ref) for i in items}),
        [cipher.blind_index(nik) for i in items if (nik := i.checked.person.nik)],
    )
    raced = [i for i in items if i.checked.event_id not in read.claimed]
    mine = [i for i in items if i.checked.event_id in read.claimed]
    if not mine:
        return [], raced
    batch = _Batch(read.cases, _OpenByNik(read.open_by_nik))
    answers: Answers = []
    for item in mine:
        claim_id = read.claimed[item.checked.event_id]
        outcome = _decide(item, batch, sender)
        if isinstance(outcome, ProblemError):
            batch.writes.unclaimed.append(claim_id)
            existing = batch.cases.get((item.checked.facility.code, item.checked.case_ref))
            batch.writes.log.audit.append(
                audit.row(
                    principal,
                    AUDIT_ACTION,
                    outcome.code,
                    referral_id=existing.id if existing is not None else None,
                    request_id=item.request_id,
                )
            )
        else:
            batch.writes.answers.append(
                {
                    "id": claim_id,
                    "status_code": outcome.status_code,
                    "response": outcome.body,
                    "outcome": outcome.body["outcome"],
                    "referral_id": uuid.UUID(outcome.body["referral"]["id"]),
                }
            )
        answers.append((item, outcome))
    if batch.rectified:
        await settle_rectifications(session, batch.rectified, batch.cases.values(), now)
    writes = batch.writes
    writes.new = list(batch.new.values())
    writes.changed = [r for k, r in batch.cases.items() if k in batch.changed]
    writes.pas_rewrite = [batch.cases[k] for k in batch.pas_rewrite if k not in batch.new_keys]
    await claims.write(session, writes)
    return answers, raced


@dataclass(slots=True)
class _Batch:
    """The in-memory state of one transaction's events, decided in request order."""

    cases: dict[tuple[str, str], Referral]
    open_by_nik: _OpenByNik
    new: dict[uuid.UUID, Referral] = field(default_factory=dict)
    new_keys: set[tuple[str, str]] = field(default_factory=set)
    changed: set[tuple[str, str]] = field(default_factory=set)  # existing referrals
    pas_rewrite: set[tuple[str, str]] = field(default_factory=set)
    # Referral → the case-data pointers applied events changed (open rectifications only).
    rectified: dict[uuid.UUID, set[str]] = field(default_factory=dict)
    writes: claims.Writes = field(default_factory=claims.Writes)


class _OpenByNik:
    """Open (non-terminal) referrals per NIK blind index, with their facilities, kept
    current as events apply."""

    def __init__(self, rows: Sequence[tuple[uuid.UUID, str, str]]) -> None:
        self._open: dict[str, dict[uuid.UUID, str]] = {}
        for referral_id, nik_index, facility_code in rows:
            self._open.setdefault(nik_index, {})[referral_id] = facility_code

    def note(self, referral: Referral) -> None:
        if referral.nik_index is None:
            return
        ids = self._open.setdefault(referral.nik_index, {})
        if referral.status in TERMINAL_STATUSES:
            ids.pop(referral.id, None)
        else:
            ids[referral.id] = referral.facility_code

    def forget(self, referral: Referral) -> None:
        if referral.nik_index is not None:
            self._open.get(referral.nik_index, {}).pop(referral.id, None)

    def others(self, referral: Referral) -> list[str]:
        """The facilities of the other open referrals of the referral's NIK."""
        if referral.nik_index is None:
            return []
        found = self._open.get(referral.nik_index, {})
        return [facility for rid, facility in found.items() if rid != referral.id]


def _decide(item: _Item, batch: _Batch, sender: Sender) -> Outcome:
    """One event on the in-memory rows: the domain's answer (`on_event`), applied to the
    referral and recorded; a refusal changes nothing."""
    event, principal, now = item.checked, sender.principal, sender.clock.now
    cipher = sender.intake.cipher
    key = (event.facility.code, event.case_ref)
    referral = batch.cases.get(key)
    case = event.model_dump(mode="json", include=set(CASE_FIELDS))
    changed: list[str] = list(CASE_FIELDS)
    before: LifecycleState | None = None
    if referral is not None:
        old_case = read_case(referral, cipher)
        if referral.supervision_ended:
            # Once supervision ended, the supervision end date is the prison's last word.
            case["release"]["supervision_end_date"] = old_case["release"].get(
                "supervision_end_date"
            )
        changed = [f for f in CASE_FIELDS if old_case.get(f) != case.get(f)]
        before = state_of(referral)
    facts = EventFacts(
        kind=event.event_type,
        occurred_at=event.occurred_at,
        supervised=event.release.type in SUPERVISED_RELEASES,
        data_changed=bool(changed),
        occurred_on=event.occurred_at.astimezone(sender.clock.tz).date(),
        supervision_end_date=event.release.supervision_end_date,
    )
    decided = on_event(
        CaseFacts(
            before,
            referral.last_event_at,
            referral.supervision_ended,
            referral.consent_withdrawn_at is not None,
        )
        if referral is not None and before is not None
        else None,
        facts,
    )
    if isinstance(decided, EventRefusal):
        if decided.pointer is not None:
            pointer = json_pointer(item.prefix) + decided.pointer
            return validation_failed([FieldError(decided.code, decided.detail, pointer=pointer)])
        return ProblemError(decided.code, decided.detail)
    if referral is None:
        referral = _new_referral(event, principal, now, sender.backfill)
        batch.cases[key] = referral
        batch.new[referral.id] = referral
        batch.new_keys.add(key)
    else:
        batch.open_by_nik.forget(referral)
        if not decided.recorded_only:
            batch.changed.add(key)
    if before is not None and decided.applied and changed and referral.open_rectifications:
        # SPEC §12: the fields this event changed, for the referral's open requests.
        fields = [f for f in CASE_FIELDS if f in changed]
        batch.rectified.setdefault(referral.id, set()).update(
            changed_pointers({f: old_case.get(f) for f in fields}, {f: case.get(f) for f in fields})
        )
    _apply_effect(referral, decided, event, case, changed, cipher, batch, now)
    batch.open_by_nik.note(referral)
    applied = decided.applied or before is None
    flags = sorted({w.code for w in item.warnings})
    extra: list[FieldError] = []
    others = batch.open_by_nik.others(referral)
    if others:
        flags.append(OPEN_FLAG)
    # SPEC §3: the sender learns of another open case only where it may read it (a prison
    # must not learn that another prison holds the person); the stored flag is the truth.
    if any(principal.may_read(facility, None) for facility in others):
        extra.append(
            FieldError(
                "OPEN_REFERRAL_EXISTS_FOR_NIK",
                msg("another open referral exists for this NIK; see related_referral_ids"),
                pointer="/person/nik",
            )
        )
    if not decided.recorded_only and flags != referral.data_quality_flags:
        referral.data_quality_flags = flags
    from_status = before.status.value if before is not None else None
    batch.writes.log.record(
        referral,
        Change(
            from_status=from_status,
            emits=decided.emits,
            event_type=event.event_type.value,
            event_id=event.event_id,
            event_outcome=decided.outcome.value,
            reason_code=referral.reason_code if referral.status != from_status else None,
            changed_fields=tuple(changed) if applied else (),
            backfill=sender.backfill,
        ),
        principal,
        sender.clock,
        audit_action=AUDIT_ACTION,
        audit_outcome=decided.outcome.value,
        request_id=item.request_id,
    )
    body = {
        "event_id": event.event_id,
        "outcome": decided.outcome.value,
        "referral": {
            "id": str(referral.id),
            "status": referral.status,
            "custody_status": referral.custody_status,
            "version": referral.version,
        },
        "warnings": [
            # Stored with the answer and replayed as stored: English whatever the language
            # of the request (SPEC §9 translates problems, not answers).
            {"code": w.code, "detail": w.detail.render("en"), "pointer": w.pointer}
            for w in [*item.warnings, *extra]
        ],
    }
    return IntakeResult(201 if before is None else 200, body)


def _apply_effect(
    referral: Referral,
    effect: EventEffect,
    event: ReleaseEvent,
    case: dict[str, Any],
    changed: list[str],
    cipher: DataCipher,
    batch: _Batch,
    now: Any,
) -> None:
    """The referral as the event leaves it."""
    created = referral.id in batch.new and referral.version == 0
    if effect.applied:
        if changed:
            write_case(referral, case, cipher)
            if created or "pas_categories" in changed:
                batch.pas_rewrite.add((referral.facility_code, referral.case_ref))
        set_state(referral, effect.state)
        if effect.ends_supervision:
            referral.supervision_ended = True
        referral.version = 1 if created else referral.version + 1
        referral.updated_at = now
        referral.last_event_at = event.occurred_at
    elif effect.outcome == "unchanged":
        referral.last_event_at = max(referral.last_event_at, event.occurred_at)


def _new_referral(event: ReleaseEvent, principal: Principal, now: Any, backfill: bool) -> Referral:
    """A referral of the event's episode, its every column set (inserted by the store at
    the end of the transaction); `_apply_effect` gives it its case data and state.

    A plain object with the table's columns as attributes (`NewReferral`, made from the
    table's metadata), not an ORM instance: it is never attached to a session, and the
    ORM's instrumented construction and attribute writes were a tenth of a batch's CPU
    (docs/benchmarks.md)."""
    draft: Any = NewReferral(
        id=uuid.uuid4(),
        facility_code=event.facility.code,
        case_ref=event.case_ref,
        origin_client_id=principal.client_id,
        version=0,
        sentra_code=None,
        reason_code=None,
        outcome=None,
        held_from_status=None,
        anonymised_at=None,
        supervision_ended=False,
        open_rectifications=0,
        closed_at=None,
        follow_ups_done=0,
        moments_from=now if backfill else None,
        data_quality_flags=[],
        last_event_at=event.occurred_at,
        created_at=now,
        updated_at=now,
    )
    referral: Referral = draft
    return referral


# A referral row to insert: an attribute per column of the table, nothing else.
NewReferral = dataclasses.make_dataclass(
    "NewReferral",
    [(column.key, Any, dataclasses.field(default=None)) for column in store.REFERRALS.columns],
    slots=True,
)
