"""Rectification requests (SPEC §12): a correction asked of the source, the prison."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, JSONType, UTCDateTime


class RectificationRequest(Base):
    """Fields of a referral's case data someone asked the prison to correct. Resolved when
    every named field has changed through applied events since; or declined by the prison
    (its data is right)."""

    __tablename__ = "rectification_requests"
    __table_args__ = (Index(None, "referral_id", "requested_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    fields: Mapped[list[str]] = mapped_column(JSONType)
    # The named fields no applied event has changed yet; empty once resolved.
    pending: Mapped[list[str]] = mapped_column(JSONType)
    # Sealed under the referral's key (app/referrals/keys.py); null once erased.
    detail: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[uuid.UUID] = mapped_column()
    actor: Mapped[str | None] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declined_by: Mapped[uuid.UUID | None] = mapped_column()
    decline_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def status(self) -> str:
        if self.resolved_at is not None:
            return "resolved"
        if self.declined_at is not None:
            return "declined"
        return "open"
