"""Event intake: schema, facility binding, idempotency, rules, then the case semantics.

Idempotency (SPEC §3): the (client, event_id) row of `intake_records` is inserted first in
the applying transaction with ON CONFLICT DO NOTHING. On PostgreSQL a second copy that
arrives while the first is in flight blocks on that unique index until the first commits
(then it sees the row, rolls back and replays the stored answer) or rolls back (then it
goes on and applies the event itself). A 4xx rolls the whole transaction back, so it
stores nothing. On SQLite the transactions are serialised (see app/db.py).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal
from app.context import AppServices
from app.errors import FieldError, ProblemError, json_pointer, validation_failed
from app.intake.models import IntakeRecord
from app.intake.rules import Clock, check_event
from app.intake.schemas import EventType, ReleaseEvent
from app.reference.catalogue import SUPERVISED_RELEASES, ReleaseType
from app.reference.regions import load_regions
from app.referrals import domain
from app.referrals.domain import CustodyStatus, Status
from app.referrals.events import add_history, add_outbox
from app.referrals.models import Referral, ReferralPasCategory
from app.referrals.records import CASE_FIELDS, read_case, write_case
from app.referrals.service import set_state, state_of
from app.validation import body_errors

CREATING = frozenset({EventType.scheduled, EventType.rescheduled, EventType.completed})
SCHEDULING = frozenset({EventType.scheduled, EventType.rescheduled})


@dataclass(frozen=True, slots=True)
class IntakeResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


class _RacedError(Exception):
    """Another copy of this event committed first: replay its answer."""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


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


def parse_event(raw: Any, prefix: tuple[str | int, ...] = ()) -> ReleaseEvent:
    bad: list[FieldError] = []
    clean = _surrogate_free(raw, (), bad)
    try:
        event = ReleaseEvent.model_validate_json(json.dumps(clean))
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


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, for ON CONFLICT DO NOTHING (both databases support it)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def receive_event(
    services: AppServices,
    principal: Principal,
    raw: Any,
    clock: Clock,
    prefix: tuple[str | int, ...] = (),
) -> IntakeResult:
    event = parse_event(raw, prefix)
    if not principal.may_post_for(event.facility.code):
        raise ProblemError(
            "FACILITY_NOT_PERMITTED",
            "This client may not post events for that facility.",
            errors=[
                FieldError(
                    "FACILITY_NOT_PERMITTED",
                    "not bound to this client",
                    pointer="".join(f"/{p}" for p in prefix) + "/facility/code",
                )
            ],
        )
    digest = body_hash(raw)
    rules = check_event(event, clock=clock, regions=load_regions())
    if rules.errors:
        # Idempotency comes before the rules (an answered event replays even if it would
        # fail them today), but it is only looked up here: on the way in, claiming the
        # (client, event_id) row in the applying transaction finds a replay or a
        # conflict by itself, and a separate read before it cost a transaction per event.
        replay = await _replay(services, principal, event.event_id, digest)
        if replay is not None:
            return replay
        prefixed = "".join(f"/{p}" for p in prefix)
        for err in rules.errors:
            err.pointer = prefixed + (err.pointer or "")
        raise validation_failed(rules.errors)
    for attempt in range(3):
        try:
            async with services.db.transaction() as session:
                return await _apply(
                    session, services, principal, event, digest, rules.warnings, clock
                )
        except _RacedError:
            replay = await _replay(services, principal, event.event_id, digest)
            if replay is not None:
                return replay
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _replay(
    services: AppServices, principal: Principal, event_id: str, digest: str
) -> IntakeResult | None:
    async with services.db.read_session() as session:
        record = (
            await session.execute(
                select(IntakeRecord).where(
                    IntakeRecord.client_id == principal.client_id,
                    IntakeRecord.event_id == event_id,
                )
            )
        ).scalar_one_or_none()
    if record is None:
        return None
    if record.body_sha256 != digest:
        raise ProblemError(
            "EVENT_ID_CONFLICT",
            "This event_id was already used for a different event body.",
        )
    return IntakeResult(record.status_code, record.response, replayed=True)


async def _apply(
    session: AsyncSession,
    services: AppServices,
    principal: Principal,
    event: ReleaseEvent,
    digest: str,
    warnings: list[FieldError],
    clock: Clock,
) -> IntakeResult:
    insert = _insert(session)
    claimed = (
        await session.execute(
            insert(IntakeRecord)
            .values(
                client_id=principal.client_id,
                event_id=event.event_id,
                body_sha256=digest,
                event_type=event.event_type.value,
                occurred_at=event.occurred_at,
                created_at=clock.now,
            )
            .on_conflict_do_nothing(index_elements=["client_id", "event_id"])
            .returning(IntakeRecord.id)
        )
    ).scalar_one_or_none()
    if claimed is None:
        raise _RacedError

    case = event.model_dump(mode="json", include=set(CASE_FIELDS))
    created = False
    if event.event_type in CREATING:
        # Insert first and lock after: one statement fewer than look, insert, look again
        # when the case is new; an existing case keeps its row (DO NOTHING) and is locked.
        inserted = (
            await session.execute(
                insert(Referral)
                .values(_new_referral_row(uuid.uuid4(), event, principal, case, services, clock))
                .on_conflict_do_nothing(index_elements=["facility_code", "case_ref"])
                .returning(Referral.id)
            )
        ).scalar_one_or_none()
        created = inserted is not None
    referral = await _lock_referral(session, event)
    if referral is None:
        raise ProblemError("UNKNOWN_CASE", "No referral exists for this facility and case_ref.")

    previous_custody = referral.custody_status
    if created:
        outcome = "created"
        previous_status: str | None = None
        changed = list(CASE_FIELDS)
    else:
        stale = event.occurred_at < referral.last_event_at
        outcome, previous_status, changed = (
            ("stale", referral.status, [])
            if stale
            else _apply_existing(referral, event, case, services, clock)
        )

    flags = await _quality_flags(session, referral, warnings)
    extra_warnings: list[FieldError] = []
    if "OPEN_REFERRAL_EXISTS_FOR_NIK" in flags:
        extra_warnings.append(
            FieldError(
                "OPEN_REFERRAL_EXISTS_FOR_NIK",
                "another open referral exists for this NIK; see related_referral_ids",
                pointer="/person/nik",
            )
        )
    if outcome != "stale" and flags != referral.data_quality_flags:
        referral.data_quality_flags = flags
    if outcome not in ("stale", "unchanged"):
        if not created:
            referral.version += 1
        referral.updated_at = clock.now
        referral.last_event_at = event.occurred_at
        if created or "pas_categories" in changed:
            await _replace_pas(session, referral, event.pas_categories, fresh=created)
    elif outcome == "unchanged":
        referral.last_event_at = max(referral.last_event_at, event.occurred_at)

    add_history(
        session,
        referral,
        principal,
        clock.now,
        from_status=previous_status,
        event_type=event.event_type.value,
        event_id=event.event_id,
        event_outcome=outcome,
        reason_code=referral.reason_code if referral.status != previous_status else None,
        changed_fields=changed,
    )
    if created:
        add_outbox(session, referral, "referral.created", clock.now, previous_status=None)
    elif outcome not in ("stale", "unchanged"):
        if referral.status != previous_status:
            add_outbox(
                session,
                referral,
                "referral.status_changed",
                clock.now,
                previous_status=previous_status,
            )
        if changed or referral.custody_status != previous_custody:
            add_outbox(
                session, referral, "referral.updated", clock.now, previous_status=previous_status
            )
    audit.record(session, principal, "release_event.receive", outcome, referral_id=referral.id)

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
            for w in [*warnings, *extra_warnings]
        ],
    }
    status_code = 201 if created else 200
    # An UPDATE by id: the claimed row was inserted with Core, so loading it would cost
    # a SELECT first.
    await session.execute(
        update(IntakeRecord)
        .where(IntakeRecord.id == claimed)
        .values(status_code=status_code, response=body, outcome=outcome, referral_id=referral.id)
        .execution_options(synchronize_session=False)
    )
    return IntakeResult(status_code, body)


async def _lock_referral(session: AsyncSession, event: ReleaseEvent) -> Referral | None:
    return (
        await session.execute(
            select(Referral)
            .where(
                Referral.facility_code == event.facility.code,
                Referral.case_ref == event.case_ref,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


def _new_referral_row(
    new_id: uuid.UUID,
    event: ReleaseEvent,
    principal: Principal,
    case: dict[str, Any],
    services: AppServices,
    clock: Clock,
) -> dict[str, Any]:
    custody = (
        CustodyStatus.released
        if event.event_type is EventType.completed
        else CustodyStatus.in_custody
    )
    referral = Referral(
        id=new_id,
        facility_code=event.facility.code,
        case_ref=event.case_ref,
        origin_client_id=principal.client_id,
        status=Status.received.value,
        custody_status=custody.value,
        version=1,
        data_quality_flags=[],
        last_event_at=event.occurred_at,
        created_at=clock.now,
        updated_at=clock.now,
    )
    write_case(referral, case, services.cipher)
    columns = Referral.__table__.columns.keys()
    return {
        name: getattr(referral, name) for name in columns if getattr(referral, name) is not None
    }


def _apply_existing(
    referral: Referral,
    event: ReleaseEvent,
    case: dict[str, Any],
    services: AppServices,
    clock: Clock,
) -> tuple[str, str, list[str]]:
    """Type-specific semantics on an existing referral: (outcome, previous status, changed)."""
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


async def _quality_flags(
    session: AsyncSession, referral: Referral, warnings: list[FieldError]
) -> list[str]:
    flags = sorted({w.code for w in warnings})
    if referral.nik_index is not None:
        other = (
            await session.execute(
                select(Referral.id)
                .where(
                    Referral.nik_index == referral.nik_index,
                    Referral.id != referral.id,
                    Referral.status.not_in([s.value for s in domain.TERMINAL]),
                )
                .limit(1)
            )
        ).scalar_one_or_none()
        if other is not None:
            flags.append("OPEN_REFERRAL_EXISTS_FOR_NIK")
    return flags


async def _replace_pas(
    session: AsyncSession, referral: Referral, codes: list[str], *, fresh: bool
) -> None:
    if not fresh:
        await session.execute(
            delete(ReferralPasCategory).where(ReferralPasCategory.referral_id == referral.id)
        )
    session.add_all(ReferralPasCategory(referral_id=referral.id, code=c) for c in codes)
