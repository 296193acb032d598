"""The durations histogram (SPEC §11): kept by triggers on `referrals` (migration
0008_durations), read by app/aftercare/analytics.py; nothing in the service writes it."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class ReferralDurationCount(Base):
    """How many referrals took `step` in `bucket` tenths of a day, per sentra (`''`: none)
    and province, as their rows are now. A count can fall to 0 (a referral moved to
    another sentra): such rows stay and are not read."""

    __tablename__ = "referral_duration_counts"

    step: Mapped[str] = mapped_column(String(32), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    sentra_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    province_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class ReferralDurationZone(Base):
    """The zone whose local midnight `handover_in_service` counts from (RUJUKAN_TIMEZONE
    when the histogram was built): a service in another zone answers from the scan."""

    __tablename__ = "referral_duration_zone"

    zone: Mapped[str] = mapped_column(String(64), primary_key=True)
