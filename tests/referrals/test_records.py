"""Stored forms of a case (app/referrals/records.py)."""

from __future__ import annotations

from sqlalchemy import String

from app.referrals.models import Referral
from app.referrals.records import NAME_SEARCH_MAX, normalise_name


def test_the_name_search_cap_is_the_column_length() -> None:
    column = Referral.__table__.c.name_search.type
    assert isinstance(column, String) and column.length == NAME_SEARCH_MAX


def test_decomposition_can_outgrow_the_name() -> None:
    """Why the cap exists: 200 characters may normalise to thousands."""
    assert len(normalise_name("\ufdfa" * 200)) > NAME_SEARCH_MAX
