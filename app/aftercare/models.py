"""The durations histogram (SPEC §11): kept by triggers on `referrals` (migration
0008_durations, where the bucket expressions are, and 0009_durations_pas, where the grains
are), read by app/aftercare/analytics.py; nothing in the service writes it.

Every count exists at four grains with PAS category `'*'`: per sentra (`''`: none) and
province; per sentra with province `'*'`; per province with sentra `'*'`; and in all
(`'*'`, `'*'`); and per PAS category (a referral counts in each of its categories) at the
last three (never per sentra, province and category at once). A count can fall to 0 (a
referral moved to another sentra): such rows stay and are not read.
"""

from __future__ import annotations

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base

ALL = "*"
# Buckets per block, and the shift that keeps `(bucket + SHIFT) / BLOCK` a floor division.
BLOCK = 16
SHIFT = 1048576


def block_of(bucket: int) -> int:
    return (bucket + SHIFT) // BLOCK


class ReferralDurationCount(Base):
    """How many referrals took `step` in `bucket` tenths of a day (in `block`)."""

    __tablename__ = "referral_duration_counts"

    sentra_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    province_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    pas_category: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(32), primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class ReferralDurationBlock(Base):
    """How many referrals took `step` in the BLOCK buckets of `block`: the reader finds the
    blocks that hold the percentiles here, and reads only their buckets."""

    __tablename__ = "referral_duration_blocks"
    # A grouping by sentra reads the blocks of province '*' and category '*' in (sentra,
    # step, block) order.
    __table_args__ = (
        Index(
            "ix_referral_duration_blocks_by_province",
            "province_code",
            "pas_category",
            "sentra_code",
            "step",
            "block",
        ),
    )

    sentra_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    province_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    pas_category: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(32), primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class ReferralDurationZone(Base):
    """The zone whose local midnight `handover_in_service` counts from (RUJUKAN_TIMEZONE
    when the histogram was built): a service in another zone answers from the scan."""

    __tablename__ = "referral_duration_zone"

    zone: Mapped[str] = mapped_column(String(64), primary_key=True)
