"""The durations histogram by PAS category too (SPEC §11): `referral_duration_counts` and
`referral_duration_blocks` gain `pas_category` ('*': every referral), and a referral counts
once in each of its categories (the bits of `pas_mask`, as the scan's join with
`referral_pas_categories` counts it) at three more grains: per province, per sentra and in
all. The triggers expand the row's mask themselves, and watch `pas_mask` too (a
case.updated that changes the categories moves the counts).

The tables are rebuilt and backfilled; the zone kept in `referral_duration_zone` stays.

A later migration that rebuilds `referrals` on SQLite must create the triggers again
(`_sqlite`), and one that appends a PAS category must rebuild the histogram (CATEGORIES is
the catalogue's order at this revision: a test compares it with app/referrals/records.py).

Revision ID: 0009_durations_pas
Revises: 0008_durations
Create Date: 2026-12-03 19:30:00
"""

# The SQL is built from this file's constants and a validated zone name, never from input.
# ruff: noqa: S608

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0009_durations_pas"
down_revision: str | None = "0008_durations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _previous() -> ModuleType:
    """Migration 0008_durations (its bucket expressions, and its schema for downgrade)."""
    path = Path(__file__).with_name("2026-12-03-1830_duration_counts.py")
    spec = importlib.util.spec_from_file_location("_rujukan_0008_durations", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Bit i of `pas_mask` is CATEGORIES[i] (app/referrals/records.py PAS_BITS).
CATEGORIES = (
    "anak_rentan",
    "penyandang_disabilitas",
    "lansia_terlantar",
    "masyarakat_berpendapatan_rendah",
    "korban_bencana",
    "komunitas_adat_terpencil",
    "warga_binaan",
    "korban_kekerasan",
    "korban_napza_hiv",
    "kelompok_bermasalah_sosial",
    "perempuan_rentan",
    "fakir_miskin",
)
ALL = "*"
WATCHED = (
    "created_at",
    "accepted_at",
    "assigned_at",
    "in_service_at",
    "closed_at",
    "handover_date",
    "sentra_code",
    "province_code",
    "pas_mask",
)
BLOCK = 16
SHIFT = 1048576
KEY = "sentra_code, province_code, pas_category, step"


def _grains() -> str:
    """(s, p, code, bit): the four grains of 0008 with pas_category '*' (bit 0: every
    referral), and per category (a referral with the bit) per province, per sentra and in
    all. No grain holds sentra, province and category at once (the row count; such a
    request answers from the scan)."""
    rows = [(1, 1, ALL, 0), (1, 0, ALL, 0), (0, 1, ALL, 0), (0, 0, ALL, 0)]
    for i, code in enumerate(CATEGORIES):
        rows += [(0, 1, code, 1 << i), (1, 0, code, 1 << i), (0, 0, code, 1 << i)]
    first, *rest = rows
    s, p, c, b = first
    head = f"SELECT {s} AS s, {p} AS p, '{c}' AS c, {b} AS bit"
    return (
        "("
        + " UNION ALL ".join([head, *(f"SELECT {s}, {p}, '{c}', {b}" for s, p, c, b in rest)])
        + ")"
    )


def contributions(
    previous: ModuleType, dialect: str, zone: str, r: str, sign: int, source: str | None
) -> str:
    """A SELECT of (step, bucket, sentra_code, province_code, pas_mask, d): a row per step
    each referral of `source` (or the trigger's row `r` when None) took, `d` = `sign`."""
    selects = [
        f"SELECT '{step}' AS step, {bucket} AS bucket, COALESCE({r}.sentra_code, '') "
        f"AS sentra_code, {r}.province_code AS province_code, {r}.pas_mask AS pas_mask, "
        f"{sign} AS d" + (f" FROM {source} {r}" if source else "") + f" WHERE {took}"
        for step, took, bucket in previous.parts(dialect, zone, r)
    ]
    return " UNION ALL ".join(selects)


def _block(bucket: str) -> str:
    return f"({bucket} + {SHIFT}) / {BLOCK}"


def _grained(select: str) -> str:
    return (
        "SELECT x.step, x.bucket, CASE WHEN g.s = 1 THEN x.sentra_code ELSE '*' END "
        "AS sentra_code, CASE WHEN g.p = 1 THEN x.province_code ELSE '*' END AS province_code, "
        f"g.c AS pas_category, x.d FROM ({select}) AS x CROSS JOIN {_grains()} AS g "
        "WHERE g.bit = 0 OR (x.pas_mask & g.bit) <> 0"
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
        out.append(
            f"INSERT INTO {table} ({columns}, n) SELECT {grouped}, sum(d) FROM ({grained}) AS y"
            f"{where} GROUP BY {grouped} HAVING sum(d) <> 0 ORDER BY {grouped} "
            f"ON CONFLICT ({columns}) DO UPDATE SET n = {n} + excluded.n"
        )
    return out


def backfill(dialect: str, zone: str) -> list[str]:
    """The histogram of the referrals as they are (the triggers keep it from then on)."""
    return _apply(contributions(_previous(), dialect, zone, "r", 1, "referrals"), dialect)


def _postgresql(previous: ModuleType, zone: str) -> list[str]:
    """As 0008: INSERT and DELETE a trigger per statement over its transition table, UPDATE
    a trigger per row whose watched columns changed."""

    def apply(select: str) -> str:
        return ";\n    ".join(_apply(select, "postgresql"))

    def of(r: str, sign: int, source: str | None) -> str:
        return contributions(previous, "postgresql", zone, r, sign, source)

    on_insert = apply(of("r", 1, "new_rows"))
    on_delete = apply(of("r", -1, "old_rows"))
    on_update = apply(of("OLD", -1, None) + " UNION ALL " + of("NEW", 1, None))
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


def _sqlite(previous: ModuleType, zone: str) -> list[str]:
    def apply(*rows: tuple[str, int]) -> str:
        select = " UNION ALL ".join(
            contributions(previous, "sqlite", zone, r, s, None) for r, s in rows
        )
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


def _drop(dialect: str) -> None:
    """The triggers, functions and tables (both revisions use the same names)."""
    for verb in ("insert", "update", "delete"):
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER referral_duration_counts_{verb} ON referrals")
        else:
            op.execute(f"DROP TRIGGER referral_duration_counts_{verb}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION referral_duration_counts_keep()")
        op.execute("DROP FUNCTION referral_duration_counts_move()")
    op.drop_table("referral_duration_blocks")
    op.drop_table("referral_duration_counts")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    zone = op.get_bind().execute(sa.text("SELECT zone FROM referral_duration_zone")).scalar_one()
    if not re.fullmatch(r"[A-Za-z0-9_/+-]+", zone):
        raise ValueError(f"unexpected time zone name {zone!r}")
    previous = _previous()
    _drop(dialect)
    for table, bucket in (("referral_duration_counts", True), ("referral_duration_blocks", False)):
        op.create_table(
            table,
            sa.Column("sentra_code", sa.String(32), nullable=False),
            sa.Column("province_code", sa.String(2), nullable=False),
            sa.Column("pas_category", sa.String(64), nullable=False),
            sa.Column("step", sa.String(32), nullable=False),
            sa.Column("block", sa.Integer(), nullable=False),
            *([sa.Column("bucket", sa.Integer(), nullable=False)] if bucket else []),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint(
                "sentra_code",
                "province_code",
                "pas_category",
                "step",
                "block",
                *(["bucket"] if bucket else []),
                name=op.f(f"pk_{table}"),
            ),
        )
    # A grouping by sentra reads the blocks of province '*' and category '*' in (sentra,
    # step, block) order.
    op.create_index(
        "ix_referral_duration_blocks_by_province",
        "referral_duration_blocks",
        ["province_code", "pas_category", "sentra_code", "step", "block"],
    )
    for statement in backfill(dialect, zone):
        op.execute(statement)
    triggers = _postgresql(previous, zone) if dialect == "postgresql" else _sqlite(previous, zone)
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    # 0008's histogram again, rebuilt by its own upgrade (which creates the zone's table).
    _drop(op.get_bind().dialect.name)
    op.drop_table("referral_duration_zone")
    _previous().upgrade()
