"""The relay's attempts: due deliveries → signed POSTs to the subscribers' endpoints.

Attempts are claimed in short transactions: `UPDATE … WHERE id IN (SELECT … FOR UPDATE
SKIP LOCKED)` moves a due row's `next_attempt_at` one lease ahead and stamps a lease
token, so no other worker sees it as due while it is being sent. The HTTP call runs
outside any transaction (an open transaction would hold back the outbox horizon) through
`GuardedTransport` (`app/webhooks/targets.py`), which refuses non-public addresses at
every connection. The outcome is recorded only if the token is still ours; a worker that
dies mid-attempt leaves the row to become due again when the lease runs out:
at-least-once, with the same `webhook-id` on every attempt so endpoints can drop
duplicates. What follows an attempt (deliver, retry with backoff, or give up and disable
the subscription) is the pure rule `next_state`.

On SQLite the same statements run under the process's write lock (one in-process worker).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpcore
import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Client
from app.auth.service import principal_of
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.crypto import DataCipher
from app.core.db import Database
from app.core.metrics import WEBHOOK_DELIVERIES, WEBHOOK_LATENCY
from app.referrals.models import OutboxEvent, Referral
from app.referrals.queries import visible_to as referral_visible_to
from app.webhooks.models import (
    DeliveryStatus,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from app.webhooks.outbox import cloud_event
from app.webhooks.service import disable_subscription
from app.webhooks.signing import open_secret, signed_headers
from app.webhooks.targets import GuardedTransport, TargetRefusedError

log = logging.getLogger("rujukan.webhooks")

RESPONSE_READ_LIMIT = 64 * 1024


def backoff_delay(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^(attempts-1))]."""
    ceiling = min(cap, base * 2 ** min(max(attempts - 1, 0), 40))
    return rng.uniform(0, ceiling)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class Attempt:
    """A claimed delivery, with everything needed to send it outside the database."""

    delivery_id: uuid.UUID
    lease_token: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    secrets: tuple[str, ...]
    webhook_id: str
    body: str
    occurred_at: datetime
    scheduled_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Result:
    status_code: int | None
    error: str | None = None  # a fixed vocabulary, never a message from the network
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpcore.TimeoutException | httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpcore.ConnectError | httpx.ConnectError | ConnectionError):
        return "connect_error"
    return "network_error"


def next_state(
    attempt: Attempt, result: Result, now: datetime, settings: Settings, rng: random.Random
) -> tuple[dict[str, object], str, str | None]:
    """After an attempt: (column values, metric outcome, reason to disable the subscription).

    Pure, so the rules are tested without a server: 2xx delivers; 410 fails and disables;
    anything else is retried with backoff (or after `Retry-After` on 429/503) until the
    retry window ends, when the delivery fails and the subscription is disabled.
    """
    code = result.status_code
    if result.delivered:
        return (
            {
                "status": DeliveryStatus.delivered,
                "delivered_at": now,
                "last_status_code": code,
                "last_error": None,
            },
            "delivered",
            None,
        )
    if code == 410:
        return (
            {"status": DeliveryStatus.failed, "last_status_code": code, "last_error": "gone"},
            "gone",
            "gone",
        )
    error = result.error or "http_status"
    window_end = attempt.scheduled_at + timedelta(seconds=settings.webhook_retry_window_seconds)
    if now >= window_end:
        return (
            {"status": DeliveryStatus.failed, "last_status_code": code, "last_error": error},
            "failed",
            "retries_exhausted",
        )
    delay = backoff_delay(
        attempt.attempts,
        settings.webhook_backoff_base_seconds,
        settings.webhook_backoff_max_seconds,
        rng,
    )
    if code in (429, 503) and result.retry_after is not None:
        delay = result.retry_after  # the endpoint's word; the retry window still bounds it
    next_at = min(now + timedelta(seconds=delay), window_end)
    return (
        {
            "status": DeliveryStatus.pending,
            "next_attempt_at": next_at,
            "last_status_code": code,
            "last_error": error,
        },
        "retry",
        None,
    )


