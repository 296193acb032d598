"""Webhook subscriptions, their deliveries, and the pollable change feed (SPEC §7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response

from app.auth.deps import ApiRoute, require_role
from app.auth.principal import Principal
from app.auth.roles import REFERRAL_READERS
from app.core.deps import CipherDep, CursorsDep, ReadSessionDep, SessionDep, SettingsDep
from app.core.openapi import PROBLEM_RESPONSES
from app.core.schemas import Items
from app.webhooks import service
from app.webhooks.models import DeliveryStatus
from app.webhooks.schemas import (
    ENABLED_EXAMPLE,
    SUBSCRIPTION_EXAMPLES,
    DeliveryOut,
    DeliveryPage,
    FeedPage,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
)

# Every role that reads referrals (prison, bapas, kemensos, sentra) manages its own
# subscriptions and follows the change feed (SPEC §2, §7); each sees only its own
# subscriptions and the events of the referrals it may read.
ReaderDep = Annotated[Principal, Depends(require_role(*sorted(REFERRAL_READERS)))]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (default 50, max 500).")]

SIGNING = """\
Open to every role that reads referrals (prison, bapas, kemensos, sentra; SPEC §2); an
auditor or admin gets 403 `ROLE_NOT_PERMITTED`. A client sees and manages only its own
subscriptions: another client's is a 404 `SUBSCRIPTION_NOT_FOUND`.

