"""Consent withdrawal and per-referral keys for free text (SPEC §12).

- `referral_keys`: each referral's key for its free text, wrapped by the data key;
  erasure deletes it.
- `referral_texts`: free text that would otherwise sit in an append-only row (a
  transition's note), sealed under that key; erasure deletes the rows.
- `referral_history.note_id`: the history entry's note in `referral_texts`. Notes written
  before move there, marked plain (`p0.`), so that erasure can reach them; the history's
  append-only trigger is lifted for that one statement (`rujukan keys rotate` then seals
  them under their referral's key).
- `rectification_requests.detail`/`decline_reason` written before are marked plain (`p0.`).
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

import uuid

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
    for column in ("detail", "decline_reason"):
        op.execute(
            f"UPDATE rectification_requests SET {column} = 'p0.' || {column} "
            f"WHERE {column} IS NOT NULL"
        )
    _move_history_notes()


def _move_history_notes() -> None:
    """Every plain note of the history into `referral_texts`, the entry naming it."""
    bind = op.get_bind()
    notes = bind.execute(
        sa.text("SELECT id, referral_id, note FROM referral_history WHERE note IS NOT NULL")
        .columns(id=sa.BigInteger(), referral_id=sa.Uuid(), note=sa.Text())
    ).all()
    if not notes:
        return
    texts = sa.table(
        "referral_texts",
        sa.column("id", sa.Uuid()),
        sa.column("referral_id", sa.Uuid()),
        sa.column("sealed", sa.Text()),
    )
    rows = [
        {"id": uuid.uuid4(), "history_id": hid, "referral_id": rid, "sealed": "p0." + note}
        for hid, rid, note in notes
    ]
    op.bulk_insert(texts, [{k: r[k] for k in ("id", "referral_id", "sealed")} for r in rows])
    postgresql = bind.dialect.name == "postgresql"
    if postgresql:
        op.execute("ALTER TABLE referral_history DISABLE TRIGGER referral_history_append_only")
    else:
        op.execute("DROP TRIGGER referral_history_no_update")
    bind.execute(
        sa.text(
            "UPDATE referral_history SET note = NULL, note_id = :note_id WHERE id = :id"
        ).bindparams(sa.bindparam("note_id", type_=sa.Uuid())),
        [{"note_id": r["id"], "id": r["history_id"]} for r in rows],
    )
    if postgresql:
        op.execute("ALTER TABLE referral_history ENABLE TRIGGER referral_history_append_only")
    else:
        op.execute(
            "CREATE TRIGGER referral_history_no_update BEFORE UPDATE ON referral_history "
            "BEGIN SELECT RAISE(ABORT, 'referral_history is append-only'); END"
        )


def downgrade() -> None:
    """Refused once the new tables hold anything: dropping them would lose every
    transition note since, and leave every text sealed under a referral key unopenable."""
    bind = op.get_bind()
    for table in ("referral_keys", "referral_texts"):
        if bind.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:
            raise RuntimeError(
                f"{table} holds data: downgrading 0008_consent would lose it; restore a "
                "backup taken before the upgrade instead"
            )
    for column in ("detail", "decline_reason"):
        op.execute(
            f"UPDATE rectification_requests SET {column} = substr({column}, 4) "
            f"WHERE {column} LIKE 'p0.%'"
        )
    op.execute("UPDATE rectification_requests SET detail = '' WHERE detail IS NULL")  # erased
    with op.batch_alter_table("rectification_requests") as batch:
        batch.alter_column("detail", existing_type=sa.Text(), nullable=False)
    op.drop_index(op.f("ix_referral_texts_referral_id"), table_name="referral_texts")
    op.drop_table("referral_texts")
    op.drop_table("referral_keys")
    op.drop_column("referral_history", "note_id")
    op.drop_column("referrals", "consent_withdrawal_ref")
    op.drop_column("referrals", "consent_withdrawn_at")
