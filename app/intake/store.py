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
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import insert_or_skip
from app.intake.models import IntakeRecord

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
