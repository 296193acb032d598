"""Reading the audit log (auditor, admin): rows by referral, client, action and time."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.seals import AuditSeal
from app.core.audit import AuditEvent
from app.core.cursor import CursorCodec


@dataclass(frozen=True, slots=True)
class AuditQuery:
    referral_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    action: str | None = None
    from_: datetime | None = None
    to: datetime | None = None


async def search(
    session: AsyncSession,
    codec: CursorCodec,
    query: AuditQuery,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[AuditEvent], str | None]:
    scope = "audit:" + json.dumps(
        [
            str(query.referral_id),
            str(query.client_id),
            query.action,
            str(query.from_),
            str(query.to),
        ]
    )
    after = codec.decode(scope, cursor, read=int) if cursor else 0
    stmt = select(AuditEvent).where(AuditEvent.id > after)
    if query.referral_id is not None:
        stmt = stmt.where(AuditEvent.referral_id == query.referral_id)
    if query.client_id is not None:
        stmt = stmt.where(AuditEvent.client_id == query.client_id)
    if query.action is not None:
        stmt = stmt.where(AuditEvent.action == query.action)
    if query.from_ is not None:
        stmt = stmt.where(AuditEvent.at >= query.from_)
    if query.to is not None:
        stmt = stmt.where(AuditEvent.at < query.to)
    rows = list((await session.execute(stmt.order_by(AuditEvent.id).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, codec.encode(scope, rows[-1].id) if more else None


async def seals(
    session: AsyncSession, codec: CursorCodec, *, cursor: str | None, limit: int
) -> tuple[list[AuditSeal], str | None]:
    """Seals in order, without their entries (the verifier reads those)."""
    after = codec.decode("audit-seals", cursor, read=int) if cursor else 0
    rows = list(
        (
            await session.execute(
                select(AuditSeal)
                .where(AuditSeal.seq > after)
                .order_by(AuditSeal.seq)
                .limit(limit + 1)
            )
        ).scalars()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, codec.encode("audit-seals", rows[-1].seq) if more else None
