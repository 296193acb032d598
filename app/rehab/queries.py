"""Statements of the rehabilitation record that other areas build on (the referral detail
reads the record's fields with the referral: app/referrals/store.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.rehab.domain import Attendance
from app.rehab.models import Appointment, Assessment


def record_subqueries(rid: Any, now: Any) -> tuple[Any, Any]:
    """The id of the latest assessment of `rid` and of its next appointment as of `now`
    (bound parameters), each picked by a subquery on its (referral_id, time) index."""
    latest = (
        select(Assessment.id)
        .where(Assessment.referral_id == rid)
        .order_by(Assessment.recorded_at.desc(), Assessment.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    upcoming = (
        select(Appointment.id)
        .where(
            Appointment.referral_id == rid,
            Appointment.starts_at > now,
            func.coalesce(Appointment.attendance, "") != Attendance.cancelled.value,
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(1)
        .scalar_subquery()
    )
    return latest, upcoming
