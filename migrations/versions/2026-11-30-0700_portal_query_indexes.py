"""Portal query indexes: release-date windows per province, and word prefixes of names.

- `(province_code, release_date, id)`, on PostgreSQL covering `created_at`, `updated_at`,
  `pas_mask` and `status`: a list filtered by province and a release-date window reads the window's
  index entries (bounded by the window) instead of walking the province's referrals
  newest-first until it reaches the window (see `queries.page_query`, "window first").
  It also serves `sort=release_date` within a province.
- PostgreSQL: `rujukan_name_prefixes(name_search)`, the prefixes (3 characters or more)
  of every word of the normalised name, with a GIN index. `q` words of 3 characters or
  more look their exact prefixes up in it (`@>`), which replaces the pg_trgm index of
  0001: a word prefix in pg_trgm ANDs the long posting lists of common trigrams
  ("  a", " ar") and took 10-15 ms for a first name + surname prefix at 1M referrals;
  exact prefix keys take 1-2 ms. The function is plain SQL: no extension needed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Keep in step with app/referrals/queries.py (NAME_PREFIXES_FUNCTION, NAME_PREFIX_MIN).
# PL/pgSQL (always installed): ~6 us a name, a third of the same in an SQL function with
# unnest/generate_series; a walk of the covering index computes it for its matches.
_NAME_PREFIXES = """
CREATE OR REPLACE FUNCTION rujukan_name_prefixes(name text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    prefixes text[] := '{}';
    word text;
BEGIN
    FOREACH word IN ARRAY string_to_array(name, ' ') LOOP
        FOR n IN 3..length(word) LOOP
            prefixes := prefixes || left(word, n);
        END LOOP;
    END LOOP;
    RETURN prefixes;
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referrals_province_code_release_date_id"),
            ["province_code", "release_date", "id"],
            unique=False,
            postgresql_include=["created_at", "updated_at", "pas_mask", "status"],
        )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_NAME_PREFIXES)
    op.execute(
        "CREATE INDEX ix_referrals_name_prefixes ON referrals "
        "USING gin (rujukan_name_prefixes(name_search))"
    )
    op.execute("DROP INDEX IF EXISTS ix_referrals_name_search_trgm")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_referrals_name_prefixes")
        op.execute("DROP FUNCTION IF EXISTS rujukan_name_prefixes(text)")
        _trgm_index()
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referrals_province_code_release_date_id"))


def _trgm_index() -> None:
    """0001's pg_trgm index, as 0001 creates it (skipped if pg_trgm is not available)."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        return
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_referrals_name_search_trgm ON referrals "
        "USING gin ((' ' || name_search) gin_trgm_ops)"
    )
    op.execute("ALTER INDEX ix_referrals_name_search_trgm ALTER COLUMN 1 SET STATISTICS 1000")
