"""Consent withdrawal and per-referral keys for free text (SPEC §12).

- `referral_keys`: each referral's key for its free text, wrapped by the data key;
  erasure deletes it.
- `referral_texts`: free text that would otherwise sit in an append-only row (a
  transition's note), sealed under that key; erasure deletes the rows.
- `referral_history.note_id`: the history entry's note in `referral_texts` (entries
  written before keep their plain `note`).
- `referrals.consent_withdrawn_at`, `consent_withdrawal_ref`: the withdrawal, after which
  events are recorded but not applied.
- `rectification_requests.detail` may be null: erased with the person's other free text.
- `referral_history.event_outcome` and `intake_records.outcome` widened to 32 characters
  for `consent_withdrawn` (on PostgreSQL: SQLite does not enforce lengths, and rebuilding
  the append-only history table there would drop its triggers).

Revision ID: 0008_consent
Revises: 0007_rehab
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_consent"
down_revision: str | None = "0007_rehab"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "referrals", sa.Column("consent_withdrawn_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "referrals", sa.Column("consent_withdrawal_ref", sa.String(length=128), nullable=True)
    )
    op.add_column("referral_history", sa.Column("note_id", sa.Uuid(), nullable=True))
    op.create_table(
        "referral_keys",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_keys_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("referral_id", name=op.f("pk_referral_keys")),
    )
    op.create_table(
        "referral_texts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_texts_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_texts")),
    )
    op.create_index(op.f("ix_referral_texts_referral_id"), "referral_texts", ["referral_id"])
    with op.batch_alter_table("rectification_requests") as batch:
        batch.alter_column("detail", existing_type=sa.Text(), nullable=True)
    if op.get_bind().dialect.name == "postgresql":
        for table, column in (("referral_history", "event_outcome"), ("intake_records", "outcome")):
            op.alter_column(
                table, column, type_=sa.String(length=32), existing_type=sa.String(length=16)
            )


def downgrade() -> None:
    with op.batch_alter_table("rectification_requests") as batch:
        batch.alter_column("detail", existing_type=sa.Text(), nullable=False)
    op.drop_index(op.f("ix_referral_texts_referral_id"), table_name="referral_texts")
    op.drop_table("referral_texts")
    op.drop_table("referral_keys")
    op.drop_column("referral_history", "note_id")
    op.drop_column("referrals", "consent_withdrawal_ref")
    op.drop_column("referrals", "consent_withdrawn_at")
