"""The person's rights (SPEC §12): access to everything held about a NIK; rectification
requests to the source."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.aftercare import service as aftercare
from app.audit.disclosures import reads_of
from app.auth.models import Client
from app.auth.principal import Principal
from app.core import audit
from app.core.clock import Clock
from app.core.crypto import DataCipher
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.i18n import msg
from app.intake.rules import CLOCK_SKEW
from app.referrals import domain, keys, store
from app.referrals.changes import Change, ChangeLog, outbox_row
from app.referrals.domain import ChangeType
from app.referrals.models import Referral
from app.referrals.records import read_case
from app.referrals.schemas import ReferralDetail
from app.referrals.service import DetailView, detail, etag, history_of, set_state, state_of
from app.rehab import service as rehab
from app.rehab.schemas import PlanOut, ReportOut
from app.rights import erasure
from app.rights.models import RectificationRequest
from app.rights.rectification import pointer_errors, still_pending
from app.rights.schemas import (
    ConsentWithdrawalCreate,
    RectificationCreate,
    RectificationOut,
    SubjectAccess,
    SubjectDisclosure,
    SubjectRecord,
    SubjectReferral,
)

NIK_DIGITS = 16


def require_actor(principal: Principal) -> None:
    """A right exercised for a person names the officer who did it (`X-Actor`)."""
    if not principal.actor:
        raise ProblemError(
            "ACTOR_REQUIRED",
            msg("Send X-Actor: the officer answering the person's request."),
            errors=[FieldError("ACTOR_REQUIRED", msg("X-Actor is required"), parameter="X-Actor")],
        )


async def subject_access(
    session: AsyncSession, principal: Principal, nik: str, view: DetailView
) -> SubjectAccess:
    """Every referral of `nik`, open or ended, whole, with its history and every client
    the audit log shows it was disclosed to. Audited as `subjects.access`, naming them."""
    require_actor(principal)
    if len(nik) != NIK_DIGITS or not nik.isascii() or not nik.isdigit():
        raise validation_failed([FieldError("INVALID_NIK", msg("16 digits"), pointer="/nik")])
    referrals = list(
        (
            await session.execute(
                select(Referral)
                .where(Referral.nik_index.in_(view.cipher.blind_indexes(nik)))
                .order_by(Referral.created_at, Referral.id)
            )
        ).scalars()
    )
    if not referrals:
        raise ProblemError("SUBJECT_NOT_FOUND")
    ids = [r.id for r in referrals]
    history = await history_of(session, ids, view.cipher)
    reads = await reads_of(session, ids)
    client_ids = {c for _, c in reads if c is not None}
    names: dict[uuid.UUID, str] = {}
    if client_ids:
        rows = await session.execute(
            select(Client.id, Client.name).where(Client.id.in_(client_ids))
        )
        names = {row.id: row.name for row in rows}
    items = []
    for referral in referrals:
        shown = sorted(
            ((client, seen) for (rid, client), seen in reads.items() if rid == referral.id),
            key=lambda pair: (pair[1].first_at, str(pair[0])),
        )
        items.append(
            SubjectReferral(
                referral=await detail(session, principal, referral, view, referrals),
                history=history[referral.id],
                record=await _record(session, principal, str(referral.id), view.cipher),
                disclosures=[
                    SubjectDisclosure(
                        client_id=client,
                        client_name=names.get(client) if client else None,
                        via=seen.vias(),
                        first_at=seen.first_at,
                        last_at=seen.last_at,
                        count=seen.count,
                    )
                    for client, seen in shown
                ],
            )
        )
    audit.record(session, principal, "subjects.access", "success", disclosed=audit.pack_ids(ids))
    return SubjectAccess(items=items)


async def _record(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> SubjectRecord:
    """The whole record, read as Kemensos reads it; the subject access's own audit row
    covers these reads."""
    with audit.covered():
        return await _record_reads(session, principal, referral_id, cipher)


async def _record_reads(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> SubjectRecord:
    try:
        plan: PlanOut | None = (await rehab.read_plan(session, principal, referral_id, cipher))[0]
    except ProblemError as absent:
        if absent.code != "NO_PLAN":
            raise
        plan = None
    try:
        report: ReportOut | None = await rehab.read_report(session, principal, referral_id, cipher)
    except ProblemError as absent:
        if absent.code != "NO_REPORT":
            raise
        report = None
    return SubjectRecord(
        assessments=await rehab.list_assessments(session, principal, referral_id, cipher),
        plan=plan,
        appointments=await rehab.list_appointments(session, principal, referral_id, cipher),
        services=await rehab.list_services(session, principal, referral_id, cipher),
        notes=await rehab.list_notes(session, principal, referral_id, cipher),
        report=report,
        follow_ups=await aftercare.list_follow_ups(session, principal, referral_id, cipher),
    )


# -- rectification ---------------------------------------------------------------------------


async def request_rectification(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: RectificationCreate,
    clock: Clock,
    cipher: DataCipher,
) -> RectificationOut:
    """A correction asked of the prison (kemensos, the assigned sentra): recorded, the
    referral's open count raised, `referral.rectification_requested` emitted."""
    referral = await store.load_visible(session, principal, referral_id, lock=True)
    errors = pointer_errors(body.fields)
    if errors:
        raise validation_failed(errors)
    fields = list(dict.fromkeys(body.fields))
    keys.refuse_if_erased(referral)
    sealer = await keys.text_cipher(session, cipher, referral.id, create=True)
    rid = uuid.uuid4()
    request = RectificationRequest(
        id=rid,
        referral_id=referral.id,
        fields=fields,
        pending=fields,
        detail=sealer.encrypt(body.detail.encode(), _associated(rid, "detail")),
        client_id=principal.client_id,
        actor=principal.actor,
        requested_at=clock.now,
    )
    session.add(request)
    referral.open_rectifications += 1
    event = outbox_row(referral, ChangeType.rectification_requested, clock, referral.status)
    event["data"] = {**event["data"], "rectification_request_id": str(request.id)}
    await session.flush()
    await session.execute(store.OUTBOX.insert(), [event])
    audit.record(
        session,
        principal,
        "referral.rectification_request",
        "success",
        referral_id=referral.id,
        target_id=request.id,
    )
    return _out(request, sealer)


