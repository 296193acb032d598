from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, BigIntPK, JSONType, UTCDateTime


class SubscriptionStatus(StrEnum):
    """Where a subscription stands. A deleted one is kept (its delivery log, the audit
    trail) but is gone for its client: not listed, a 404."""

    active = "active"
    disabled = "disabled"  # a 410, or the retry window spent: `disabled_reason`
    deleted = "deleted"


class DeliveryStatus(StrEnum):
    """Where a delivery stands; only `pending` ones are ever attempted."""

    pending = "pending"
    delivered = "delivered"
    failed = "failed"
    cancelled = "cancelled"


def _status_in(values: type[StrEnum]) -> str:
    """The CHECK constraint text: `status IN ('a','b')`."""
    return "status IN (" + ",".join(f"'{value}'" for value in values) + ")"


_DUE = text(f"status = '{DeliveryStatus.pending}'")  # the partial index of due deliveries


class WebhookSubscription(Base):
    """A client's webhook endpoint. Secrets are stored encrypted (they sign, so they must be
    recoverable); the previous secret keeps signing until `previous_secret_expires_at`."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        Index(None, "client_id", "created_at"),
        CheckConstraint(_status_in(SubscriptionStatus), name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(500))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=SubscriptionStatus.active)
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When it last became active (an `enable`); null: since `created_at`. Events committed
    # before it are not delivered (what happened meanwhile is in the feed).
    enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def active_since(self) -> datetime:
        return self.enabled_at or self.created_at


class WebhookDelivery(Base):
    """One outbox event for one subscription, and where its delivery stands.

    A worker claims a due row by moving `next_attempt_at` a lease ahead and stamping
    `lease_token`; it records the outcome only while the token is still its own. A worker
    that dies mid-attempt leaves the row due again when the lease runs out.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "outbox_event_id"),
        Index(None, "subscription_id", "created_at", "id"),
        # Pruning asks which deliveries an outbox row still has (and the foreign key's
        # check on deleting an outbox row would otherwise scan the table).
        Index(None, "outbox_event_id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=_DUE,
            sqlite_where=_DUE,
        ),
        CheckConstraint(_status_in(DeliveryStatus), name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    outbox_event_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("outbox_events.id"))
    webhook_id: Mapped[uuid.UUID] = mapped_column()  # the CloudEvent id, stable across attempts
    event_type: Mapped[str] = mapped_column(String(40))
    referral_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Start of the retry window (creation, or the last manual redelivery).
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_token: Mapped[uuid.UUID | None] = mapped_column()
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    # A fixed vocabulary (`timeout`, `connect_error`, `http_status`, …): never a message
    # from the network, which could echo anything.
    last_error: Mapped[str | None] = mapped_column(String(32))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RelayState(Base):
    """Where the relay's fan-out stands in the outbox, as a `(txid, id)` position.

    One row; the worker that fans out holds its lock, so an event is fanned out once.
    """

    __tablename__ = "webhook_relay_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    outbox_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxPruneState(Base):
    """How far pruning has gone: the furthest `(txid, id)` position pruned, and a count of
    the batches that pruned anything (`generation`), which feed cursors carry: a cursor
    before that position whose generation has changed since is expired (410
    `CURSOR_EXPIRED`). One row."""

    __tablename__ = "outbox_prune_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    outbox_id: Mapped[int] = mapped_column(BigInteger, default=0)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
