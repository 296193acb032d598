"""What every committed change of a referral writes beside it: history and outbox rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.referrals.models import Referral, ReferralHistory
from app.webhooks.models import OutboxEvent


def add_history(
    session: AsyncSession,
    referral: Referral,
    principal: Principal,
    at: datetime,
    *,
    from_status: str | None,
    action: str | None = None,
    event_type: str | None = None,
    event_id: str | None = None,
    event_outcome: str | None = None,
    reason_code: str | None = None,
    outcome: str | None = None,
    note: str | None = None,
    changed_fields: list[str] | None = None,
) -> None:
    session.add(
        ReferralHistory(
            referral_id=referral.id,
            at=at,
            action=action,
            event_type=event_type,
            event_id=event_id,
            event_outcome=event_outcome,
            from_status=from_status,
            to_status=referral.status,
            custody_status=referral.custody_status,
            client_id=principal.client_id,
            actor=principal.actor,
            reason_code=reason_code,
            outcome=outcome,
            note=note,
            sentra_code=referral.sentra_code,
            changed_fields=changed_fields or [],
        )
    )


def add_outbox(
    session: AsyncSession,
    referral: Referral,
    event_type: str,
    at: datetime,
    *,
    previous_status: str | None,
) -> None:
    """A thin CloudEvent payload: ids and statuses only, never personal data."""
    data: dict[str, Any] = {
        "referral_id": str(referral.id),
        "status": referral.status,
        "previous_status": previous_status,
        "custody_status": referral.custody_status,
        "version": referral.version,
        "occurred_at": at.isoformat(),
    }
    session.add(
        OutboxEvent(
            type=event_type,
            referral_id=referral.id,
            facility_code=referral.facility_code,
            sentra_code=referral.sentra_code,
            data=data,
            occurred_at=at,
        )
    )
