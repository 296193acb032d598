"""Pruning the outbox and the delivery log (SPEC §7): rows older than
`RUJUKAN_EVENT_RETENTION_DAYS` go, in small batches, each its own short transaction.

What is never pruned: an outbox row the relay has not fanned out yet (after the position
in `webhook_relay_state`), and an outbox row that still has a delivery in the log — a
`pending` one (not delivered yet) or one younger than the horizon. A delivery is pruned
with the other old rows of its event unless it is `pending`. So an undelivered event stays
until it is delivered or given up, however old.

The outbox is walked in commit order `(txid, id)` from its start, a batch at a time; a row
kept for one of those reasons is stepped over, so it never stalls pruning behind it.
`outbox_prune_state` records the furthest position pruned and counts the batches that
pruned anything. A feed cursor carries that count as it was when the cursor was issued: a
cursor before the furthest position whose count has changed since may have lost events to
pruning (410 `CURSOR_EXPIRED`). A page that is not full has served everything up to that
position, so its cursor moves past it: a reader that keeps up never expires. With several
workers the state row's lock (`SKIP LOCKED`) lets one prune at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.db import Database
from app.referrals.models import OutboxEvent
from app.webhooks.models import (
    DeliveryStatus,
    OutboxPruneState,
    RelayState,
    WebhookDelivery,
)
from app.webhooks.outbox import START, OutboxPosition

PRUNE_BATCH = 500
STATE_ID = 1


@dataclass(frozen=True, slots=True)
class BatchResult:
    pruned: int  # outbox rows deleted
    deliveries: int  # delivery log rows deleted
    scanned_to: OutboxPosition  # the next batch starts after this
    done: bool  # nothing older is left to look at


async def ensure_state(db: Database) -> None:
    try:
        async with db.transaction() as session:
            if await session.get(OutboxPruneState, STATE_ID) is None:
                session.add(
                    OutboxPruneState(
                        id=STATE_ID, txid=0, outbox_id=0, generation=0, updated_at=utcnow()
                    )
                )
    except IntegrityError:
        pass  # another worker made it first


@dataclass(frozen=True, slots=True)
class Pruned:
    """Every outbox row pruned so far is at or before `up_to`; `generation` counts the
    batches that pruned anything."""

    up_to: OutboxPosition
    generation: int


async def pruned(session: AsyncSession) -> Pruned:
    state = await session.get(OutboxPruneState, STATE_ID)
    if state is None:
        return Pruned(START, 0)
    return Pruned(OutboxPosition(state.txid, state.outbox_id), state.generation)


async def prune_batch(
    db: Database, cutoff: datetime, after: OutboxPosition, *, batch: int = PRUNE_BATCH
) -> BatchResult:
    """One batch of the outbox after `after`: its old rows and their old delivery logs."""
    async with db.transaction() as session:
        state = (
            await session.execute(
                select(OutboxPruneState)
                .where(OutboxPruneState.id == STATE_ID)
                .with_for_update(skip_locked=True)
            )
        ).scalar_one_or_none()
        if state is None:  # another worker is pruning (or no state yet)
            return BatchResult(0, 0, after, True)
        relay = await session.get(RelayState, 1)
        fanned_out = START if relay is None else OutboxPosition(relay.txid, relay.outbox_id)
        rows = (
            await session.execute(
                select(OutboxEvent.id, OutboxEvent.txid, OutboxEvent.occurred_at)
                .where(tuple_(OutboxEvent.txid, OutboxEvent.id) > tuple_(after.txid, after.id))
                .order_by(OutboxEvent.txid, OutboxEvent.id)
                .limit(batch)
            )
        ).all()
        old: list[OutboxPosition] = []
        for row_id, txid, occurred_at in rows:
            position = OutboxPosition(txid, row_id)
            if occurred_at >= cutoff or position > fanned_out:
                break  # commit order: what follows is as young, or not fanned out yet
            old.append(position)
        done = len(old) < batch
        if not old:
            return BatchResult(0, 0, after, True)
        ids = [p.id for p in old]
        removed_deliveries = await session.execute(
            delete(WebhookDelivery)
            .where(
                WebhookDelivery.outbox_event_id.in_(ids),
                WebhookDelivery.created_at < cutoff,
                WebhookDelivery.status != DeliveryStatus.pending,
            )
            .execution_options(synchronize_session=False)
        )
        kept = set(
            (
                await session.execute(
                    select(WebhookDelivery.outbox_event_id)
                    .where(WebhookDelivery.outbox_event_id.in_(ids))
                    .distinct()
                )
            ).scalars()
        )
        gone = [p for p in old if p.id not in kept]
        if gone:
            await session.execute(
                delete(OutboxEvent)
                .where(OutboxEvent.id.in_([p.id for p in gone]))
                .execution_options(synchronize_session=False)
            )
            furthest = max(gone)
            if furthest > OutboxPosition(state.txid, state.outbox_id):
                state.txid, state.outbox_id = furthest.txid, furthest.id
            state.generation += 1
            state.updated_at = utcnow()
        return BatchResult(
            len(gone), getattr(removed_deliveries, "rowcount", 0) or 0, old[-1], done
        )


async def prune(
    db: Database, retention_days: int, *, now: datetime | None = None, batch: int = PRUNE_BATCH
) -> tuple[int, int]:
    """Every batch until nothing older than the horizon is left to look at; returns the
    outbox rows and delivery log rows deleted."""
    await ensure_state(db)
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    position = START
    pruned = deliveries = 0
    while True:
        result = await prune_batch(db, cutoff, position, batch=batch)
        pruned += result.pruned
        deliveries += result.deliveries
        position = result.scanned_to
        if result.done:
            return pruned, deliveries
