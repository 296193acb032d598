"""The durations histogram (SPEC §11, issue 15): how many referrals took each step in each
tenth of a day (`referral_duration_counts`) and in each block of 16 tenths
(`referral_duration_blocks`), per sentra and province, kept by triggers on `referrals`.

A referral's contribution is a function of its row alone (the buckets the durations scan
computes, app/aftercare/analytics.py): the triggers subtract the old row's and add the new
row's, so every writer (transitions, intake's set-based statements, COPY, corrections,
reassignments, anonymisation) keeps the counts equal to what the scan would count. The
buckets are computed with the same expressions as the scan, in the database.

`handover_in_service` counts from the local start of the handover date: the zone is
RUJUKAN_TIMEZONE at upgrade time, kept in `referral_duration_zone`; a service in another
zone answers from the scan.

A later migration that rebuilds `referrals` on SQLite (a batch operation copies the table)
drops these triggers with it: it must create them again (`_sqlite`), or the histogram
stops counting (tests/aftercare/test_duration_counts.py compares it with the scan at head).

Revision ID: 0008_durations
Revises: 0008_consent
Create Date: 2026-12-03 18:30:00
"""

# The SQL is built from this file's constants and a validated zone name, never from input.
# ruff: noqa: S608

import datetime as dt
import os
import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0008_durations"
down_revision: str | None = "0008_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Which columns a referral's contribution depends on.
WATCHED = (
    "created_at",
    "accepted_at",
    "assigned_at",
    "in_service_at",
    "closed_at",
    "handover_date",
    "sentra_code",
    "province_code",
)


def _zone() -> str:
    zone = os.environ.get("RUJUKAN_TIMEZONE") or "Asia/Jakarta"
    ZoneInfo(zone)  # a known zone (the service refuses others), so safe to write in SQL
    if not re.fullmatch(r"[A-Za-z0-9_/+-]+", zone):
        raise ValueError(f"unexpected time zone name {zone!r}")
    return zone


def parts(dialect: str, zone: str, r: str) -> list[tuple[str, str, str]]:
    """(step, condition, bucket) of each step, over the row `r` (an alias or NEW/OLD):
    the conditions and bucket expressions of the durations scan, as it compiles them."""

    def days(start: str, end: str) -> str:
        if dialect == "postgresql":
            return (
                f"(date_part('epoch', {r}.{end} - {r}.{start}) / CAST(86400.0 AS DOUBLE PRECISION))"
            )
        return f"(julianday({r}.{end}) - julianday({r}.{start}))"

    if dialect == "postgresql":
        midnight = f"timezone('{zone}', CAST({r}.handover_date AS TIMESTAMP WITHOUT TIME ZONE))"
        handover = (
            f"(date_part('epoch', {r}.in_service_at - {midnight}) "
            "/ CAST(86400.0 AS DOUBLE PRECISION))"
        )
    else:
        offset = (
            ZoneInfo(zone).utcoffset(dt.datetime(2026, 1, 1)) or dt.timedelta()
        ).total_seconds()
        handover = (
            f"((julianday({r}.in_service_at) - julianday({r}.handover_date)) "
            f"+ {offset / 86400.0!r})"
        )
    accepted = f"{r}.accepted_at IS NOT NULL"
    steps = [
        ("received_accepted", accepted, days("created_at", "accepted_at")),
        (
            "accepted_assigned",
            f"{accepted} AND {r}.assigned_at IS NOT NULL",
            days("accepted_at", "assigned_at"),
        ),
        (
            "assigned_in_service",
            f"{accepted} AND {r}.assigned_at IS NOT NULL AND {r}.in_service_at IS NOT NULL",
            days("assigned_at", "in_service_at"),
        ),
        (
            "in_service_closed",
            f"{accepted} AND {r}.in_service_at IS NOT NULL AND {r}.closed_at IS NOT NULL",
            days("in_service_at", "closed_at"),
        ),
        ("handover_in_service", f"{accepted} AND {r}.in_service_at IS NOT NULL", handover),
    ]
    return [(step, took, f"CAST(round({d} * 10) AS INTEGER)") for step, took, d in steps]


