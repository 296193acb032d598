"""The idempotency records of intake (SPEC §3): claimed, answered, looked up, released.

`(client_id, event_id)` is unique: claiming an event inserts its row and skips one that
exists, so a copy of an event being applied by another transaction waits on the unique
index until that one commits (then it finds the row and replays its answer) or rolls
back (then it claims the row itself). A 4xx stores nothing: its claim is deleted before
the commit. Services pass their session; nothing here begins or ends a transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy import Row, Table, bindparam, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import AUDIT_TABLE
from app.core.db import insert_or_skip
from app.core.recordsets import RecordSet, from_json
from app.intake.models import IntakeRecord
from app.referrals import store as referral_store
from app.referrals.changes import ChangeLog
from app.referrals.models import Referral

RECORDS = cast(Table, IntakeRecord.__table__)


async def claim(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Claim these events (rows in event_id order: the order locks are taken in): the
    claim id of each event_id this transaction now holds; one already answered, or being
    applied by another transaction that committed, is missing."""
    if not rows:
        return {}
    statement = insert_or_skip(session, RECORDS, "client_id", "event_id").returning(
        RECORDS.c.id, RECORDS.c.event_id
    )
    return {row.event_id: row.id for row in await session.execute(statement, list(rows))}


async def answered(
    session: AsyncSession, client_id: uuid.UUID, event_ids: Sequence[str]
) -> Sequence[Row[Any]]:
    """(event_id, body_sha256, status_code, response) of the answered events among these."""
    if not event_ids:
        return []
    return (
        await session.execute(
            select(
                IntakeRecord.event_id,
                IntakeRecord.body_sha256,
                IntakeRecord.status_code,
                IntakeRecord.response,
            ).where(IntakeRecord.client_id == client_id, IntakeRecord.event_id.in_(event_ids))
        )
    ).all()


async def store_answers(
    session: AsyncSession, answers: Sequence[dict[str, Any]], unclaimed: Sequence[int]
) -> None:
    """Each applied event's answer on its claim (`{id, status_code, response, outcome,
    referral_id}`); the claims of refused events deleted."""
    if answers:
        await session.execute(
            update(RECORDS)
            .where(RECORDS.c.id == bindparam("b_id"))
            .values(
                status_code=bindparam("b_status_code"),
                response=bindparam("b_response"),
                outcome=bindparam("b_outcome"),
                referral_id=bindparam("b_referral_id"),
            ),
            [{"b_" + key: value for key, value in row.items()} for row in answers],
        )
    if unclaimed:
        await session.execute(delete(IntakeRecord).where(IntakeRecord.id.in_(unclaimed)))


# The whole of an intake transaction's I/O: what it reads before deciding its events, and
# what it writes after. On PostgreSQL each is one statement (two round trips whatever the
# number of events: app/core/recordsets.py); elsewhere (the embedded SQLite) a statement
# per table through SQLAlchemy, where a statement is a function call, not a round trip.


@dataclass(slots=True)
class Read:
    claimed: dict[str, int]  # event_id → claim id, for the events this transaction holds
    cases: dict[tuple[str, str], Referral]  # the events' episodes that have a referral
    # (id, nik_index, facility_code) of non-terminal referrals
    open_by_nik: list[tuple[uuid.UUID, str, str]]


@dataclass(slots=True)
class Writes:
    new: list[Referral] = field(default_factory=list)
    changed: list[Referral] = field(default_factory=list)  # existing referrals changed
    pas_rewrite: list[Referral] = field(default_factory=list)  # existing, categories changed
    log: ChangeLog = field(default_factory=ChangeLog)
    answers: list[dict[str, Any]] = field(default_factory=list)
    unclaimed: list[int] = field(default_factory=list)


