from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, JSONType, UTCDateTime


class Client(Base):
    """A calling system (a prison's SDP, the Kemensos portal, a sentra, an auditor)."""

    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint(
            "role IN ('prison','kemensos','sentra','bapas','auditor','admin')", name="role_known"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    facility_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    sentra_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    bapas_codes: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default="[]")
    # SHA-256 of the API key: keys are 256-bit random, so a fast hash is enough (no
    # dictionary to attack) and keeps per-request authentication to one indexed lookup.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    previous_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_key_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