def contributions(dialect: str, zone: str, r: str, sign: int, source: str | None) -> str:
    """A SELECT of (step, bucket, sentra_code, province_code, d): a row per step each
    referral of `source` (or the trigger's row `r` when None) took, `d` = `sign`."""
    selects = [
        f"SELECT '{step}' AS step, {bucket} AS bucket, COALESCE({r}.sentra_code, '') "
        f"AS sentra_code, {r}.province_code AS province_code, {sign} AS d"
        + (f" FROM {source} {r}" if source else "")
        + f" WHERE {took}"
        for step, took, bucket in parts(dialect, zone, r)
    ]
    return " UNION ALL ".join(selects)


# Each contribution is counted at four grains: per sentra and province, per sentra
# (province '*'), per province (sentra '*') and in all ('*', '*'), so that every answer
# the histogram gives reads one grain. A sentra code is never '*'.
GRAINS = "(SELECT 1 AS s, 1 AS p UNION ALL SELECT 1, 0 UNION ALL SELECT 0, 1 UNION ALL SELECT 0, 0)"
# Buckets are also counted per block of BLOCK tenths (the reader finds the blocks that
# hold the percentiles, then reads their buckets). SHIFT keeps the dividend positive, so
# that integer division floors on both databases.
BLOCK = 16
SHIFT = 1048576
KEY = "sentra_code, province_code, step"


def _block(bucket: str) -> str:
    return f"({bucket} + {SHIFT}) / {BLOCK}"


def _grained(select: str) -> str:
    return (
        "SELECT x.step, x.bucket, CASE WHEN g.s = 1 THEN x.sentra_code ELSE '*' END "
        "AS sentra_code, CASE WHEN g.p = 1 THEN x.province_code ELSE '*' END AS province_code, "
        f"x.d FROM ({select}) AS x CROSS JOIN {GRAINS} AS g"
    )


def _apply(select: str, dialect: str) -> list[str]:
    """Add the `d` of `select` (contribution rows) to the buckets and the blocks, in key
    order: two transactions that move the same counts lock them in the same order."""
    grained = _grained(select)
    # `WHERE true`: SQLite's parser needs it before an upsert's ON CONFLICT.
    where = " WHERE true" if dialect == "sqlite" else ""
    out = []
    for table, block in (("referral_duration_counts", False), ("referral_duration_blocks", True)):
        n = f"{table}.n" if dialect == "postgresql" else "n"
        columns = f"{KEY}, block" + ("" if block else ", bucket")
        grouped = f"{KEY}, {_block('bucket')}" + ("" if block else ", bucket")
        values = f"{KEY}, {_block('bucket')}" + ("" if block else ", bucket")
        out.append(
            f"INSERT INTO {table} ({columns}, n) SELECT {values}, sum(d) FROM ({grained}) AS y"
            f"{where} GROUP BY {grouped} HAVING sum(d) <> 0 ORDER BY {grouped} "
            f"ON CONFLICT ({columns}) DO UPDATE SET n = {n} + excluded.n"
        )
    return out


def backfill(dialect: str, zone: str) -> list[str]:
    """The histogram of the referrals as they are (the triggers keep it from then on)."""
    return _apply(contributions(dialect, zone, "r", 1, "referrals"), dialect)


