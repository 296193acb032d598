"""Reading a referral (visibility, field rules, derived fields) and taking transitions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.aftercare import rules as aftercare
from app.auth.models import Client
from app.auth.principal import Principal
from app.auth.roles import REFERRAL_READERS
from app.core import audit
from app.core.clock import Clock
from app.core.crypto import DataCipher
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.i18n import msg
from app.reference.coverage import CoverageCache, suggest_sentra
from app.referrals import domain, keys, store
from app.referrals.changes import Change, ChangeLog
from app.referrals.domain import Action, ChangeType, Command, CustodyStatus, LifecycleState, Status
from app.referrals.models import Referral, ReferralHistory
from app.referrals.records import read_case
from app.referrals.schemas import (
    ConsentWithdrawalOut,
    HistoryEntry,
    ReferralDetail,
    TransitionRequest,
)
from app.rehab import service as rehab
from app.rehab.schemas import AppointmentOut, AssessmentOut

# The flag of a referral whose NIK has another open referral (SPEC §3).
OPEN_FLAG = "OPEN_REFERRAL_EXISTS_FOR_NIK"


@dataclass(frozen=True, slots=True)
class DetailView:
    """What presenting a referral's detail takes besides the row and the caller."""

    cipher: DataCipher
    triage_days: int
    coverage: CoverageCache
    clock: Clock


def state_of(referral: Referral) -> LifecycleState:
    return LifecycleState(
        status=Status(referral.status),
        custody_status=CustodyStatus(referral.custody_status),
        sentra_code=referral.sentra_code,
        reason_code=referral.reason_code,
        outcome=referral.outcome,
        held_from_status=Status(referral.held_from_status) if referral.held_from_status else None,
    )


def set_state(referral: Referral, state: LifecycleState) -> None:
    referral.status = state.status.value
    referral.custody_status = state.custody_status.value
    referral.sentra_code = state.sentra_code
    referral.reason_code = state.reason_code
    referral.outcome = state.outcome
    referral.held_from_status = state.held_from_status.value if state.held_from_status else None


def etag(referral: Referral) -> str:
    return f'"{referral.version}"'


