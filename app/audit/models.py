from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, BigIntPK, UTCDateTime


class AuditEvent(Base):
    """Append-only proof of who did or read what (UU 27/2022: processing must be provable)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "referral_id", "id"),
        Index(None, "client_id", "id"),
        Index(None, "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_id: Mapped[uuid.UUID | None] = mapped_column()
    actor: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(48))
    referral_id: Mapped[uuid.UUID | None] = mapped_column()
    # What else the action was about: a client, a subscription, a sentra (never a person).
    target_id: Mapped[uuid.UUID | None] = mapped_column()
    request_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32))
