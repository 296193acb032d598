"""The closed loop for every party (SPEC §7 of this revision).

- `webhook_subscriptions.enabled_at`: a re-enabled subscription receives the events
  committed after it was enabled.
- An index on `webhook_deliveries.outbox_event_id` (pruning, and the foreign key's check
  when an outbox row is deleted) and `outbox_prune_state` (how far pruning has gone: older
  feed cursors are expired).
- PostgreSQL: a statement-level trigger on `outbox_events` that sends `NOTIFY
  rujukan_outbox` in the transaction that inserts the rows, so every writer wakes the relay
  when (and only if) it commits.

Revision ID: 0004_closed_loop
Revises: 0004_aftercare
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_closed_loop"
down_revision: str | None = "0004_aftercare"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION rujukan_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Delivered at commit, once per transaction (identical notifications are folded).
    PERFORM pg_notify('rujukan_outbox', '');
    RETURN NULL;
END;
$$
"""
_NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
FOR EACH STATEMENT EXECUTE FUNCTION rujukan_outbox_notify()
"""


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        op.f("ix_webhook_deliveries_outbox_event_id"), "webhook_deliveries", ["outbox_event_id"]
    )
    op.create_table(
        "outbox_prune_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_prune_state")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_NOTIFY_FUNCTION)
        op.execute(_NOTIFY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS outbox_events_notify ON outbox_events")
        op.execute("DROP FUNCTION IF EXISTS rujukan_outbox_notify()")
    op.drop_table("outbox_prune_state")
    op.drop_index(op.f("ix_webhook_deliveries_outbox_event_id"), table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("enabled_at")
