"""The person's rights (SPEC §12): access to everything held about a NIK."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.disclosures import reads_of
from app.auth.models import Client
from app.auth.principal import Principal
from app.core import audit
from app.core.errors import FieldError, ProblemError, validation_failed
from app.referrals.models import Referral, ReferralHistory
from app.referrals.schemas import HistoryEntry
from app.referrals.service import DetailView, detail
from app.rights.schemas import SubjectAccess, SubjectDisclosure, SubjectReferral

NIK_DIGITS = 16


def require_actor(principal: Principal) -> None:
    """A right exercised for a person names the officer who did it (`X-Actor`)."""
    if not principal.actor:
        raise ProblemError(
            "ACTOR_REQUIRED",
            "Send X-Actor: the officer answering the person's request.",
            errors=[FieldError("ACTOR_REQUIRED", "X-Actor is required", parameter="X-Actor")],
        )


async def subject_access(
    session: AsyncSession, principal: Principal, nik: str, view: DetailView
) -> SubjectAccess:
    """Every referral of `nik`, open or ended, whole, with its history and every client
    the audit log shows it was disclosed to. Audited as `subjects.access`, naming them."""
    require_actor(principal)
    if len(nik) != NIK_DIGITS or not nik.isascii() or not nik.isdigit():
        raise validation_failed([FieldError("INVALID_NIK", "16 digits", pointer="/nik")])
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
    history = (
        (
            await session.execute(
                select(ReferralHistory)
                .where(ReferralHistory.referral_id.in_(ids))
                .order_by(ReferralHistory.id)
            )
        )
        .scalars()
        .all()
    )
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
                history=[HistoryEntry.of(h) for h in history if h.referral_id == referral.id],
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
