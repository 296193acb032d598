"""Webhook subscriptions (a client's own), their delivery log, and the change feed."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import audit
from app.core.clock import utcnow
from app.core.crypto import DataCipher
from app.core.cursor import CursorCodec
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.i18n import msg
from app.webhooks import outbox, pruning
from app.webhooks.models import (
    DeliveryStatus,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from app.webhooks.outbox import OutboxPosition
from app.webhooks.schemas import (
    CloudEvent,
    DeliveryOut,
    DeliveryPage,
    FeedPage,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
)
from app.webhooks.signing import new_secret, seal_secret
from app.webhooks.targets import check_url

FEED_SCOPE = "referral-events"


def subscription_out(row: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(row)


def delivery_out(row: WebhookDelivery) -> DeliveryOut:
    out = DeliveryOut.model_validate(row)
    if row.status != DeliveryStatus.pending:
        out.next_attempt_at = None
    return out


def _parse_id(value: str, code: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ProblemError(code) from None


async def _own_subscription(
    session: AsyncSession, principal: Principal, subscription_id: str, *, lock: bool = False
) -> WebhookSubscription:
    """The caller's own subscription; another client's, a deleted or an unknown one is 404."""
    sid = _parse_id(subscription_id, "SUBSCRIPTION_NOT_FOUND")
    query = select(WebhookSubscription).where(
        WebhookSubscription.id == sid,
        WebhookSubscription.client_id == principal.client_id,
        WebhookSubscription.status != SubscriptionStatus.deleted,
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise ProblemError("SUBSCRIPTION_NOT_FOUND")
    return row


async def cancel_pending(
    session: AsyncSession, subscription_id: uuid.UUID, reason: str, now: datetime
) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .values(
            status=DeliveryStatus.cancelled, last_error=reason, lease_token=None, updated_at=now
        )
        .execution_options(synchronize_session=False)
    )


async def disable_subscription(
    session: AsyncSession, subscription_id: uuid.UUID, reason: str, now: datetime
) -> None:
    """Stop delivering to an endpoint (410, or the retry window spent); audited."""
    changed = await session.execute(
        update(WebhookSubscription)
        .where(
            WebhookSubscription.id == subscription_id,
            WebhookSubscription.status == SubscriptionStatus.active,
        )
        .values(
            status=SubscriptionStatus.disabled,
            disabled_reason=reason,
            disabled_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(changed, "rowcount", 0):
        await cancel_pending(session, subscription_id, "subscription_disabled", now)
        audit.record(
            session, None, "webhook_subscription.disable", reason, target_id=subscription_id
        )


async def create_subscription(
    session: AsyncSession,
    cipher: DataCipher,
    principal: Principal,
    body: SubscriptionCreate,
    *,
    allow_private: bool,
) -> SubscriptionCreated:
    errors = await check_url(body.url, allow_private=allow_private)
    for index, event_type in enumerate(body.event_types):
        if event_type in body.event_types[:index]:
            errors.append(
                FieldError("INVALID_VALUE", msg("listed twice"), pointer=f"/event_types/{index}")
            )
    if errors:
        raise validation_failed(errors)
    secret = new_secret()
    now = utcnow()
    row = WebhookSubscription(
        id=uuid.uuid4(),
        client_id=principal.client_id,
        url=body.url,
        event_types=[event_type.value for event_type in body.event_types],
        description=body.description,
        status=SubscriptionStatus.active,
        created_at=now,
        updated_at=now,
    )
    row.secret_encrypted = seal_secret(cipher, row.id, secret)
    session.add(row)
    await session.flush()
    audit.record(session, principal, "webhook_subscription.create", "success", target_id=row.id)
    return SubscriptionCreated(**subscription_out(row).model_dump(), secret=secret)


async def list_subscriptions(session: AsyncSession, principal: Principal) -> list[SubscriptionOut]:
    rows = (
        await session.execute(
            select(WebhookSubscription)
            .where(
                WebhookSubscription.client_id == principal.client_id,
                WebhookSubscription.status != SubscriptionStatus.deleted,
            )
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
        )
    ).scalars()
    return [subscription_out(r) for r in rows]


async def get_subscription(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> SubscriptionOut:
    return subscription_out(await _own_subscription(session, principal, subscription_id))


async def delete_subscription(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> None:
    """Soft delete: nothing more is sent, the delivery log stays for the audit trail."""
    now = utcnow()
    row = await _own_subscription(session, principal, subscription_id, lock=True)
    row.status = SubscriptionStatus.deleted
    row.updated_at = now
    await cancel_pending(session, row.id, "subscription_deleted", now)
    audit.record(session, principal, "webhook_subscription.delete", "success", target_id=row.id)


async def enable_subscription(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> SubscriptionOut:
    """Active again (a no-op when it is): deliveries resume with the events committed from
    now on; what happened while it was disabled is in the feed."""
    row = await _own_subscription(session, principal, subscription_id, lock=True)
    if row.status == SubscriptionStatus.disabled:
        now = utcnow()
        row.status = SubscriptionStatus.active
        row.disabled_reason = None
        row.disabled_at = None
        row.enabled_at = now
        row.updated_at = now
        audit.record(session, principal, "webhook_subscription.enable", "success", target_id=row.id)
    return subscription_out(row)


async def rotate_secret(
    session: AsyncSession,
    cipher: DataCipher,
    principal: Principal,
    subscription_id: str,
    *,
    overlap: timedelta,
) -> SecretRotated:
    """A new secret; the current one keeps signing (second signature) for the overlap."""
    now = utcnow()
    secret = new_secret()
    row = await _own_subscription(session, principal, subscription_id, lock=True)
    if overlap > timedelta(0):
        row.previous_secret_encrypted = row.secret_encrypted
        row.previous_secret_expires_at = now + overlap
    else:
        row.previous_secret_encrypted = None
        row.previous_secret_expires_at = None
    row.secret_encrypted = seal_secret(cipher, row.id, secret)
    row.updated_at = now
    audit.record(
        session, principal, "webhook_subscription.rotate_secret", "success", target_id=row.id
    )
    return SecretRotated(
        id=row.id, secret=secret, previous_secret_expires_at=row.previous_secret_expires_at
    )


def _deliveries_scope(subscription_id: uuid.UUID, status: DeliveryStatus | None) -> str:
    return f"webhook-deliveries:{subscription_id}:{status or '*'}"


async def list_deliveries(
    session: AsyncSession,
    codec: CursorCodec,
    principal: Principal,
    subscription_id: str,
    *,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> DeliveryPage:
    """Newest first; keyset-paginated on `(created_at, id)`."""
    subscription = await _own_subscription(session, principal, subscription_id)
    scope = _deliveries_scope(subscription.id, status)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if cursor is not None:
        created_at, last_id = codec.decode(scope, cursor, read=_delivery_position)
        query = query.where(
            tuple_(WebhookDelivery.created_at, WebhookDelivery.id) < tuple_(created_at, last_id)
        )
    rows = list(
        (
            await session.execute(
                query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(
                    limit + 1
                )
            )
        ).scalars()
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = codec.encode(scope, [last.created_at.isoformat(), str(last.id)])
    return DeliveryPage(items=[delivery_out(r) for r in rows], next_cursor=next_cursor)


def _delivery_position(raw: Any) -> tuple[datetime, uuid.UUID]:
    created_at, last_id = raw
    return datetime.fromisoformat(created_at), uuid.UUID(last_id)


async def redeliver(session: AsyncSession, principal: Principal, delivery_id: str) -> DeliveryOut:
    """Queue a delivery again, now, with a fresh retry window and the same `webhook-id`."""
    did = _parse_id(delivery_id, "DELIVERY_NOT_FOUND")
    now = utcnow()
    found = (
        await session.execute(
            select(WebhookDelivery, WebhookSubscription)
            .join(
                WebhookSubscription,
                WebhookSubscription.id == WebhookDelivery.subscription_id,
            )
            .where(
                WebhookDelivery.id == did,
                WebhookSubscription.client_id == principal.client_id,
                WebhookSubscription.status != SubscriptionStatus.deleted,
            )
            .with_for_update(of=WebhookDelivery)
        )
    ).one_or_none()
    if found is None:
        raise ProblemError("DELIVERY_NOT_FOUND")
    delivery, subscription = found
    if subscription.status != SubscriptionStatus.active:
        raise ProblemError("SUBSCRIPTION_DISABLED")
    delivery.status = DeliveryStatus.pending
    delivery.next_attempt_at = now
    delivery.scheduled_at = now
    delivery.lease_token = None  # an attempt in flight can no longer record its outcome
    delivery.updated_at = now
    audit.record(session, principal, "webhook_delivery.redeliver", "success", target_id=delivery.id)
    return delivery_out(delivery)


def _feed_position(raw: Any) -> tuple[OutboxPosition, int]:
    """A feed cursor: `[txid, id, pruning generation]` (`[txid, id]` before pruning came)."""
    if not (isinstance(raw, list) and len(raw) in (2, 3)):
        raise TypeError
    if not all(isinstance(part, int) for part in raw):
        raise TypeError
    return OutboxPosition(raw[0], raw[1]), raw[2] if len(raw) == 3 else 0


async def read_feed(
    session: AsyncSession, codec: CursorCodec, principal: Principal, after: str | None, limit: int
) -> FeedPage:
    """The events the caller may read, in commit order (see `app/webhooks/outbox.py`);
    pruning and expired cursors: `app/webhooks/pruning.py`."""
    position, generation = (
        (outbox.START, 0)
        if after is None
        else codec.decode(FEED_SCOPE, after, "after", read=_feed_position)
    )
    rows = await outbox.read_committed(
        session, position, limit=limit, where=outbox.visible_to(principal)
    )
    # Read after the rows: a prune that committed before the rows were read shows here.
    state = await pruning.pruned(session)
    if after is not None and generation != state.generation and position < state.up_to:
        raise ProblemError("CURSOR_EXPIRED")
    if rows:
        position = OutboxPosition.of(rows[-1])
    if len(rows) < limit:
        # Everything visible up to the pruned position has been served (it committed long
        # ago); the cursor need not stay behind it.
        position = max(position, state.up_to)
    return FeedPage(
        items=[CloudEvent.model_validate(outbox.cloud_event(r)) for r in rows],
        next_cursor=codec.encode(FEED_SCOPE, [position.txid, position.id, state.generation]),
    )
