"""What every committed change of a referral writes beside it: history and outbox rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.referrals.models import Referral, ReferralHistory
from app.referrals.records import ReferralRow
from app.webhooks.models import OutboxEvent


def history_row(
    referral: ReferralRow,
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
) -> dict[str, Any]:
    """The history entry of a change, as column values: the referral as it is now."""
    return {
        "referral_id": referral.id,
        "at": at,
        "action": action,
        "event_type": event_type,
        "event_id": event_id,
        "event_outcome": event_outcome,
        "from_status": from_status,
        "to_status": referral.status,
        "custody_status": referral.custody_status,
        "client_id": principal.client_id,
        "actor": principal.actor,
        "reason_code": reason_code,
        "outcome": outcome,
        "note": note,
        "sentra_code": referral.sentra_code,
        "changed_fields": changed_fields or [],
    }


def add_history(
    session: AsyncSession,
    referral: Referral,
    principal: Principal,
    at: datetime,
    *,
    from_status: str | None,
    action: str | None = None,
    reason_code: str | None = None,
    outcome: str | None = None,
    note: str | None = None,
) -> None:
    """The history entry of a transition."""
    session.add(
        ReferralHistory(
            **history_row(
                referral,
                principal,
                at,
                from_status=from_status,
                action=action,
                reason_code=reason_code,
                outcome=outcome,
                note=note,
            )
        )
    )


def outbox_row(
    referral: ReferralRow, event_type: str, at: datetime, *, previous_status: str | None
) -> dict[str, Any]:
    """An outbox row's column values (`txid` is the database's): a thin CloudEvent payload,
    ids and statuses only, never personal data."""
    data: dict[str, Any] = {
        "referral_id": str(referral.id),
        "status": referral.status,
        "previous_status": previous_status,
        "custody_status": referral.custody_status,
        "version": referral.version,
        "occurred_at": at.isoformat(),
    }
    return {
        "event_id": uuid.uuid4(),
        "type": event_type,
        "referral_id": referral.id,
        "facility_code": referral.facility_code,
        "sentra_code": referral.sentra_code,
        "data": data,
        "occurred_at": at,
    }


def add_outbox(
    session: AsyncSession,
    referral: Referral,
    event_type: str,
    at: datetime,
    *,
    previous_status: str | None,
) -> None:
    session.add(
        OutboxEvent(**outbox_row(referral, event_type, at, previous_status=previous_status))
    )