def _postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def read(
    session: AsyncSession,
    claims: Sequence[dict[str, Any]],
    keys: Sequence[tuple[str, str]],
    niks: Sequence[str],
) -> Read:
    """Claim the events (`claims` in event_id order), lock their cases (`keys` in order),
    and find the open referrals of `niks` and of the NIKs the locked referrals hold (a
    stale event flags against the NIK its referral holds, which may not be the event's)."""
    if not _postgresql(session):
        claimed = await claim(session, claims)
        cases = await referral_store.lock_cases(session, keys) if claimed else {}
        held = {r.nik_index for r in cases.values() if r.nik_index is not None}
        open_rows = await referral_store.open_by_nik(session, sorted(set(niks) | held))
        return Read(claimed, cases, open_rows)
    result = Read({}, {}, [])
    parameters = {
        **_CLAIMS.bind(claims),
        "niks": sorted(set(niks)),
        "terminal": referral_store.TERMINAL_CODES,
        "facility_codes": [k[0] for k in keys],
        "case_refs": [k[1] for k in keys],
    }
    for row in await session.execute(_READ, parameters):
        if row.kind == "c":
            result.claimed[row.event_id] = row.id
        elif row.kind == "n":
            result.open_by_nik.append((row.referral_id, row.nik_index, row.facility_code))
        else:
            values = row.referral if isinstance(row.referral, dict) else orjson.loads(row.referral)
            referral = Referral(**from_json(REFERRAL_TABLE, values))
            result.cases[(referral.facility_code, referral.case_ref)] = referral
    held = {r.nik_index for r in result.cases.values() if r.nik_index is not None} - set(niks)
    if held:
        result.open_by_nik += await referral_store.open_by_nik(session, sorted(held))
    return result


async def write(session: AsyncSession, writes: Writes) -> None:
    """Everything the transaction's applied events write: the new referrals (raises
    `CaseRacedError`, nothing written, when a concurrent transaction created one of them
    meanwhile), the changed ones, their PAS categories, history, outbox, audit rows, the
    stored answers, and the release of refused events' claims."""
    new = sorted(writes.new, key=lambda r: (r.facility_code, r.case_ref))
    if not _postgresql(session):
        await referral_store.insert_new(session, new)
        await referral_store.replace_pas_categories(session, new, existing=False)
        await referral_store.replace_pas_categories(session, writes.pas_rewrite, existing=True)
        await referral_store.write_changes(session, writes.log)  # flushes the changed rows
        await store_answers(session, writes.answers, writes.unclaimed)
        return
    rewritten = [*new, *writes.pas_rewrite]
    parameters = {
        **_REFERRALS.bind([referral_store.row_values(r) for r in new]),
        "new_count": len(new),
        **_CHANGED.bind([referral_store.row_values(r) for r in writes.changed]),
        "pas_rewrite": [r.id for r in writes.pas_rewrite],
        **_PAS.bind(
            [
                {"referral_id": r.id, "code": code}
                for r in rewritten
                for code in r.case_data["pas_categories"]
            ]
        ),
        **_HISTORY.bind(writes.log.history),
        **_OUTBOX.bind(writes.log.outbox),
        **_AUDIT.bind(writes.log.audit),
        **_ANSWERS.bind(writes.answers),
        "unclaim": list(writes.unclaimed),
    }
    if not (await session.execute(_WRITE, parameters)).scalar_one():
        raise referral_store.CaseRacedError


def _without(table: Table, *names: str) -> tuple[str, ...]:
    return tuple(c.key for c in table.columns if c.key not in names)


REFERRAL_TABLE = cast(Table, Referral.__table__)
# What an event may change on an existing referral: all but its identity and creation.
_FIXED = ("id", "facility_code", "case_ref", "origin_client_id", "created_at")
_CLAIMS = RecordSet(
    "claims",
    RECORDS,
    ("client_id", "event_id", "body_sha256", "event_type", "occurred_at", "created_at"),
)
_REFERRALS = RecordSet("referrals", REFERRAL_TABLE)
_CHANGED = RecordSet("changed", REFERRAL_TABLE, ("id", *_without(REFERRAL_TABLE, *_FIXED)))
_PAS = RecordSet("pas", referral_store.PAS)
_HISTORY = RecordSet("history", referral_store.HISTORY, _without(referral_store.HISTORY, "id"))
_OUTBOX = RecordSet("outbox", referral_store.OUTBOX, _without(referral_store.OUTBOX, "id", "txid"))
_AUDIT = RecordSet("audit", AUDIT_TABLE, _without(AUDIT_TABLE, "id", "txid", "disclosed"))
_ANSWERS = RecordSet(
    "answers", RECORDS, ("id", "status_code", "response", "outcome", "referral_id")
)

