"""The relay's fan-out: outbox events → one delivery per subscription that wants each.

Fan-out reads the outbox in commit order (`app/webhooks/outbox.py`) from a position kept
in `webhook_relay_state`; the worker holding that row's lock (`FOR UPDATE SKIP LOCKED`)
fans out, so with several workers each event is fanned out once, in one transaction with
the position it advances.

A subscription receives the events of the referrals its client may read
(`Principal.may_read`, the same rule as the change feed's SQL), from its creation on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Client
from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.service import principal_of
from app.core.clock import utcnow
from app.core.db import Database
from app.referrals.models import OutboxEvent
from app.webhooks.models import (
    DeliveryStatus,
    RelayState,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from app.webhooks.outbox import (
    START,
    OutboxPosition,
    any_committed_after,
    any_written_after,
    count_committed_after,
    read_committed,
)

FANOUT_BATCH = 500
BACKLOG_CAP = 100_000  # the backlog gauge counts up to this many (a bounded index scan)
STATE_ID = 1


def _position(state: RelayState) -> OutboxPosition:
    return OutboxPosition(state.txid, state.outbox_id)


async def backlog(session: AsyncSession) -> int:
    """Committed outbox events not fanned out yet (up to `BACKLOG_CAP`)."""
    state = await session.get(RelayState, STATE_ID)
    position = _position(state) if state is not None else START
    return await count_committed_after(session, position, BACKLOG_CAP)


# Who reads an event about a note meant for Kemensos (SPEC §10): Kemensos and the sentra.
NOTE_AUDIENCE_READERS = frozenset({Role.kemensos, Role.sentra})


@dataclass(frozen=True, slots=True)
class Target:
    """An active subscription of an active client, as the fan-out matches events to it."""

    subscription_id: uuid.UUID
    event_types: frozenset[str]
    since: datetime
    owner: Principal

    def wants(self, event: OutboxEvent) -> bool:
        return (
            event.type in self.event_types
            and event.occurred_at >= self.since
            and self.owner.may_read(event.facility_code, event.sentra_code, event.bapas_code)
            and (event.audience is None or self.owner.role in NOTE_AUDIENCE_READERS)
        )


async def targets(session: AsyncSession) -> list[Target]:
    found = await session.execute(
        select(WebhookSubscription, Client)
        .join(Client, Client.id == WebhookSubscription.client_id)
        .where(WebhookSubscription.status == SubscriptionStatus.active, Client.active.is_(True))
    )
    return [
        Target(
            subscription_id=subscription.id,
            event_types=frozenset(subscription.event_types),
            since=subscription.active_since,
            owner=principal_of(client),
        )
        for subscription, client in found
    ]


class Fanout:
    """One worker's fan-out; any number of workers may call `fan_out` at once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._state_ready = False
        # Set by `fan_out` when it found events committed but held back by the horizon
        # (PostgreSQL: an older transaction still open): worth looking again soon.
        self.held_back = False

    async def _ensure_state(self) -> None:
        if self._state_ready:
            return
        try:
            async with self.db.transaction() as session:
                if await session.get(RelayState, STATE_ID) is None:
                    session.add(RelayState(id=STATE_ID, txid=0, outbox_id=0, updated_at=utcnow()))
        except IntegrityError:
            pass  # another worker created it first
        self._state_ready = True

    async def fan_out(self) -> int:
        """One batch of outbox events → deliveries; returns how many events it consumed."""
        await self._ensure_state()
        # Look before locking: an idle poll then takes no row lock (and no transaction id).
        self.held_back = False
        async with self.db.read_session() as session:
            state = await session.get(RelayState, STATE_ID)
            if state is None:
                return 0
            if not await any_committed_after(session, _position(state)):
                self.held_back = await any_written_after(session, _position(state))
                return 0
        now = utcnow()
        async with self.db.transaction() as session:
            state = (
                await session.execute(
                    select(RelayState)
                    .where(RelayState.id == STATE_ID)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if state is None:
                return 0  # another worker is fanning out
            events = await read_committed(session, _position(state), limit=FANOUT_BATCH)
            if not events:
                return 0
            wanted = await targets(session)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "subscription_id": target.subscription_id,
                    "outbox_event_id": event.id,
                    "webhook_id": event.event_id,
                    "event_type": event.type,
                    "referral_id": event.referral_id,
                    "status": DeliveryStatus.pending,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "scheduled_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for event in events
                for target in wanted
                if target.wants(event)
            ]
            if rows:
                await session.execute(insert(WebhookDelivery), rows)
            state.txid, state.outbox_id = events[-1].txid, events[-1].id
            state.updated_at = now
        return len(events)