Each delivery is an HTTP POST of one structured CloudEvent 1.0 (`Content-Type:
application/cloudevents+json`) signed per Standard Webhooks: `webhook-id` (the CloudEvent
`id`, the same on every attempt: use it to drop duplicates), `webhook-timestamp` (Unix
seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, the
key being the base64-decoded part of the `whsec_` secret. During a secret rotation the
header holds two space-separated signatures (new and previous secret).

Delivery is at-least-once and unordered. Any 2xx within the timeout (default 10 s)
acknowledges; anything else is retried with exponential backoff and full jitter for up to
3 days, after which the subscription is disabled. `410 Gone` disables it at once; `429`
and `503` are retried after their `Retry-After`. Redirects are not followed: a 3xx is a
failed attempt. A subscription receives the events committed after its creation of the
referrals its client may read both when the change was made and when the event is
delivered: a sentra stops receiving a referral's events (retries included) once it is
reassigned away; such a delivery is `cancelled` with `last_error = not_readable`.
"""

subscriptions = APIRouter(
    prefix="/v1/webhook-subscriptions",
    tags=["Webhooks"],
    responses=PROBLEM_RESPONSES,
    route_class=ApiRoute,
)
deliveries = APIRouter(
    prefix="/v1/webhook-deliveries",
    tags=["Webhooks"],
    responses=PROBLEM_RESPONSES,
    route_class=ApiRoute,
)
feed = APIRouter(
    prefix="/v1/referral-events",
    tags=["Change feed"],
    responses=PROBLEM_RESPONSES,
    route_class=ApiRoute,
)


@subscriptions.post(
    "",
    status_code=201,
    summary="Subscribe an endpoint to referral events",
    description=SIGNING,
    response_model=SubscriptionCreated,
)
async def create_subscription(
    principal: ReaderDep,
    body: Annotated[SubscriptionCreate, Body(openapi_examples=SUBSCRIPTION_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
) -> SubscriptionCreated:
    return await service.create_subscription(
        session, cipher, principal, body, allow_private=settings.webhook_allow_private
    )


@subscriptions.get(
    "", summary="The caller's own subscriptions", response_model=Items[SubscriptionOut]
)
async def list_subscriptions(
    principal: ReaderDep, session: ReadSessionDep
) -> Items[SubscriptionOut]:
    return Items[SubscriptionOut](items=await service.list_subscriptions(session, principal))


@subscriptions.get("/{subscription_id}", summary="One subscription", response_model=SubscriptionOut)
async def get_subscription(
    subscription_id: str, principal: ReaderDep, session: ReadSessionDep
) -> SubscriptionOut:
    return await service.get_subscription(session, principal, subscription_id)


@subscriptions.delete(
    "/{subscription_id}",
    status_code=204,
    summary="Delete a subscription; pending deliveries are cancelled",
    response_class=Response,
)
async def delete_subscription(
    subscription_id: str, principal: ReaderDep, session: SessionDep
) -> Response:
    await service.delete_subscription(session, principal, subscription_id)
    return Response(status_code=204)


@subscriptions.post(
    "/{subscription_id}/enable",
    summary="Make a disabled subscription active again",
    description="A subscription disabled by a `410` or by a delivery that failed for the "
    "whole retry window becomes `active` (`disabled_reason` cleared); enabling an active "
    "one changes nothing. Deliveries resume with the events committed after this call; "
    "what happened while it was disabled is in the change feed (`GET "
    "/v1/referral-events`). Another client's or a deleted subscription is a 404 "
    "`SUBSCRIPTION_NOT_FOUND`. Audited.",
    response_model=SubscriptionOut,
    responses={200: {"content": {"application/json": {"example": ENABLED_EXAMPLE}}}},
)
async def enable_subscription(
    subscription_id: str, principal: ReaderDep, session: SessionDep
) -> SubscriptionOut:
    return await service.enable_subscription(session, principal, subscription_id)


@subscriptions.post(
    "/{subscription_id}/rotate-secret",
    summary="Issue a new signing secret (shown once); the old one keeps signing for a while",
    description="Until `previous_secret_expires_at` (`RUJUKAN_WEBHOOK_SECRET_OVERLAP_SECONDS`, "
    "default 24 h) deliveries carry two signatures, so the endpoint can switch secrets "
    "without rejecting a delivery.",
    response_model=SecretRotated,
)
async def rotate_secret(
    subscription_id: str,
    principal: ReaderDep,
    session: SessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
) -> SecretRotated:
    overlap = timedelta(seconds=settings.webhook_secret_overlap_seconds)
    return await service.rotate_secret(session, cipher, principal, subscription_id, overlap=overlap)


@subscriptions.get(
    "/{subscription_id}/deliveries",
    summary="The subscription's delivery log, newest first",
    response_model=DeliveryPage,
)
async def list_deliveries(
    subscription_id: str,
    principal: ReaderDep,
    session: ReadSessionDep,
    cursors: CursorsDep,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    status: Annotated[
        DeliveryStatus | None, Query(description="Only the deliveries in this status.")
    ] = None,
) -> DeliveryPage:
    return await service.list_deliveries(
        session, cursors, principal, subscription_id, status=status, limit=limit, cursor=cursor
    )


@deliveries.post(
    "/{delivery_id}/redeliver",
    status_code=202,
    summary="Send a delivery again (same `webhook-id`), with a fresh retry window",
    response_model=DeliveryOut,
)
async def redeliver(delivery_id: str, principal: ReaderDep, session: SessionDep) -> DeliveryOut:
    return await service.redeliver(session, principal, delivery_id)


@feed.get(
    "",
    summary="Referral events as a pollable feed, in commit order",
    description="The webhook events (same CloudEvents, same visibility) in the order their "
    "changes committed. Without `after` the feed starts at the oldest event. Pass "
    "`next_cursor` back as `after`; it is never null, and an empty page means nothing "
    "newer has committed yet. An event whose transaction commits late is never skipped: "
    "the feed serves an event only once no transaction that started before it is still "
    "open. Open to every role that reads referrals; each sees the events of the referrals "
    "it may read, as of each change: a sentra sees a referral's events from its assignment "
    "on, and not the event of a reassignment to another sentra or of a return (nor any "
    "after). Events older than `RUJUKAN_EVENT_RETENTION_DAYS` (default 90) are pruned: a "
    "cursor from before them is a 410 `CURSOR_EXPIRED` (start again without `after`).",
    response_model=FeedPage,
    responses={410: {**PROBLEM_RESPONSES[400], "description": "CURSOR_EXPIRED"}},
)
async def read_feed(
    principal: ReaderDep,
    session: ReadSessionDep,
    cursors: CursorsDep,
    after: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    limit: Limit = 50,
) -> FeedPage:
    return await service.read_feed(session, cursors, principal, after, limit)