def _associated(request_id: uuid.UUID, field: str) -> bytes:
    return b"rujukan/rectification/" + field.encode() + b"/" + request_id.bytes


async def seal_plain(session: AsyncSession, data: DataCipher, batch: int) -> int:
    """Seal up to `batch` rectification texts still plain (`p0.`, from before migration
    0008) under their referral's key (`rujukan keys rotate`); how many."""
    plain = f"{keys.PLAIN}%"
    rows = (
        await session.execute(
            select(RectificationRequest)
            .where(
                or_(
                    RectificationRequest.detail.like(plain),
                    RectificationRequest.decline_reason.like(plain),
                )
            )
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    ).scalars()
    changed = 0
    for row in rows:
        sealer = await keys.text_cipher(session, data, row.referral_id, create=True)
        for field in ("detail", "decline_reason"):
            token: str | None = getattr(row, field)
            if token is not None and token.startswith(keys.PLAIN):
                sealed = sealer.encrypt(sealer.decrypt(token), _associated(row.id, field))
                setattr(row, field, sealed)
        changed += 1
    return changed


def _open(
    sealer: keys.TextCipher, request_id: uuid.UUID, field: str, token: str | None
) -> str | None:
    if token is None:
        return None
    try:
        return sealer.decrypt(token, _associated(request_id, field)).decode()
    except keys.TextErasedError:
        return None


def _out(row: RectificationRequest, sealer: keys.TextCipher) -> RectificationOut:
    return RectificationOut.of(
        row,
        detail=_open(sealer, row.id, "detail", row.detail),
        decline_reason=_open(sealer, row.id, "decline_reason", row.decline_reason),
    )


async def list_rectifications(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> list[RectificationOut]:
    referral = await store.load_visible(session, principal, referral_id)
    sealer = await keys.text_cipher(session, cipher, referral.id)
    rows = await session.execute(
        select(RectificationRequest)
        .where(RectificationRequest.referral_id == referral.id)
        .order_by(RectificationRequest.requested_at, RectificationRequest.id)
    )
    audit.record(
        session, principal, "referral.rectification_requests.read", "success",
        referral_id=referral.id,
    )  # fmt: skip
    return [_out(row, sealer) for row in rows.scalars()]


async def decline_rectification(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    request_id: str,
    reason: str,
    now: datetime,
    cipher: DataCipher,
) -> RectificationOut:
    """The prison answers that its data is right: the request ends, declined."""
    referral = await store.load_visible(session, principal, referral_id, lock=True)
    try:
        rid = uuid.UUID(request_id)
    except ValueError:
        raise ProblemError("RECTIFICATION_NOT_FOUND") from None
    request = await session.get(RectificationRequest, rid)
    if request is None or request.referral_id != referral.id:
        raise ProblemError("RECTIFICATION_NOT_FOUND")
    if request.status != "open":
        raise ProblemError(
            "RECTIFICATION_CLOSED", msg("The request is {status}.", status=request.status)
        )
    keys.refuse_if_erased(referral)
    sealer = await keys.text_cipher(session, cipher, referral.id, create=True)
    request.declined_at = now
    request.declined_by = principal.client_id
    request.decline_reason = sealer.encrypt(
        reason.encode(), _associated(request.id, "decline_reason")
    )
    referral.open_rectifications = max(0, referral.open_rectifications - 1)
    audit.record(
        session, principal, "referral.rectification_decline", "success",
        referral_id=referral.id, target_id=request.id,
    )  # fmt: skip
    return _out(request, sealer)


async def settle_rectifications(
    session: AsyncSession,
    changed: dict[uuid.UUID, set[str]],
    referrals: Iterable[Referral],
    now: datetime,
) -> None:
    """Intake, in the transaction of the applied events: the fields they changed leave the
    open requests of their referrals; a request with none left is resolved."""
    rows = await session.execute(
        select(RectificationRequest).where(
            RectificationRequest.referral_id.in_(list(changed)),
            RectificationRequest.resolved_at.is_(None),
            RectificationRequest.declined_at.is_(None),
        )
    )
    still_open: dict[uuid.UUID, int] = dict.fromkeys(changed, 0)
    for request in rows.scalars():
        pending = still_pending(request.pending, changed[request.referral_id])
        if pending != request.pending:
            request.pending = pending
        if pending:
            still_open[request.referral_id] += 1
        else:
            request.resolved_at = now
    await session.flush()
    for referral in referrals:
        if referral.id in still_open:
            referral.open_rectifications = still_open[referral.id]


# -- consent withdrawal ---------------------------------------------------------------------

AUDIT_WITHDRAWAL = "referral.consent_withdrawal"


async def withdraw_consent(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: ConsentWithdrawalCreate,
    view: DetailView,
) -> tuple[ReferralDetail, str]:
    """SPEC §12: the person withdrew consent. Not a §4 action: no If-Match, any state.
    At once, in this transaction: health, contact and every free text erased (one path
    with retention), a non-terminal referral closed `consent_withdrawn`, its events
    emitted. Recording it again changes nothing and answers the detail."""
    clock = view.clock
    referral = await store.load_visible(session, principal, referral_id, lock=True)
    basis = read_case(referral, view.cipher)["consent"].get("basis")
    if basis != "consent":
        raise ProblemError(
            "CONSENT_NOT_BASIS",
            msg("The referral rests on `{basis}`, not on the person's consent.", basis=basis),
        )
    if body.withdrawn_at > clock.now + CLOCK_SKEW:
        raise validation_failed(
            [FieldError("INVALID_DATE", msg("consent withdrawn in the future"), "/withdrawn_at")]
        )
    if referral.consent_withdrawn_at is None:
        await erasure.erase(session, [referral], view.cipher, clock.now, identity=False)
        before = state_of(referral)
        after = domain.withdrawn(before)
        set_state(referral, after)
        referral.consent_withdrawn_at = body.withdrawn_at
        referral.consent_withdrawal_ref = body.evidence_ref
        referral.next_follow_up_due = None  # no aftercare contact without consent
        referral.version += 1
        referral.updated_at = clock.now
        if after.status is not before.status:
            referral.closed_at = clock.now
        log = ChangeLog()
        log.record(
            referral,
            Change(
                from_status=before.status.value,
                emits=(*domain.change_events(before, after), ChangeType.consent_withdrawn),
                action="consent_withdrawal",
                outcome=after.outcome if after.status is not before.status else None,
            ),
            principal,
            clock,
            audit_action=AUDIT_WITHDRAWAL,
            audit_outcome="success",
        )
        await store.write_changes(session, log)
    else:
        audit.record(session, principal, AUDIT_WITHDRAWAL, "unchanged", referral_id=referral.id)
    return await detail(session, principal, referral, view), etag(referral)