def disclosed(
    principal: Principal, referral: Referral, case: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    """The person and the needs the caller may read, and what was withheld (SPEC §5):
    Kemensos and the originating prison read all; the assigned sentra and the supervising
    Bapas read health data and phone numbers only as far as the consent discloses them
    (a public task discloses both)."""
    person: dict[str, Any] = dict(case["person"])
    needs: dict[str, Any] | None = dict(case["needs"]) if case.get("needs") else None
    if principal.sees_everything(referral.facility_code):
        return person, needs, []
    consent = case.get("consent") or {}
    scope = set(consent.get("scope") or ())
    public = consent.get("basis") == "public_task"
    withheld: list[str] = []
    if not (public or "health" in scope):
        if needs is not None:
            needs["health"] = None
        withheld.append("/needs/health")
    if not (public or "contact" in scope):
        person["phone"] = None
        withheld.append("/person/phone")
        guardian = person.get("guardian")
        if isinstance(guardian, dict):
            person["guardian"] = {**guardian, "phone": None}
        withheld.append("/person/guardian/phone")
    return person, needs, withheld


async def detail(
    session: AsyncSession,
    principal: Principal,
    referral: Referral,
    view: DetailView,
    siblings: Sequence[Any] | None = None,
    record: tuple[AssessmentOut | None, AppointmentOut | None] | None = None,
) -> ReferralDetail:
    """The detail of `referral`; `siblings` are the other referrals of its NIK, and `record`
    its latest assessment and next appointment, when the caller has read them already."""
    clock = view.clock
    case = read_case(referral, view.cipher)
    person, needs, withheld = disclosed(principal, referral, case)
    others = siblings if siblings is not None else await store.siblings_of(session, referral)
    readable = [
        r for r in others if principal.may_read(r.facility_code, r.sentra_code, r.bapas_code)
    ]
    related: list[uuid.UUID] = sorted((r.id for r in readable), key=str)
    flags = list(referral.data_quality_flags)
    # SPEC §3: the open-case flag only where the caller may read an open one of them.
    if OPEN_FLAG in flags and not any(r.status not in store.TERMINAL_CODES for r in readable):
        flags.remove(OPEN_FLAG)
    state = state_of(referral)
    assessment, next_appointment = record or await rehab.detail_fields(
        session, principal, referral.id, clock.now, view.cipher
    )
    age = domain.age_on(referral.birth_date, referral.release_date)
    today = clock.today
    return ReferralDetail(
        id=referral.id,
        status=referral.status,
        custody_status=referral.custody_status,
        version=referral.version,
        sentra_code=referral.sentra_code,
        reason_code=referral.reason_code,
        outcome=referral.outcome,
        facility=case["facility"],
        case_ref=referral.case_ref,
        person=person,
        nik_masked=referral.nik_masked,
        release=case["release"],
        pas_categories=case["pas_categories"],
        ppks_types=case.get("ppks_types") or [],
        needs=needs,
        in_custody_programmes=case["in_custody_programmes"],
        consent=case["consent"],
        responsible_agency=domain.responsible_agency(
            state.custody_status, referral.handover_date, today
        ),
        handover_date=referral.handover_date,
        supervision_ended=referral.supervision_ended,
        withheld_fields=withheld,
        consent_withdrawal=(
            ConsentWithdrawalOut(
                withdrawn_at=referral.consent_withdrawn_at,
                evidence_ref=referral.consent_withdrawal_ref or "",
            )
            if referral.consent_withdrawn_at is not None
            else None
        ),
        triage_due_at=domain.triage_due_at(referral.handover_date, view.triage_days, clock.tz),
        overdue=domain.is_overdue(state.status, referral.handover_date, view.triage_days, today),
        next_follow_up_due=referral.next_follow_up_due,
        suggested_sentra_code=suggest_sentra(
            await view.coverage.get(lambda: store.active_sentra(session)),
            referral.province_code,
            referral.regency_code,
        ),
        age_at_release=age,
        is_child=domain.is_child(age),
        data_quality_flags=flags,
        related_referral_ids=related,
        assessment=assessment,
        next_appointment=next_appointment,
        allowed_actions=domain.allowed_actions(state, principal.role),
        created_at=referral.created_at,
        updated_at=referral.updated_at,
    )


async def read_detail(
    session: AsyncSession, principal: Principal, referral_id: str, view: DetailView
) -> tuple[ReferralDetail, str]:
    rows = await store.load_for_detail(session, principal, referral_id, view.clock.now)
    referral = rows.referral
    sealer = keys.cipher_of(view.cipher, referral.id, rows.text_key)
    record = rehab.detail_view(principal, rows.assessment, rows.next_appointment, sealer)
    out = await detail(session, principal, referral, view, rows.siblings, record)
    audit.record(session, principal, "referral.read", "success", referral_id=referral.id)
    return out, etag(referral)


async def read_history(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> list[HistoryEntry]:
    """The referral's history, oldest first, each entry with its client's name (SPEC §5:
    a portal cannot read the client registry, so the history names the clients)."""
    referral = await store.load_visible(session, principal, referral_id)
    entries = await history_of(session, [referral.id], cipher)
    audit.record(session, principal, "referral.history.read", "success", referral_id=referral.id)
    return entries[referral.id]


async def history_of(
    session: AsyncSession, referral_ids: list[uuid.UUID], cipher: DataCipher
) -> dict[uuid.UUID, list[HistoryEntry]]:
    """The histories of these referrals, oldest first, their clients named and their notes
    opened (null once erased)."""
    notes = await keys.open_texts(session, cipher, referral_ids)
    out: dict[uuid.UUID, list[HistoryEntry]] = {r: [] for r in referral_ids}
    for entry, name in await session.execute(
        select(ReferralHistory, Client.name)
        .join(Client, Client.id == ReferralHistory.client_id)
        .where(ReferralHistory.referral_id.in_(referral_ids))
        .order_by(ReferralHistory.id)
    ):
        note = entry.note if entry.note_id is None else notes.get(entry.note_id)
        out[entry.referral_id].append(HistoryEntry.of(entry, name, note))
    return out


async def transition(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    request: TransitionRequest,
    if_match: str | None,
    view: DetailView,
) -> tuple[ReferralDetail, str]:
    """Checks in the order of SPEC §4 (the body was validated by the route): visibility,
    role, If-Match, state, required fields. A role that reads no referral (auditor, admin)
    sees none: a 404 for any id, answered before anything is read or locked."""
    action = request.action
    if principal.role not in REFERRAL_READERS:
        raise store.not_found()
    referral = await store.load_visible(session, principal, referral_id, lock=True)
    if not domain.role_may(principal.role, action):
        raise ProblemError(
            "ROLE_NOT_PERMITTED",
            msg(
                "The {role} role may not `{action}`.",
                role=principal.role.value,
                action=action.value,
            ),
        )
    # SPEC §1: `*` names no version (it would skip the check): like a missing If-Match.
    if if_match is None or if_match.strip() in ("", "*"):
        raise ProblemError("PRECONDITION_REQUIRED")
    if if_match.strip() not in (etag(referral), f"W/{etag(referral)}"):
        raise ProblemError(
            "VERSION_MISMATCH",
            msg("The referral is at version {version}.", version=referral.version),
            headers={"ETag": etag(referral)},
        )
    before = state_of(referral)
    refused = domain.refusal(before, action, principal.role)
    if refused is not None:
        raise ProblemError(
            refused.code, refused.detail, extensions={"allowed_actions": refused.allowed_actions}
        )
    command = Command(
        action=action,
        reason_code=request.reason_code,
        outcome=request.outcome,
        sentra_code=request.sentra_code,
        note=request.note,
    )
    sentra = await store.active_sentra(session) if command.sentra_code is not None else []
    errors = domain.command_errors(command, (s.code for s in sentra))
    report = None
    if action is Action.close:
        report_errors, report = await rehab.check_close_report(
            session, referral, command.outcome, request.report
        )
        errors += report_errors
    elif request.report is not None:
        errors.append(
            FieldError(
                "INVALID_VALUE",
                msg("`{action}` takes no {field}", action=action.value, field="report"),
                "/report",
            )
        )
    if errors:
        raise validation_failed(errors)
    if command.note is not None or report is not None:
        keys.refuse_if_erased(referral)  # terminal already; its key must not come back
    after = domain.apply(before, command)
    set_state(referral, after)
    referral.version += 1
    referral.updated_at = view.clock.now
    if after.status is Status.closed:
        referral.closed_at = view.clock.now
        if aftercare.has_aftercare(after.status.value, after.outcome):
            referral.next_follow_up_due = aftercare.next_due(view.clock.today, 0)
    # A transition always changes the detail: assigning the sentra it already has is an
    # `updated` too.
    emits = domain.change_events(before, after) or (ChangeType.updated,)
    if report is not None:
        # Every close publishes its report (SPEC §10), after its `status_changed`.
        sealer = await keys.text_cipher(session, view.cipher, referral.id, create=True)
        rehab.write_report(session, referral, report, principal, view.clock, sealer)
        emits = (*emits, ChangeType.report_published)
    note_id = None
    if command.note is not None:
        sealer = await keys.text_cipher(session, view.cipher, referral.id, create=True)
        note_id = await keys.put_text(session, sealer, referral.id, command.note)
    log = ChangeLog()
    log.record(
        referral,
        Change(
            from_status=before.status.value,
            emits=emits,
            action=action.value,
            reason_code=command.reason_code,
            outcome=command.outcome,
            note_id=note_id,
        ),
        principal,
        view.clock,
        audit_action=f"referral.{action.value}",
        audit_outcome="success",
    )
    await store.write_changes(session, log)
    out = await detail(session, principal, referral, view)
    return out, etag(referral)
