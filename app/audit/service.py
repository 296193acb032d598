"""Audit rows, written in the caller's transaction: if the row fails, the request fails."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.auth.principal import Principal
from app.context import request_id_var


def record(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    outcome: str,
    *,
    referral_id: uuid.UUID | None = None,
) -> None:
    session.add(
        AuditEvent(
            at=datetime.now(UTC),
            client_id=principal.client_id if principal else None,
            actor=principal.actor if principal else None,
            action=action,
            referral_id=referral_id,
            request_id=request_id_var.get(),
            outcome=outcome,
        )
    )
