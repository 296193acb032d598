"""PostgreSQL statements that write the rows of many events at once, whatever their number.

Each statement binds the rows of a table as one JSON array and reads them back with
`jsonb_to_recordset`, so its text does not depend on how many rows it writes: PostgreSQL
prepares it once per connection, and 1 or 500 events cost the same round trips: claim
(with the NIK lookup), lock, and one statement of data-modifying CTEs for everything the
applied events write (new and changed referrals, PAS rows, history, outbox, audit, stored
answers, deleting the claims of refused events). On a loaded 2-core machine a round trip
costs more than the Python work of an event, so their number is what this module cuts.

The statements run on the asyncpg connection directly (`Statement`), past SQLAlchemy.
SQLite (the embedded default) takes the portable executemany path in
`app/intake/service.py`: there a statement is a function call, not a round trip.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

# PostgreSQL types of the columns written here.
REFERRAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("facility_code", "text"),
    ("case_ref", "text"),
    ("origin_client_id", "uuid"),
    ("status", "text"),
    ("custody_status", "text"),
    ("version", "int"),
    ("sentra_code", "text"),
    ("reason_code", "text"),
    ("outcome", "text"),
    ("held_from_status", "text"),
    ("full_name", "text"),
    ("name_search", "text"),
    ("nik_index", "text"),
    ("nik_masked", "text"),
    ("birth_date", "date"),
    ("sex", "text"),
    ("province_code", "text"),
    ("regency_code", "text"),
    ("district_code", "text"),
    ("release_type", "text"),
    ("release_date", "date"),
    ("supervision_end_date", "date"),
    ("handover_date", "date"),
    ("pas_mask", "int"),
    ("case_data", "jsonb"),
    ("sensitive_data", "text"),
    ("anonymised_at", "timestamptz"),
    ("data_quality_flags", "jsonb"),
    ("last_event_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)
HISTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("referral_id", "uuid"),
    ("at", "timestamptz"),
    ("action", "text"),
    ("event_type", "text"),
    ("event_id", "text"),
    ("event_outcome", "text"),
    ("from_status", "text"),
    ("to_status", "text"),
    ("custody_status", "text"),
    ("client_id", "uuid"),
    ("actor", "text"),
    ("reason_code", "text"),
    ("outcome", "text"),
    ("note", "text"),
    ("sentra_code", "text"),
    ("changed_fields", "jsonb"),
)
OUTBOX_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "uuid"),
    ("type", "text"),
    ("referral_id", "uuid"),
    ("facility_code", "text"),
    ("sentra_code", "text"),
    ("data", "jsonb"),
    ("occurred_at", "timestamptz"),
)
AUDIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("at", "timestamptz"),
    ("client_id", "uuid"),
    ("actor", "text"),
    ("action", "text"),
    ("referral_id", "uuid"),
    ("target_id", "uuid"),
    ("request_id", "text"),
    ("outcome", "text"),
)
CLAIM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("client_id", "uuid"),
    ("event_id", "text"),
    ("body_sha256", "text"),
    ("event_type", "text"),
    ("occurred_at", "timestamptz"),
    ("created_at", "timestamptz"),
)
ANSWER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "bigint"),
    ("status_code", "int"),
    ("response", "jsonb"),
    ("outcome", "text"),
    ("referral_id", "uuid"),
)


@dataclass(frozen=True, slots=True)
class Rows:
    """Rows bound as one JSON array in parameter `:<name>`, read back as typed columns by
    `jsonb_to_recordset`: one parameter per table instead of one per column (asyncpg's
    per-parameter work was the largest cost left on the single-event path)."""

    name: str
    columns: tuple[tuple[str, str], ...]

    def source(self) -> str:
        """`jsonb_to_recordset(...) AS u(col type, ...)`."""
        typed = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        return f"jsonb_to_recordset(CAST(:{self.name} AS jsonb)) AS u({typed})"

    def select_list(self) -> str:
        return ", ".join(f"u.{name}" for name, _ in self.columns)

    def insert(self, table: str) -> str:
        names = ", ".join(name for name, _ in self.columns)
        select = f"SELECT {self.select_list()} FROM {self.source()}"  # noqa: S608
        return f"INSERT INTO {table} ({names}) {select}"

    def bind(self, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
        """The rows as JSON (keys beyond the columns are ignored by the statement): UUIDs,
        dates and times as the text PostgreSQL reads them back from (orjson's own)."""
        return {self.name: orjson.dumps(rows, default=_uuid_text).decode()}


def _uuid_text(value: Any) -> str:
    """asyncpg reads UUIDs as its own subclass of uuid.UUID, which orjson does not know."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def record_values(row: dict[str, Any]) -> dict[str, Any]:
    """A referral row read back as JSON (`to_jsonb`), with its columns' Python types."""
    out: dict[str, Any] = {}
    for name, kind in REFERRAL_COLUMNS:
        value = row[name]
        if value is not None and kind in _FROM_JSON:
            value = _FROM_JSON[kind](value)
        out[name] = value
    return out


_FROM_JSON: dict[str, Any] = {
    "uuid": uuid.UUID,
    "date": dt.date.fromisoformat,
    "timestamptz": dt.datetime.fromisoformat,
}


CLAIMS = Rows("claims", CLAIM_COLUMNS)
REFERRALS = Rows("referrals", REFERRAL_COLUMNS)
# What an event may change on an existing referral: all but its identity and creation.
FIXED_COLUMNS = frozenset({"facility_code", "case_ref", "origin_client_id", "created_at"})
CHANGED = Rows("changed", tuple(c for c in REFERRAL_COLUMNS if c[0] not in FIXED_COLUMNS))
PAS = Rows("pas", (("referral_id", "uuid"), ("code", "text")))
HISTORY = Rows("history", HISTORY_COLUMNS)
OUTBOX = Rows("outbox", OUTBOX_COLUMNS)
AUDIT = Rows("audit", AUDIT_COLUMNS)
ANSWERS = Rows("answers", ANSWER_COLUMNS)

# The statements below are built from the constant column lists above, never from input.

# Claim the events' (client, event_id) rows.
_CLAIM_INSERT = (
    "INSERT INTO intake_records (client_id, event_id, body_sha256, "  # noqa: S608
    f"event_type, occurred_at, created_at, status_code, response) SELECT {CLAIMS.select_list()}, "
    f"0, '{{}}'::jsonb FROM {CLAIMS.source()} ON CONFLICT (client_id, event_id) DO NOTHING "
    "RETURNING id, event_id"
)

# The cases of the events, locked in one order (concurrent batches wait, not deadlock).
LOCK_CASES_SQL = (
    f"SELECT {', '.join('referrals.' + name for name, _ in REFERRAL_COLUMNS)} "  # noqa: S608
    "FROM referrals JOIN unnest(CAST(:facility_codes AS text[]), "
    "CAST(:case_refs AS text[])) AS k(facility_code, case_ref) "
    "ON referrals.facility_code = k.facility_code AND referrals.case_ref = k.case_ref "
    "ORDER BY referrals.facility_code, referrals.case_ref FOR UPDATE OF referrals"
)

# Claim, NIK lookup and lock in one round trip. The branches of UNION ALL run in order, so
# the claims are made (waiting for a concurrent copy of an event to commit or roll back)
# before the cases are locked: the lock order of the separate statements is kept. The
# cases of every event are locked, claimed or not (one that raced locks a row it leaves).
READ_SQL = (
    f"WITH claimed AS ({_CLAIM_INSERT}), locked AS ({LOCK_CASES_SQL}) "  # noqa: S608
    "SELECT 'c' AS kind, id, event_id, NULL::uuid AS referral_id, NULL::text AS nik_index, "
    "NULL::jsonb AS referral FROM claimed UNION ALL "
    "SELECT 'n', NULL, NULL, id, nik_index, NULL FROM referrals "
    "WHERE nik_index = ANY(CAST(:niks AS text[])) AND status <> ALL(CAST(:terminal AS text[])) "
    "UNION ALL SELECT 'r', NULL, NULL, NULL, NULL, to_jsonb(locked) FROM locked"
)

OPEN_BY_NIK_SQL = (
    "SELECT id, nik_index FROM referrals "
    "WHERE nik_index = ANY(CAST(:niks AS text[])) AND status <> ALL(CAST(:terminal AS text[]))"
)

# Everything else in one statement. The new referrals first: when one of them was created
# by a concurrent request meanwhile (ON CONFLICT skipped it), `ok` is false, nothing else
# is written, and the caller rolls back and tries again. The other CTEs touch disjoint
# rows: replacing PAS categories deletes only the codes that go and inserts only those
# that come (PostgreSQL does not order sub-statements on the same rows). Foreign keys are
# checked at the end of the statement, when the new referrals exist.
_OK = "(SELECT ok FROM complete)"
WRITE_SQL = f"""
WITH inserted AS (
    {REFERRALS.insert("referrals")}
    ON CONFLICT (facility_code, case_ref) DO NOTHING RETURNING id
), complete AS (
    SELECT count(*) = CAST(:new_count AS int) AS ok FROM inserted
), changed AS (
    UPDATE referrals AS r SET {
    ", ".join(
        f"{n} = u.{n}" + ("::jsonb" if k == "jsonb" else "")
        for n, k in CHANGED.columns
        if n != "id"
    )
}
    FROM {CHANGED.source()}
    WHERE r.id = u.id AND {_OK}
), pas_gone AS (
    DELETE FROM referral_pas_categories AS p
    WHERE p.referral_id = ANY(CAST(:pas_rewrite AS uuid[])) AND {_OK}
      AND (p.referral_id, p.code) NOT IN (SELECT u.referral_id, u.code FROM {PAS.source()})
), pas_new AS (
    {PAS.insert("referral_pas_categories")} WHERE {_OK} ON CONFLICT DO NOTHING
), history AS (
    {HISTORY.insert("referral_history")} WHERE {_OK}
), outbox AS (
    {OUTBOX.insert("outbox_events")} WHERE {_OK}
), audit AS (
    {AUDIT.insert("audit_events")} WHERE {_OK}
), answered AS (
    UPDATE intake_records AS i
    SET status_code = u.status_code, response = u.response, outcome = u.outcome,
        referral_id = u.referral_id
    FROM {ANSWERS.source()}
    WHERE i.id = u.id AND {_OK}
), unclaimed AS (
    DELETE FROM intake_records WHERE id = ANY(CAST(:unclaim AS bigint[])) AND {_OK}
)
SELECT ok FROM complete
"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement with `:name` parameters, run on an asyncpg connection (`$n`)."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, sql: str) -> Statement:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        return cls(_PARAMETER.sub(number, sql), tuple(names))

    def arguments(self, parameters: dict[str, Any]) -> list[Any]:
        return [parameters[name] for name in self.names]

    async def fetch(self, connection: Any, parameters: dict[str, Any]) -> list[Any]:
        rows: list[Any] = await connection.fetch(self.sql, *self.arguments(parameters))
        return rows

    async def fetchval(self, connection: Any, parameters: dict[str, Any]) -> Any:
        return await connection.fetchval(self.sql, *self.arguments(parameters))


# `:name`, not `::type` (a cast) and not inside a word.
_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")

READ = Statement.of(READ_SQL)
OPEN_BY_NIK = Statement.of(OPEN_BY_NIK_SQL)
WRITE = Statement.of(WRITE_SQL)


# Custom plans for this transaction's statements, in the BEGIN's round trip. asyncpg
# prepares each statement once per connection, and after five executions PostgreSQL may
# keep one generic plan for it: a plan chosen while the tables were small (a new
# database, before autovacuum's first ANALYZE) then stays on that connection, and once
# 30,000 referrals of one facility accumulated, the case lookup walked them all for every
# event (a batch of 500 took 8 s instead of 0.3: found by bench/intake.py). Planning
# these statements costs ~0.6 ms per transaction of a few events (1.5 ms for 500), and a
# transaction carries many events.
BEGIN_SQL = "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan"


@contextlib.asynccontextmanager
async def transaction(connection: Any) -> AsyncIterator[None]:
    """A transaction on an asyncpg connection: BEGIN (custom plans), COMMIT, or ROLLBACK
    when the block or the COMMIT raises (a cancelled request included). A connection that
    could not be rolled back, or whose COMMIT was interrupted, is closed: back in the pool
    inside a transaction it would fail every later request that got it."""
    await connection.execute(BEGIN_SQL)
    try:
        yield
        await connection.execute("COMMIT")
    except BaseException:
        await _abandon(connection)
        raise


async def _abandon(connection: Any) -> None:
    if connection.is_closed():
        return
    try:
        await connection.execute("ROLLBACK")
    except BaseException:  # the caller re-raises what interrupted it
        connection.terminate()
    else:
        if connection.is_in_transaction():  # pragma: no cover - ROLLBACK always ends one
            connection.terminate()