class Deliverer:
    """Claims due deliveries, sends them and records what came of each."""

    def __init__(
        self,
        db: Database,
        cipher: DataCipher,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.settings = settings
        self.timeout = settings.webhook_timeout_seconds
        self.lease = timedelta(seconds=settings.webhook_lease_seconds)
        self.rng = rng or random.SystemRandom()
        self.client = httpx.AsyncClient(
            transport=transport
            or GuardedTransport(
                allow_private=settings.webhook_allow_private,
                max_connections=max(4, settings.webhook_concurrency),
            ),
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,  # a redirect could point anywhere, a private address too
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def claim(self, limit: int) -> list[Attempt]:
        """Lease up to `limit` due deliveries to this worker."""
        if limit <= 0:
            return []
        now = utcnow()
        token = uuid.uuid4()
        due = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == DeliveryStatus.pending,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self.db.transaction() as session:
            ids = list(
                (
                    await session.execute(
                        update(WebhookDelivery)
                        .where(WebhookDelivery.id.in_(due))
                        .values(
                            lease_token=token,
                            next_attempt_at=now + self.lease,
                            attempts=WebhookDelivery.attempts + 1,
                            last_attempt_at=now,
                            updated_at=now,
                        )
                        .returning(WebhookDelivery.id)
                        .execution_options(synchronize_session=False)
                    )
                ).scalars()
            )
            if not ids:
                return []
            found = await session.execute(
                select(WebhookDelivery, OutboxEvent, WebhookSubscription, Client)
                .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.outbox_event_id)
                .join(
                    WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id
                )
                .join(Client, Client.id == WebhookSubscription.client_id)
                .where(WebhookDelivery.id.in_(ids))
            )
            live: list[tuple[WebhookDelivery, OutboxEvent, WebhookSubscription, Client]] = []
            orphaned: list[uuid.UUID] = []
            for delivery, event, subscription, client in found:
                # Deleted or disabled since the fan-out, or its client was deactivated.
                if subscription.status != SubscriptionStatus.active or not client.active:
                    orphaned.append(delivery.id)
                else:
                    live.append((delivery, event, subscription, client))
            readable = await _readable_now(session, [(c, d.referral_id) for d, _, _, c in live])
            attempts: list[Attempt] = []
            unreadable: list[uuid.UUID] = []
            for delivery, event, subscription, client in live:
                if (client.id, delivery.referral_id) not in readable:
                    unreadable.append(delivery.id)
                    continue
                attempts.append(
                    Attempt(
                        delivery_id=delivery.id,
                        lease_token=token,
                        subscription_id=subscription.id,
                        url=subscription.url,
                        secrets=self._secrets(subscription, now),
                        webhook_id=str(delivery.webhook_id),
                        body=_body(event),
                        occurred_at=event.occurred_at,
                        scheduled_at=delivery.scheduled_at,
                        attempts=delivery.attempts,
                    )
                )
            for reason, cancelled in (
                ("subscription_disabled", orphaned),
                ("not_readable", unreadable),
            ):
                if cancelled:
                    await session.execute(
                        update(WebhookDelivery)
                        .where(WebhookDelivery.id.in_(cancelled))
                        .values(
                            status=DeliveryStatus.cancelled,
                            last_error=reason,
                            lease_token=None,
                            updated_at=now,
                        )
                        .execution_options(synchronize_session=False)
                    )
        return attempts

    def _secrets(self, subscription: WebhookSubscription, now: datetime) -> tuple[str, ...]:
        secrets = [open_secret(self.cipher, subscription.id, subscription.secret_encrypted)]
        if (
            subscription.previous_secret_encrypted is not None
            and subscription.previous_secret_expires_at is not None
            and subscription.previous_secret_expires_at > now
        ):
            secrets.append(
                open_secret(self.cipher, subscription.id, subscription.previous_secret_encrypted)
            )
        return tuple(secrets)

    async def send(self, attempt: Attempt) -> Result:
        """One HTTP attempt, bounded in total by the per-attempt timeout."""
        headers = signed_headers(attempt.secrets, attempt.webhook_id, attempt.body, utcnow())
        status: int | None = None
        retry_after: str | None = None
        try:
            async with (
                asyncio.timeout(self.timeout),
                self.client.stream(
                    "POST", attempt.url, content=attempt.body.encode(), headers=headers
                ) as response,
            ):
                status = response.status_code
                retry_after = response.headers.get("retry-after")
                read = 0
                async for chunk in response.aiter_raw():  # drained so the connection is reused
                    read += len(chunk)
                    if read > RESPONSE_READ_LIMIT:
                        break
        except TargetRefusedError:
            return Result(None, "private_address")
        except Exception as exc:
            if status is None:
                kind = _error_kind(exc)
                if kind == "network_error":
                    log.warning(
                        "webhook attempt failed",
                        extra={
                            "fields": {
                                "delivery_id": str(attempt.delivery_id),
                                "error_type": type(exc).__name__,
                            }
                        },
                    )
                return Result(None, kind)
        return Result(status, None, parse_retry_after(retry_after, utcnow()))

    async def record(self, attempt: Attempt, result: Result) -> str:
        """Store an attempt's outcome if our lease still holds; returns the metric outcome."""
        now = utcnow()
        values, outcome, disable = next_state(attempt, result, now, self.settings, self.rng)
        async with self.db.transaction() as session:
            changed = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == attempt.delivery_id,
                    WebhookDelivery.lease_token == attempt.lease_token,
                )
                .values(**values, lease_token=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if not getattr(changed, "rowcount", 0):
                outcome, disable = "lease_lost", None
            elif disable is not None:
                await disable_subscription(session, attempt.subscription_id, disable, now)
        WEBHOOK_DELIVERIES.labels(outcome=outcome, reason=result.error or _reason(result)).inc()
        if outcome == "delivered":
            WEBHOOK_LATENCY.observe(max(0.0, (now - attempt.occurred_at).total_seconds()))
        return outcome

    async def attempt(self, attempt: Attempt) -> str:
        result = await self.send(attempt)
        try:
            return await self.record(attempt, result)
        except Exception:  # the lease runs out and the delivery is tried again
            log.error(
                "recording a webhook attempt failed",
                exc_info=True,
                extra={"fields": {"delivery_id": str(attempt.delivery_id)}},
            )
            return "unrecorded"


async def _readable_now(
    session: AsyncSession, wanted: list[tuple[Client, uuid.UUID]]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Which `(client id, referral id)` pairs the client may read now (SPEC §7: a subscriber
    receives events only for referrals it may read when the event is delivered): the one
    visibility rule of `app/auth/visibility.py`, asked once per subscriber in the batch."""
    by_client: dict[uuid.UUID, tuple[Client, set[uuid.UUID]]] = {}
    for client, referral_id in wanted:
        by_client.setdefault(client.id, (client, set()))[1].add(referral_id)
    readable: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for client_id, (client, referral_ids) in by_client.items():
        found = await session.execute(
            select(Referral.id).where(
                Referral.id.in_(referral_ids), referral_visible_to(principal_of(client))
            )
        )
        readable.update((client_id, referral_id) for referral_id in found.scalars())
    return readable


def _reason(result: Result) -> str:
    if result.status_code is None:
        return "none"
    return "ok" if result.delivered else "http_status"


def _body(event: OutboxEvent) -> str:
    return json.dumps(cloud_event(event), separators=(",", ":"), ensure_ascii=False)


async def count_due(session: AsyncSession, now: datetime) -> int:
    """Pending deliveries whose next attempt is due at `now`."""
    return (
        await session.execute(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(
                WebhookDelivery.status == DeliveryStatus.pending,
                WebhookDelivery.next_attempt_at <= now,
            )
        )
    ).scalar_one()
