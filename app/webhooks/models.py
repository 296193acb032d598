from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigIntPK, JSONType, UTCDateTime, utcnow


class OutboxEvent(Base):
    """A referral change, written in the same transaction as the change (transactional outbox).

    `data` is thin (ids and statuses, no personal data); facility and sentra codes are
    kept so that the feed and the relay can apply each subscriber's visibility.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (Index(None, "referral_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(40))
    referral_id: Mapped[uuid.UUID] = mapped_column()
    facility_code: Mapped[str] = mapped_column(String(32))
    sentra_code: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
