"""Every mapped table, imported in one place for Alembic and the test fixtures."""

from app.auth.models import Client
from app.core.audit import AuditEvent
from app.core.db import Base
from app.intake.models import IntakeRecord
from app.reference.models import Sentra
from app.referrals.models import OutboxEvent, Referral, ReferralHistory, ReferralPasCategory
from app.rehab.models import Appointment, Assessment, Note, Plan, Report, ServiceDelivered
from app.webhooks.models import RelayState, WebhookDelivery, WebhookSubscription

__all__ = [
    "Appointment",
    "Assessment",
    "AuditEvent",
    "Base",
    "Client",
    "IntakeRecord",
    "Note",
    "OutboxEvent",
    "Plan",
    "Referral",
    "ReferralHistory",
    "ReferralPasCategory",
    "RelayState",
    "Report",
    "Sentra",
    "ServiceDelivered",
    "WebhookDelivery",
    "WebhookSubscription",
]
