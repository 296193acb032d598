"""Audit rows, written in the caller's transaction: if the row fails, the request fails."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.auth.principal import Principal
from app.context import AppServices
from app.core.context import request_id_var
from app.core.cursor import CursorCodec

log = logging.getLogger("rujukan.audit")


def row(
    principal: Principal | None,
    action: str,
    outcome: str,
    *,
    referral_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """An audit row's column values, for writers that insert many at once. `request_id`
    defaults to the current request's (a row written for another request names its own)."""
    return {
        "at": datetime.now(UTC),
        "client_id": principal.client_id if principal else None,
        "actor": principal.actor if principal else None,
        "action": action,
        "referral_id": referral_id,
        "target_id": target_id,
        "request_id": request_id or request_id_var.get(),
        "outcome": outcome,
    }


def record(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    outcome: str,
    *,
    referral_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
) -> None:
    session.add(
        AuditEvent(**row(principal, action, outcome, referral_id=referral_id, target_id=target_id))
    )


async def record_apart(
    services: AppServices,
    principal: Principal | None,
    action: str,
    outcome: str,
    *,
    referral_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
) -> bool:
    """An audit row in a transaction of its own, for a request whose own transaction was
    rolled back (a refused transition). Best effort: a failure is logged, never raised, so
    the caller's answer stays what it was. True when the row was written."""
    return await record_rows_apart(
        services, [row(principal, action, outcome, referral_id=referral_id, target_id=target_id)]
    )


async def record_rows_apart(services: AppServices, rows: list[dict[str, Any]]) -> bool:
    """`record_apart` for many rows (`row()`'s), in one statement."""
    if not rows:
        return True
    try:
        async with services.db.transaction() as session:
            await session.execute(cast(Table, AuditEvent.__table__).insert(), rows)
    except Exception as exc:
        # The error's type only: a database error's text can carry the row's values.
        log.warning(
            "audit rows not written: %s %s (%s)",
            rows[0]["action"],
            rows[0]["outcome"],
            type(exc).__name__,
        )
        return False
    return True


@dataclass(frozen=True, slots=True)
class AuditQuery:
    referral_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    action: str | None = None
    from_: datetime | None = None
    to: datetime | None = None


async def search(
    services: AppServices, query: AuditQuery, *, cursor: str | None, limit: int
) -> tuple[list[AuditEvent], str | None]:
    codec = CursorCodec(*services.cipher.cursor_keys)
    scope = "audit:" + json.dumps(
        [
            str(query.referral_id),
            str(query.client_id),
            query.action,
            str(query.from_),
            str(query.to),
        ]
    )
    after = int(codec.decode(scope, cursor)) if cursor else 0
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
    async with services.db.read_session() as session:
        rows = list(
            (await session.execute(stmt.order_by(AuditEvent.id).limit(limit + 1))).scalars()
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, codec.encode(scope, rows[-1].id) if more else None
