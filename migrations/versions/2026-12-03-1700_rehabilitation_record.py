"""The rehabilitation record (SPEC §10): assessments, plans, appointments, services
delivered, notes and end-of-service reports; `outbox_events.audience` (an event about a
note meant for Kemensos reaches only those who may read it).

Free text is stored encrypted (`texts`, `body`): see app/rehab/models.py.

Revision ID: 0007_rehab
Revises: 0006_rectification
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_rehab"
down_revision: str | None = "0006_rectification"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_AT = sa.DateTime(timezone=True)


def _owner(table: str) -> list[Any]:
    """The referral and the client of a record, and who acted."""
    return [
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f(f"fk_{table}_referral_id_referrals")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f(f"fk_{table}_client_id_clients")
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "referral_assessments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", _AT, nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("needs", _JSON, nullable=False),
        sa.Column("identity_documents", _JSON, nullable=False),
        sa.Column("texts", sa.Text(), nullable=True),
        *_owner("referral_assessments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_assessments")),
    )
    op.create_index(
        "ix_referral_assessments_referral_id_recorded_at",
        "referral_assessments",
        ["referral_id", "recorded_at"],
    )
    op.create_table(
        "referral_plans",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("goals", _JSON, nullable=False),
        sa.Column("texts", sa.Text(), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_referral_plans_referral_id_referrals")
        ),
        sa.PrimaryKeyConstraint("referral_id", name=op.f("pk_referral_plans")),
    )
    op.create_table(
        "referral_appointments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", _AT, nullable=False),
        sa.Column("starts_at", _AT, nullable=False),
        sa.Column("location_kind", sa.String(16), nullable=False),
        sa.Column("attendance", sa.String(16), nullable=True),
        sa.Column("attendance_recorded_at", _AT, nullable=True),
        sa.Column("texts", sa.Text(), nullable=True),
        *_owner("referral_appointments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_appointments")),
    )
    op.create_index(
        "ix_referral_appointments_referral_id_starts_at",
        "referral_appointments",
        ["referral_id", "starts_at"],
    )
    op.create_index(
        "ix_referral_appointments_referral_id_recorded_at",
        "referral_appointments",
        ["referral_id", "recorded_at"],
    )
    op.create_table(
        "referral_services",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", _AT, nullable=False),
        sa.Column("component", sa.String(32), nullable=False),
        sa.Column("delivered_on", sa.Date(), nullable=False),
        sa.Column("goal_id", sa.Uuid(), nullable=True),
        sa.Column("texts", sa.Text(), nullable=True),
        *_owner("referral_services"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_services")),
    )
    op.create_index(
        "ix_referral_services_referral_id_recorded_at",
        "referral_services",
        ["referral_id", "recorded_at"],
    )
    op.create_table(
        "referral_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", _AT, nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        *_owner("referral_notes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_notes")),
    )
    op.create_index("ix_referral_notes_referral_id_at", "referral_notes", ["referral_id", "at"])
    op.create_table(
        "referral_reports",
        sa.Column("published_at", _AT, nullable=False),
        sa.Column("results", _JSON, nullable=False),
        sa.Column("texts", sa.Text(), nullable=True),
        *_owner("referral_reports"),
        sa.PrimaryKeyConstraint("referral_id", name=op.f("pk_referral_reports")),
    )
    op.add_column("outbox_events", sa.Column("audience", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_events") as batch:
        batch.drop_column("audience")
    for table in (
        "referral_reports",
        "referral_notes",
        "referral_services",
        "referral_appointments",
        "referral_plans",
        "referral_assessments",
    ):
        op.drop_table(table)
