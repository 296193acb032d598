"""Every mapped table, imported in one place for Alembic and the test fixtures."""

from app.aftercare.models import (
    ReferralDurationBlock,
    ReferralDurationCount,
    ReferralDurationZone,
)
from app.audit.seals import AuditSeal
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
    ReferralKey,
    ReferralMoment,
    ReferralPasCategory,
    ReferralText,
)
from app.rehab.models import Appointment, Assessment, Note, Plan, Report, ServiceDelivered
from app.rights.models import RectificationRequest
from app.webhooks.models import (
    OutboxPruneState,
    RelayState,
    WebhookDelivery,
    WebhookSubscription,
)

__all__ = [
    "Appointment",
    "Assessment",
    "AuditEvent",
    "AuditSeal",
    "Base",
    "Client",
    "IntakeRecord",
    "Note",
    "OutboxEvent",
    "OutboxPruneState",
    "Plan",
    "RectificationRequest",
    "Referral",
    "ReferralDurationBlock",
    "ReferralDurationCount",
    "ReferralDurationZone",
    "ReferralFollowUp",
    "ReferralHistory",
    "ReferralKey",
    "ReferralMoment",
    "ReferralPasCategory",
    "ReferralText",
    "RelayState",
    "Report",
    "Sentra",
    "ServiceDelivered",
    "WebhookDelivery",
    "WebhookSubscription",
]