def _postgresql(zone: str) -> list[str]:
    """INSERT and DELETE: a trigger per statement, over its transition table (a COPY or a
    batch is one set-based statement). UPDATE: a trigger per row, only for a row whose
    watched columns changed (the scheduler's and intake's batches change none of them)."""

    def apply(select: str) -> str:
        return ";\n    ".join(_apply(select, "postgresql"))

    on_insert = apply(contributions("postgresql", zone, "r", 1, "new_rows"))
    on_delete = apply(contributions("postgresql", zone, "r", -1, "old_rows"))
    on_update = apply(
        contributions("postgresql", zone, "OLD", -1, None)
        + " UNION ALL "
        + contributions("postgresql", zone, "NEW", 1, None)
    )
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in WATCHED)
    return [
        f"""
CREATE FUNCTION referral_duration_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {on_insert};
  ELSE
    {on_delete};
  END IF;
  RETURN NULL;
END
$$""",
        f"""
CREATE FUNCTION referral_duration_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {on_update};
  RETURN NULL;
END
$$""",
        "CREATE TRIGGER referral_duration_counts_insert AFTER INSERT ON referrals "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION referral_duration_counts_keep()",
        "CREATE TRIGGER referral_duration_counts_delete AFTER DELETE ON referrals "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION referral_duration_counts_keep()",
        f"CREATE TRIGGER referral_duration_counts_update AFTER UPDATE OF {', '.join(WATCHED)} "
        f"ON referrals FOR EACH ROW WHEN ({changed}) "
        "EXECUTE FUNCTION referral_duration_counts_move()",
    ]


def _sqlite(zone: str) -> list[str]:
    def apply(*rows: tuple[str, int]) -> str:
        select = " UNION ALL ".join(contributions("sqlite", zone, r, s, None) for r, s in rows)
        return "; ".join(_apply(select, "sqlite"))

    watched = ", ".join(WATCHED)
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in WATCHED)
    return [
        "CREATE TRIGGER referral_duration_counts_insert AFTER INSERT ON referrals "
        f"WHEN NEW.accepted_at IS NOT NULL BEGIN {apply(('NEW', 1))}; END",
        f"CREATE TRIGGER referral_duration_counts_update AFTER UPDATE OF {watched} "
        "ON referrals WHEN (OLD.accepted_at IS NOT NULL OR NEW.accepted_at IS NOT NULL) "
        f"AND ({changed}) BEGIN {apply(('OLD', -1), ('NEW', 1))}; END",
        "CREATE TRIGGER referral_duration_counts_delete AFTER DELETE ON referrals "
        f"WHEN OLD.accepted_at IS NOT NULL BEGIN {apply(('OLD', -1))}; END",
    ]


def upgrade() -> None:
    for table, bucket in (("referral_duration_counts", True), ("referral_duration_blocks", False)):
        op.create_table(
            table,
            sa.Column("sentra_code", sa.String(32), nullable=False),
            sa.Column("province_code", sa.String(2), nullable=False),
            sa.Column("step", sa.String(32), nullable=False),
            sa.Column("block", sa.Integer(), nullable=False),
            *([sa.Column("bucket", sa.Integer(), nullable=False)] if bucket else []),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint(
                "sentra_code",
                "province_code",
                "step",
                "block",
                *(["bucket"] if bucket else []),
                name=op.f(f"pk_{table}"),
            ),
        )
    # A grouping by sentra reads the blocks of province '*' in (sentra, step, block) order.
    op.create_index(
        "ix_referral_duration_blocks_by_province",
        "referral_duration_blocks",
        ["province_code", "sentra_code", "step", "block"],
    )
    op.create_table(
        "referral_duration_zone",
        sa.Column("zone", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("zone", name=op.f("pk_referral_duration_zone")),
    )
    dialect = op.get_bind().dialect.name
    zone = _zone()
    op.execute(
        sa.text("INSERT INTO referral_duration_zone (zone) VALUES (:zone)").bindparams(zone=zone)
    )
    for statement in backfill(dialect, zone):
        op.execute(statement)
    for statement in _postgresql(zone) if dialect == "postgresql" else _sqlite(zone):
        op.execute(statement)


def downgrade() -> None:
    for verb in ("insert", "update", "delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER referral_duration_counts_{verb} ON referrals")
        else:
            op.execute(f"DROP TRIGGER referral_duration_counts_{verb}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION referral_duration_counts_keep()")
        op.execute("DROP FUNCTION referral_duration_counts_move()")
    op.drop_table("referral_duration_zone")
    op.drop_table("referral_duration_blocks")
    op.drop_table("referral_duration_counts")
