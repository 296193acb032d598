"""The person's rights (SPEC §12): access to everything held about a NIK; rectification
requests to the source."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.disclosures import reads_of
from app.auth.models import Client
from app.auth.principal import Principal
from app.core import audit
from app.core.clock import Clock
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.i18n import msg
from app.referrals import store
from app.referrals.changes import outbox_row
from app.referrals.domain import ChangeType
from app.referrals.models import Referral, ReferralHistory
from app.referrals.schemas import HistoryEntry
from app.referrals.service import DetailView, detail
from app.rights.models import RectificationRequest
from app.rights.rectification import pointer_errors, still_pending
from app.rights.schemas import (
    RectificationCreate,
    SubjectAccess,
    SubjectDisclosure,
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
    history = [
        (entry, name)
        for entry, name in await session.execute(
            select(ReferralHistory, Client.name)
            .join(Client, Client.id == ReferralHistory.client_id)
            .where(ReferralHistory.referral_id.in_(ids))
            .order_by(ReferralHistory.id)
        )
    ]
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
                history=[
                    HistoryEntry.of(h, name) for h, name in history if h.referral_id == referral.id
                ],
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


# -- rectification ---------------------------------------------------------------------------


async def request_rectification(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: RectificationCreate,
    clock: Clock,
) -> RectificationRequest:
    """A correction asked of the prison (kemensos, the assigned sentra): recorded, the
    referral's open count raised, `referral.rectification_requested` emitted."""
    referral = await store.load_visible(session, principal, referral_id, lock=True)
    errors = pointer_errors(body.fields)
    if errors:
        raise validation_failed(errors)
    fields = list(dict.fromkeys(body.fields))
    request = RectificationRequest(
        id=uuid.uuid4(),
        referral_id=referral.id,
        fields=fields,
        pending=fields,
        detail=body.detail,
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
    return request


async def list_rectifications(
    session: AsyncSession, principal: Principal, referral_id: str
) -> list[RectificationRequest]:
    referral = await store.load_visible(session, principal, referral_id)
    rows = await session.execute(
        select(RectificationRequest)
        .where(RectificationRequest.referral_id == referral.id)
        .order_by(RectificationRequest.requested_at, RectificationRequest.id)
    )
    audit.record(
        session, principal, "referral.rectification_requests.read", "success",
        referral_id=referral.id,
    )  # fmt: skip
    return list(rows.scalars())


async def decline_rectification(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    request_id: str,
    reason: str,
    now: datetime,
) -> RectificationRequest:
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
    request.declined_at = now
    request.declined_by = principal.client_id
    request.decline_reason = reason
    referral.open_rectifications = max(0, referral.open_rectifications - 1)
    audit.record(
        session, principal, "referral.rectification_decline", "success",
        referral_id=referral.id, target_id=request.id,
    )  # fmt: skip
    return request


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
