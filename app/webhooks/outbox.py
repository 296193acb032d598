"""Reading the outbox in commit order: shared by the change feed and the relay's fan-out.

Why not simply `ORDER BY id`? On PostgreSQL ids come from a sequence when a row is
inserted, not when its transaction commits. Transaction A takes id 10 and stays open;
B takes id 11 and commits; a poller reads 11 and moves its cursor past it; A commits, and
10 is behind every cursor that already passed 11: the event would be skipped for good.

The mechanism here: every outbox row records the id of the transaction that wrote it
(`txid`, from `pg_current_xact_id()`, a 64-bit id that never wraps). A reader serves only
rows whose `txid` is below `pg_snapshot_xmin(pg_current_snapshot())`: the oldest
transaction still running when the reader's snapshot was taken. Every transaction below
that horizon has committed or aborted, so the set of such rows can never grow again.
Rows are ordered and paged by `(txid, id)`. The horizon only moves forward, and any
transaction still running (or not yet begun) has a txid at or above it, so whatever
becomes visible later sorts after every position already handed out: nothing is skipped.
The price is latency, not loss: a long-running writing transaction holds back the feed
and the relay until it ends. Transaction ids are cluster-wide, so this holds for a writing
transaction in any database of the server (read-only transactions take no txid and hold
nothing back); `rujukan_outbox_backlog` shows it, and a dedicated server avoids it.

On SQLite writers are serialised (one database-wide write lock), so a row's id is already
its commit order; `txid` is 0 there and `(txid, id)` reduces to `id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnClause,
    ColumnElement,
    Select,
    and_,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.visibility import visible_where
from app.referrals.models import OutboxEvent

# A CloudEvent's `source` joined with its `subject` is the referral's path in this API.
EVENT_SOURCE = "/v1/referrals"

# The commit horizon of the reader's own snapshot (PostgreSQL only).
_HORIZON: ColumnClause[int] = literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint", BigInteger()
)


@dataclass(frozen=True, slots=True, order=True)
class OutboxPosition:
    """A place in commit order: the next read starts strictly after it."""

    txid: int
    id: int

    @classmethod
    def of(cls, row: OutboxEvent) -> OutboxPosition:
        return cls(row.txid, row.id)


START = OutboxPosition(0, 0)


def committed_after(
    position: OutboxPosition,
    *,
    postgresql: bool,
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> Select[OutboxEvent]:
    """Outbox rows after `position` that can no longer be preceded by a late commit."""
    query = select(OutboxEvent).where(
        tuple_(OutboxEvent.txid, OutboxEvent.id) > tuple_(position.txid, position.id)
    )
    if postgresql:
        query = query.where(OutboxEvent.txid < _HORIZON)
    if where is not None:
        query = query.where(where)
    return query.order_by(OutboxEvent.txid, OutboxEvent.id).limit(limit)


def _postgresql(session: AsyncSession) -> bool:
    """Whether `session` runs on PostgreSQL (a commit horizon) or SQLite (none needed)."""
    return session.get_bind().dialect.name == "postgresql"


async def read_committed(
    session: AsyncSession,
    position: OutboxPosition,
    *,
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> list[OutboxEvent]:
    """`committed_after` run on `session`, with its database's horizon."""
    query = committed_after(position, postgresql=_postgresql(session), limit=limit, where=where)
    return list((await session.execute(query)).scalars())


async def any_committed_after(session: AsyncSession, position: OutboxPosition) -> bool:
    """Whether `read_committed` would return anything (without locking or reading a batch)."""
    query = committed_after(position, postgresql=_postgresql(session), limit=1)
    return (await session.execute(query)).first() is not None


async def any_written_after(session: AsyncSession, position: OutboxPosition) -> bool:
    """Whether any row after `position` is visible at all, the commit horizon ignored: when
    `any_committed_after` says no and this says yes, the horizon holds the rows back."""
    query = committed_after(position, postgresql=False, limit=1)
    return (await session.execute(query)).first() is not None


async def count_committed_after(session: AsyncSession, position: OutboxPosition, cap: int) -> int:
    """How many rows `read_committed` would return, counting up to `cap` (a bounded scan)."""
    query = committed_after(position, postgresql=_postgresql(session), limit=cap)
    return (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """`Principal.may_read` as SQL over the outbox's facility, sentra and Bapas codes; an
    event about a note meant for Kemensos only for Kemensos and the sentra (SPEC §10)."""
    visible = visible_where(
        principal, OutboxEvent.facility_code, OutboxEvent.sentra_code, OutboxEvent.bapas_code
    )
    if principal.role in (Role.kemensos, Role.sentra):
        return visible
    return and_(visible, OutboxEvent.audience.is_(None))


def cloud_event(row: OutboxEvent) -> dict[str, Any]:
    """The structured CloudEvent 1.0 of an outbox row: the webhook body and a feed item."""
    return {
        "specversion": "1.0",
        "id": str(row.event_id),
        "source": EVENT_SOURCE,
        "type": row.type,
        "time": row.occurred_at.isoformat(),
        "subject": str(row.referral_id),
        "datacontenttype": "application/json",
        "data": row.data,
    }
