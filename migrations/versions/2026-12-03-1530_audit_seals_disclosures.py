"""Audit seals and disclosure records (SPEC §8).

- `audit_events.txid`: the writing transaction's id on PostgreSQL (`pg_current_xact_id()`),
  0 on SQLite and for the rows already stored; rows are sealed in `(txid, id)` order below
  the commit horizon (app/audit/seals.py), hence the index.
- `audit_events.disclosed`: the referral ids a list page or an export batch disclosed,
  16 bytes each.
- `audit_seals`: the signed, chained seals; append-only like the log itself.

Adding the columns rewrites no row (a constant default), so the append-only triggers of
`audit_events` are not involved.

Revision ID: 0005_audit_seals
Revises: 0004_closed_loop
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_audit_seals"
down_revision: str | None = "0004_closed_loop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "audit_events", sa.Column("txid", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column("audit_events", sa.Column("disclosed", sa.LargeBinary(), nullable=True))
    if postgres:
        op.execute(
            "ALTER TABLE audit_events ALTER COLUMN txid "
            "SET DEFAULT (pg_current_xact_id()::text::bigint)"
        )
        # Random ids do not compress: store them out of line without trying.
        op.execute("ALTER TABLE audit_events ALTER COLUMN disclosed SET STORAGE EXTERNAL")
    op.create_index("ix_audit_events_txid_id", "audit_events", ["txid", "id"])
    op.create_table(
        "audit_seals",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_txid", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("entries", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=88), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_seals")),
    )
    if postgres:
        # rujukan_append_only() is 0001's.
        op.execute(
            "CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON audit_seals "
            "FOR EACH ROW EXECUTE FUNCTION rujukan_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals "
            "FOR EACH STATEMENT EXECUTE FUNCTION rujukan_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_seals_no_{verb.lower()} BEFORE {verb} ON audit_seals "
                "BEGIN SELECT RAISE(ABORT, 'audit_seals is append-only'); END"
            )


def downgrade() -> None:
    op.drop_table("audit_seals")
    op.drop_index("ix_audit_events_txid_id", table_name="audit_events")
    op.drop_column("audit_events", "disclosed")
    op.drop_column("audit_events", "txid")
