"""Aftercare and time (SPEC §7 moments, §11).

- `referrals`: when each state was first entered (`accepted_at`, `assigned_at`,
  `in_service_at`; `closed_at` exists), `last_activity_at`, the moment scheduler's
  `next_moment_at` (partial index: its queue), `moments_from`, `next_follow_up_due`,
  `follow_ups_done`; indexes for the forecast and the durations.
- `referral_follow_ups`, `referral_moments` (one row per fired moment: the unique key is
  what makes a moment fire once).
- Stored referrals: the first-entry times and the last activity from their history;
  `moments_from` now, so that no moment already past fires for them (as for an import);
  those that can still have a moment queued once for the scheduler; a `completed` close
  gets its first follow-up date.

Revision ID: 0004_aftercare
Revises: 0003
Create Date: 2026-12-03 15:00:00
"""

import calendar
import datetime as dt
import os
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0004_aftercare"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_NOT_NULL = {
    "next_moment_at": "next_moment_at IS NOT NULL",
    "next_follow_up_due": "next_follow_up_due IS NOT NULL",
}


def upgrade() -> None:
    with op.batch_alter_table("referrals") as batch:
        for name in ("accepted_at", "assigned_at", "in_service_at", "last_activity_at"):
            batch.add_column(sa.Column(name, _TS, nullable=True))
        batch.add_column(sa.Column("next_moment_at", _TS, nullable=True))
        batch.add_column(sa.Column("moments_from", _TS, nullable=True))
        batch.add_column(sa.Column("next_follow_up_due", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column("follow_ups_done", sa.Integer(), server_default="0", nullable=False)
        )
    for name, where in _NOT_NULL.items():
        op.create_index(
            f"ix_referrals_{name}",
            "referrals",
            [name],
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    op.create_index(
        "ix_referrals_regency_code_created_at",
        "referrals",
        ["regency_code", "created_at"],
        postgresql_include=["handover_date", "status", "accepted_at"],
    )
    op.create_index(
        "ix_referrals_durations",
        "referrals",
        ["accepted_at"],
        postgresql_include=[
            "created_at",
            "assigned_at",
            "in_service_at",
            "closed_at",
            "handover_date",
            "sentra_code",
            "province_code",
            "pas_mask",
        ],
        postgresql_where=sa.text("accepted_at IS NOT NULL"),
        sqlite_where=sa.text("accepted_at IS NOT NULL"),
    )
    op.create_table(
        "referral_follow_ups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=False),
        sa.Column("contact", sa.String(16), nullable=False),
        sa.Column("housing", sa.String(16), nullable=False),
        sa.Column("work", sa.String(16), nullable=False),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("returned_to_custody", sa.Boolean(), nullable=False),
        sa.Column("note_sealed", sa.Text(), nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_referral_follow_ups_referral_id_referrals")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_referral_follow_ups_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_follow_ups")),
        sa.UniqueConstraint(
            "referral_id", "number", name=op.f("uq_referral_follow_ups_referral_id_number")
        ),
    )
    op.create_table(
        "referral_moments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
            nullable=False,
        ),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("moment", sa.String(40), nullable=False),
        sa.Column("occurrence", sa.String(40), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("fired_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_referral_moments_referral_id_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_moments")),
        sa.UniqueConstraint(
            "referral_id",
            "moment",
            "occurrence",
            name=op.f("uq_referral_moments_referral_id_moment_occurrence"),
        ),
    )
    for state in ("accepted", "assigned", "in_service"):
        op.execute(
            f"UPDATE referrals SET {state}_at = (SELECT min(h.at) FROM referral_history h "
            f"WHERE h.referral_id = referrals.id AND h.to_status = '{state}' "
            "AND (h.from_status IS NULL OR h.from_status <> h.to_status))"
        )
    op.execute(
        "UPDATE referrals SET last_activity_at = (SELECT max(h.at) FROM referral_history h "
        "WHERE h.referral_id = referrals.id AND h.action IS NOT NULL)"
    )
    # Queued once, the referrals that can still have a moment; none already past fires.
    op.execute("UPDATE referrals SET moments_from = CURRENT_TIMESTAMP")
    op.execute(
        "UPDATE referrals SET next_moment_at = CURRENT_TIMESTAMP "
        "WHERE status NOT IN ('rejected', 'cancelled') "
        "AND NOT (status = 'closed' AND COALESCE(outcome, '') <> 'completed')"
    )
    _first_follow_ups()


def _add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _first_follow_ups() -> None:
    """Referrals closed `completed` before aftercare existed: their first follow-up is due
    3 months after the local date of the close (RUJUKAN_TIMEZONE, as the service reads it)."""
    tz = ZoneInfo(os.environ.get("RUJUKAN_TIMEZONE", "Asia/Jakarta"))
    referrals = sa.table(
        "referrals",
        sa.column("id", sa.Uuid()),
        sa.column("status", sa.String()),
        sa.column("outcome", sa.String()),
        sa.column("closed_at", sa.DateTime(timezone=True)),
        sa.column("next_follow_up_due", sa.Date()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(referrals.c.id, referrals.c.closed_at).where(
            referrals.c.status == "closed",
            referrals.c.outcome == "completed",
            referrals.c.closed_at.is_not(None),
        )
    ).all()
    updates = []
    for referral_id, closed_at in rows:
        at = closed_at if closed_at.tzinfo else closed_at.replace(tzinfo=dt.UTC)
        updates.append({"rid": referral_id, "due": _add_months(at.astimezone(tz).date(), 3)})
    if updates:
        bind.execute(
            referrals.update()
            .where(referrals.c.id == sa.bindparam("rid"))
            .values(next_follow_up_due=sa.bindparam("due")),
            updates,
        )


def downgrade() -> None:
    op.drop_table("referral_moments")
    op.drop_table("referral_follow_ups")
    op.drop_index("ix_referrals_durations", table_name="referrals")
    op.drop_index("ix_referrals_regency_code_created_at", table_name="referrals")
    for name in _NOT_NULL:
        op.drop_index(f"ix_referrals_{name}", table_name="referrals")
    with op.batch_alter_table("referrals") as batch:
        for name in (
            "follow_ups_done",
            "next_follow_up_due",
            "moments_from",
            "next_moment_at",
            "last_activity_at",
            "in_service_at",
            "assigned_at",
            "accepted_at",
        ):
            batch.drop_column(name)
