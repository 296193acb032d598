"""Every mapped table, imported in one place for Alembic and the test fixtures."""

from app.auth.models import Client
from app.core.audit import AuditEvent
from app.core.db import Base
from app.intake.models import IntakeRecord
from app.reference.models import Sentra
from app.referrals.models import (
    OutboxEvent,
    Referral,
    ReferralFollowUp,
    ReferralHistory,
    ReferralMoment,
    ReferralPasCategory,
)
from app.webhooks.models import RelayState, WebhookDelivery, WebhookSubscription

__all__ = [
    "AuditEvent",
    "Base",
    "Client",
    "IntakeRecord",
    "OutboxEvent",
    "Referral",
    "ReferralFollowUp",
    "ReferralHistory",
    "ReferralMoment",
    "ReferralPasCategory",
    "RelayState",
    "Sentra",
    "WebhookDelivery",
    "WebhookSubscription",
]
