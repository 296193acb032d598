"""Pruning old events and delivery logs (SPEC §7): never an undelivered event, even while
events keep committing; a feed cursor older than the horizon is a 410 CURSOR_EXPIRED.

Pruning moves a database-wide horizon, so these tests run on a database of their own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.migrate import upgrade
from app.main import create_app
from app.referrals.models import OutboxEvent
from app.runtime import Runtime, build_runtime
from app.webhooks.models import DeliveryStatus, WebhookDelivery
from app.webhooks.pruning import prune
from tests.conftest import PG_URL, ApiClient, Clients, _pg_admin, _run
from tests.factories import make_event, unique
from tests.webhooks.receiver import Receiver, eventually
from tests.webhooks.support import running_relay, subscribe

LATER = timedelta(days=365)  # "now" for pruning: every event so far is past the horizon


@dataclass
class Isolated:
    services: Runtime
    http: httpx.AsyncClient
    clients: Clients


@pytest.fixture
async def isolated(backend: str, settings: Settings, tmp_path: Path) -> AsyncIterator[Isolated]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'pruning.db'}"
        drop = None
    else:
        name = f"rujukan_test_{uuid.uuid4().hex[:8]}"
        _run(_pg_admin(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    try:
        _run(lambda: upgrade(url))
        own = settings.model_copy(update={"database_url": url, "webhook_allow_private": True})
        services = build_runtime(own)
        transport = httpx.ASGITransport(app=create_app(own, runtime=services))
        async with httpx.AsyncClient(transport=transport, base_url="http://rujukan.test") as http:
            yield Isolated(services, http, Clients(services))
        await services.db.dispose()
    finally:
        if drop is not None:
            _run(_pg_admin(drop))


async def feed_page(
    http: httpx.AsyncClient, client: ApiClient, after: str | None
) -> httpx.Response:
    params: dict[str, Any] = {"limit": 500}
    if after is not None:
        params["after"] = after
    return await http.get("/v1/referral-events", params=params, headers=client.headers)


async def transition(
    http: httpx.AsyncClient, client: ApiClient, referral_id: str, **body: Any
) -> None:
    current = await http.get(f"/v1/referrals/{referral_id}", headers=client.headers)
    response = await http.post(
        f"/v1/referrals/{referral_id}/transitions",
        json=body,
        headers={**client.headers, "If-Match": current.headers["ETag"]},
    )
    assert response.status_code == 200, response.text


async def count_outbox(services: Runtime, event_type: str) -> int:
    async with services.db.read_session() as session:
        return (
            await session.execute(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == event_type)
            )
        ).scalar_one()


async def test_pruning_under_concurrent_writes_loses_no_undelivered_event(
    isolated: Isolated, receiver: Receiver
) -> None:
    services, http = isolated.services, isolated.http
    facility = unique("LP")
    prison = await isolated.clients.prison(facility)
    kemensos = await isolated.clients.kemensos()
    # Creations reach a healthy endpoint; status changes one that keeps failing, so their
    # deliveries stay pending (undelivered) for as long as the test runs.
    receiver.policy = lambda path, webhook_id, attempt: (500 if path == "/failing" else 200, {})
    ok = await subscribe(http, prison, receiver.url("/ok"), "referral.created")
    failing = await subscribe(http, prison, receiver.url("/failing"), "referral.status_changed")
    receiver.secrets["/ok"] = [ok["secret"]]
    receiver.secrets["/failing"] = [failing["secret"]]

    first = await http.post("/v1/release-events", json=make_event(facility), headers=prison.headers)
    created = [first.json()["referral"]["id"]]
    old_cursor = None
    for _ in range(200):
        page = (await feed_page(http, prison, None)).json()
        if page["items"]:
            old_cursor = page["next_cursor"]
            break
        await asyncio.sleep(0.05)
    assert old_cursor is not None

    accepted: list[str] = []
    writing = True
    rounds = 0

    async def writer() -> None:
        nonlocal writing
        try:
            for i in range(30):
                response = await http.post(
                    "/v1/release-events", json=make_event(facility), headers=prison.headers
                )
                assert response.status_code == 201, response.text
                rid = response.json()["referral"]["id"]
                created.append(rid)
                if i % 3 == 0:
                    await transition(http, kemensos, rid, action="accept")
                    accepted.append(rid)
        finally:
            writing = False

    async def pruner() -> None:
        nonlocal rounds
        while writing:
            await prune(services.db, 90, now=utcnow() + LATER, batch=7)
            rounds += 1
            await asyncio.sleep(0.01)

    async with running_relay(services):
        await asyncio.gather(writer(), pruner())
        assert rounds > 0

        def delivered() -> set[str]:
            return {d.event["subject"] for d in receiver.accepted("/ok") if d.event}

        assert await eventually(lambda: delivered() == set(created), within=60), (
            len(delivered()),
            len(created),
        )
        # Every creation delivered: pruned once its delivery is recorded.
        for _ in range(200):
            await prune(services.db, 90, now=utcnow() + LATER, batch=7)
            if await count_outbox(services, "referral.created") == 0:
                break
            await asyncio.sleep(0.05)
        assert await count_outbox(services, "referral.created") == 0

    # Each status change is undelivered: its event and its pending delivery are kept.
    async with services.db.read_session() as session:
        kept = (
            await session.execute(
                select(OutboxEvent.referral_id, WebhookDelivery.status)
                .join(WebhookDelivery, WebhookDelivery.outbox_event_id == OutboxEvent.id)
                .where(
                    OutboxEvent.type == "referral.status_changed",
                    WebhookDelivery.subscription_id == uuid.UUID(failing["id"]),
                )
            )
        ).all()
    assert sorted(str(r) for r, _ in kept) == sorted(accepted)
    assert {s for _, s in kept} == {DeliveryStatus.pending}
    # A delivery log older than the horizon went with its event.
    async with services.db.read_session() as session:
        logged = (
            await session.execute(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == uuid.UUID(ok["id"]))
            )
        ).scalar_one()
    assert logged == 0

    # The feed: a cursor from before the pruned events is expired; a fresh read serves
    # what is kept (the undelivered status changes).
    expired = await feed_page(http, prison, old_cursor)
    assert expired.status_code == 410, expired.text
    assert expired.json()["code"] == "CURSOR_EXPIRED"
    assert expired.headers["content-type"].startswith("application/problem+json")
    fresh = await feed_page(http, prison, None)
    assert fresh.status_code == 200
    assert sorted(e["subject"] for e in fresh.json()["items"]) == sorted(accepted)
    again = await feed_page(http, prison, fresh.json()["next_cursor"])
    assert again.status_code == 200 and again.json()["items"] == []


async def test_nothing_younger_than_the_horizon_or_not_fanned_out_is_pruned(
    isolated: Isolated, receiver: Receiver
) -> None:
    services, http = isolated.services, isolated.http
    facility = unique("LP")
    prison = await isolated.clients.prison(facility)
    ok = await subscribe(http, prison, receiver.url("/ok"), "referral.created")
    receiver.secrets["/ok"] = [ok["secret"]]
    for _ in range(3):
        response = await http.post(
            "/v1/release-events", json=make_event(facility), headers=prison.headers
        )
        assert response.status_code == 201
    # Not fanned out yet (no relay has run): kept however old.
    assert await prune(services.db, 90, now=utcnow() + LATER) == (0, 0)
    async with running_relay(services):
        assert await eventually(lambda: len(receiver.accepted("/ok")) == 3, within=30)
        await asyncio.sleep(0.3)  # the answers are recorded
        # Delivered, but younger than 90 days: kept.
        assert await prune(services.db, 90) == (0, 0)
        assert await count_outbox(services, "referral.created") == 3
        cursor = (await feed_page(http, prison, None)).json()["next_cursor"]
        # Past the horizon: pruned, with their delivery logs.
        for _ in range(100):
            if await prune(services.db, 90, now=utcnow() + LATER) == (0, 0):
                pass
            if await count_outbox(services, "referral.created") == 0:
                break
            await asyncio.sleep(0.05)
    assert await count_outbox(services, "referral.created") == 0
    # A cursor at the last pruned event lost nothing after it: not expired.
    page = await feed_page(http, prison, cursor)
    assert page.status_code == 200 and page.json()["items"] == []
