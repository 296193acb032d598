"""The rehabilitation record's tables (SPEC §10).

Structured fields are columns (what rules, lists and the report read); every free text
about the person (need notes, summaries, goal and service descriptions, locations,
purposes, note bodies) is kept only encrypted under the data key, in `texts` (a JSON
object) or `body` (a note), so that retention and a consent withdrawal erase it by
clearing one column (app/rehab/texts.py).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, JSONType, UTCDateTime


class Assessment(Base):
    __tablename__ = "referral_assessments"
    __table_args__ = (Index(None, "referral_id", "recorded_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assessed_on: Mapped[date] = mapped_column(Date)
    # [{component, level}]; each need's note is in `texts`.
    needs: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    identity_documents: Mapped[dict[str, str]] = mapped_column(JSONType)
    texts: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    actor: Mapped[str | None] = mapped_column(String(128))


class Plan(Base):
    """One per referral; the goals live in the row, so the plan is one read."""

    __tablename__ = "referral_plans"

    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"), primary_key=True)
    # The plan's own ETag (SPEC §4: plan changes do not change the referral's version).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # [{id, component, due_on}]; each goal's description is in `texts`.
    goals: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    texts: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Appointment(Base):
    __tablename__ = "referral_appointments"
    __table_args__ = (
        Index(None, "referral_id", "starts_at"),
        Index(None, "referral_id", "recorded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    location_kind: Mapped[str] = mapped_column(String(16))
    attendance: Mapped[str | None] = mapped_column(String(16))
    attendance_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # location detail, purpose, attendance note
    texts: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    actor: Mapped[str | None] = mapped_column(String(128))


class ServiceDelivered(Base):
    __tablename__ = "referral_services"
    __table_args__ = (Index(None, "referral_id", "recorded_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    component: Mapped[str] = mapped_column(String(32))
    delivered_on: Mapped[date] = mapped_column(Date)
    # Kept when the goal leaves the plan (SPEC §10).
    goal_id: Mapped[uuid.UUID | None] = mapped_column()
    texts: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    actor: Mapped[str | None] = mapped_column(String(128))


class Note(Base):
    __tablename__ = "referral_notes"
    __table_args__ = (Index(None, "referral_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    audience: Mapped[str] = mapped_column(String(16))
    # Encrypted; null once erased (retention, consent withdrawal).
    body: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    actor: Mapped[str | None] = mapped_column(String(128))


class Report(Base):
    """What the close said (SPEC §10); `/report` assembles it with the plan and the services."""

    __tablename__ = "referral_reports"

    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"), primary_key=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # {goal_id: result}
    results: Mapped[dict[str, str]] = mapped_column(JSONType)
    texts: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    actor: Mapped[str | None] = mapped_column(String(128))