# Claim, NIK lookup and lock in one round trip. The branches of UNION ALL run in order, so
# the claims are made (waiting for a concurrent copy of an event to commit or roll back)
# before the cases are locked: the lock order of separate statements is kept. The cases
# of every event are locked, claimed or not. (Statement texts are built from metadata.)
_READ = text(
    f"""
WITH claimed AS (
    INSERT INTO {RECORDS.name} ({", ".join(_CLAIMS.names)}, status_code, response)
    SELECT {_CLAIMS.select_list()}, 0, '{{}}'::jsonb FROM {_CLAIMS.source()}
    ON CONFLICT (client_id, event_id) DO NOTHING RETURNING id, event_id
), locked AS (
    SELECT r.* FROM referrals AS r
    JOIN unnest(CAST(:facility_codes AS text[]), CAST(:case_refs AS text[]))
        AS k(facility_code, case_ref)
      ON r.facility_code = k.facility_code AND r.case_ref = k.case_ref
    ORDER BY r.facility_code, r.case_ref FOR UPDATE OF r
)
SELECT 'c' AS kind, id, event_id, NULL::uuid AS referral_id, NULL::text AS nik_index,
       NULL::text AS facility_code, NULL::jsonb AS referral FROM claimed
UNION ALL
SELECT 'n', NULL, NULL, id, nik_index, facility_code, NULL FROM referrals
WHERE nik_index = ANY(CAST(:niks AS text[])) AND status <> ALL(CAST(:terminal AS text[]))
UNION ALL
SELECT 'r', NULL, NULL, NULL, NULL, NULL, to_jsonb(locked) FROM locked
"""  # noqa: S608
)

# Everything else in one statement. The new referrals first: when one of them was created
# by a concurrent transaction meanwhile (ON CONFLICT skipped it), `ok` is false, nothing
# else is written, and the caller rolls back and tries again. The other CTEs touch
# disjoint rows: replacing PAS categories deletes only the codes that go and inserts only
# those that come (PostgreSQL does not order sub-statements on the same rows). Foreign
# keys are checked at the end of the statement, when the new referrals exist.
_OK = "(SELECT ok FROM complete)"
_SET_CHANGED = ", ".join(f"{n} = u.{n}" for n in _CHANGED.names if n != "id")
_WRITE = text(
    f"""
WITH inserted AS (
    {_REFERRALS.insert()}
    ON CONFLICT (facility_code, case_ref) DO NOTHING RETURNING id
), complete AS (
    SELECT count(*) = CAST(:new_count AS int) AS ok FROM inserted
), changed AS (
    UPDATE referrals AS r SET {_SET_CHANGED}
    FROM {_CHANGED.source()}
    WHERE r.id = u.id AND {_OK}
), pas_gone AS (
    DELETE FROM {_PAS.table.name} AS p
    WHERE p.referral_id = ANY(CAST(:pas_rewrite AS uuid[])) AND {_OK}
      AND (p.referral_id, p.code) NOT IN (SELECT u.referral_id, u.code FROM {_PAS.source()})
), pas_new AS (
    {_PAS.insert()} WHERE {_OK} ON CONFLICT DO NOTHING
), history AS (
    {_HISTORY.insert()} WHERE {_OK}
), outbox AS (
    {_OUTBOX.insert()} WHERE {_OK}
), audit AS (
    {_AUDIT.insert()} WHERE {_OK}
), answered AS (
    UPDATE {RECORDS.name} AS i
    SET status_code = u.status_code, response = u.response, outcome = u.outcome,
        referral_id = u.referral_id
    FROM {_ANSWERS.source()}
    WHERE i.id = u.id AND {_OK}
), unclaimed AS (
    DELETE FROM {RECORDS.name} WHERE id = ANY(CAST(:unclaim AS bigint[])) AND {_OK}
)
SELECT ok FROM complete
"""  # noqa: S608
)
