"""Rectification requests (SPEC §12).

- `rectification_requests`: the fields asked to be corrected at the source, those still
  pending, and how the request ended (resolved by applied events, or declined).
- `referrals.open_rectifications`: how many are open, so that intake compares an event's
  changes with the named fields only for referrals that have one.

Revision ID: 0006_rectification
Revises: 0005_audit_seals
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_rectification"
down_revision: str | None = "0005_audit_seals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column(
        "referrals",
        sa.Column("open_rectifications", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "rectification_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("pending", _JSON, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined_by", sa.Uuid(), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_rectification_requests_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification_requests")),
    )
    op.create_index(
        op.f("ix_rectification_requests_referral_id_requested_at"),
        "rectification_requests",
        ["referral_id", "requested_at"],
    )


def downgrade() -> None:
    op.drop_table("rectification_requests")
    op.drop_column("referrals", "open_rectifications")
