"""Release groups, the Bapas, PPKS types, recorded consent (SPEC §2-§5 of this revision).

- `clients.bapas_codes` and the `bapas` role.
- `referrals.bapas_code` (the supervising Bapas: visibility, filter, group),
  `supervision_ended`, `ppks_mask` (PPKS-26 types as bits), `closed_at`; the outbox
  carries `bapas_code` for the feed's and the relay's visibility.
- Stored referrals keep their data: `bapas_code` is read from their case data, and those
  whose consent (basis `consent`) has no evidence reference carry the flag
  `LEGACY_CONSENT` (SPEC §3). Old free-text `disability_types` stay as they were.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_ROLES = "role IN ('prison','kemensos','sentra','auditor','admin')"
_NEW_ROLES = "role IN ('prison','kemensos','sentra','bapas','auditor','admin')"


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column(
                "bapas_codes",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                server_default="[]",
                nullable=False,
            )
        )
        batch.drop_constraint(op.f("ck_clients_role_known"), type_="check")
        batch.create_check_constraint(op.f("ck_clients_role_known"), _NEW_ROLES)
    with op.batch_alter_table("referrals") as batch:
        batch.add_column(sa.Column("bapas_code", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("supervision_ended", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("ppks_mask", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_referrals_bapas_code_created_at_id", "referrals", ["bapas_code", "created_at", "id"]
    )
    op.add_column("outbox_events", sa.Column("bapas_code", sa.String(32), nullable=True))
    op.create_index(
        "ix_outbox_events_bapas_code_txid_id", "outbox_events", ["bapas_code", "txid", "id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE referrals SET bapas_code = case_data->'release'->>'bapas_code' "
            "WHERE case_data->'release'->>'bapas_code' IS NOT NULL"
        )
        op.execute(
            "UPDATE referrals SET data_quality_flags = data_quality_flags || "
            "'[\"LEGACY_CONSENT\"]'::jsonb "
            "WHERE case_data->'consent'->>'basis' = 'consent' "
            "AND case_data->'consent'->>'evidence_ref' IS NULL"
        )
        op.execute("UPDATE referrals SET closed_at = updated_at WHERE status = 'closed'")
    else:
        op.execute(
            "UPDATE referrals SET bapas_code = json_extract(case_data, '$.release.bapas_code') "
            "WHERE json_extract(case_data, '$.release.bapas_code') IS NOT NULL"
        )
        op.execute(
            "UPDATE referrals SET data_quality_flags = json_insert(data_quality_flags, "
            "'$[#]', 'LEGACY_CONSENT') "
            "WHERE json_extract(case_data, '$.consent.basis') = 'consent' "
            "AND json_extract(case_data, '$.consent.evidence_ref') IS NULL"
        )
        op.execute("UPDATE referrals SET closed_at = updated_at WHERE status = 'closed'")


def downgrade() -> None:
    op.drop_index("ix_outbox_events_bapas_code_txid_id", table_name="outbox_events")
    op.drop_column("outbox_events", "bapas_code")
    op.drop_index("ix_referrals_bapas_code_created_at_id", table_name="referrals")
    with op.batch_alter_table("referrals") as batch:
        batch.drop_column("closed_at")
        batch.drop_column("ppks_mask")
        batch.drop_column("supervision_ended")
        batch.drop_column("bapas_code")
    with op.batch_alter_table("clients") as batch:
        batch.drop_constraint(op.f("ck_clients_role_known"), type_="check")
        batch.create_check_constraint(op.f("ck_clients_role_known"), _OLD_ROLES)
        batch.drop_column("bapas_codes")
