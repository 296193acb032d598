"""What wakes the relay: LISTEN/NOTIFY on PostgreSQL (notifications may be lost: nothing
else is), an in-process signal on the embedded database, polling as the fallback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.config import Settings
from app.runtime import Runtime
from app.webhooks.wakeup import APPLICATION_NAME, asyncpg_dsn
from app.webhooks.worker import in_process
from tests.conftest import Clients
from tests.factories import make_event, unique
from tests.webhooks.receiver import Receiver, eventually
from tests.webhooks.support import fast_settings, running_relay, subscribe, unsubscribe


async def post_events(
    http: httpx.AsyncClient, headers: dict[str, str], facility: str, n: int, **event: Any
) -> None:
    for _ in range(n):
        response = await http.post(
            "/v1/release-events", json=make_event(facility, **event), headers=headers
        )
        assert response.status_code == 201, response.text


async def test_a_commit_wakes_the_relay_before_its_poll(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    """With a poll interval of a minute, only the wake-up can deliver within the test:
    NOTIFY on PostgreSQL, the in-process signal on SQLite."""
    facility = unique("LP")
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/woken"), "referral.created")
    receiver.secrets["/woken"] = [sub["secret"]]
    try:
        async with running_relay(services, webhook_poll_interval_seconds=60) as worker:
            if worker.listener is not None:
                assert await eventually(worker.listener.connected.is_set, within=10)
            await eventually(lambda: False, within=0.3)  # its first (startup) cycle is done
            await post_events(http, prison.headers, facility, 3)
            assert await eventually(lambda: len(receiver.accepted("/woken")) == 3, within=30)
    finally:
        await unsubscribe(http, prison, sub["id"])


async def test_without_wakeups_the_poll_still_delivers(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    facility = unique("LP")
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/polled"), "referral.created")
    receiver.secrets["/polled"] = [sub["secret"]]
    try:
        async with running_relay(services, webhook_wakeups=False) as worker:
            assert worker.listener is None
            await post_events(http, prison.headers, facility, 3)
            assert await eventually(lambda: len(receiver.accepted("/polled")) == 3, within=30)
    finally:
        await unsubscribe(http, prison, sub["id"])


async def _terminate_listeners(settings: Settings) -> int:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(**asyncpg_dsn(settings.database_url), timeout=10)
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
    finally:
        await conn.close()
    return len(killed)


async def test_a_killed_listener_connection_loses_no_delivery(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    backend: str,
    receiver: Receiver,
    allow_private: None,
) -> None:
    """The listener's connection is terminated by the server while events keep committing:
    their notifications are lost, the relay's poll and the reconnected listener deliver
    every one of them."""
    if backend != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    facility = unique("LP")
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/dropped"), "referral.created")
    receiver.secrets["/dropped"] = [sub["secret"]]
    total = 0
    try:
        async with running_relay(services, webhook_poll_interval_seconds=0.5) as worker:
            listener = worker.listener
            assert listener is not None
            assert await eventually(listener.connected.is_set, within=10)
            for round_ in range(3):
                assert await _terminate_listeners(settings) == 1
                # Committed while the listener is gone or coming back: no notification.
                await post_events(http, prison.headers, facility, 5)
                total += 5
                assert await eventually(
                    lambda t=total: len({d.webhook_id for d in receiver.accepted("/dropped")}) == t,
                    within=30,
                ), round_
                assert await eventually(lambda r=round_: listener.connections >= r + 2, within=30)
            async with services.db.read_session() as session:
                listening = (
                    await session.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :n "
                            "AND datname = current_database()"
                        ),
                        {"n": APPLICATION_NAME},
                    )
                ).scalar_one()
            assert listening == 1  # back, and only once
            # Listening again: a new commit is delivered without a poll's help.
            await post_events(http, prison.headers, facility, 2)
            total += 2
            assert await eventually(
                lambda: len({d.webhook_id for d in receiver.accepted("/dropped")}) == total,
                within=30,
            )
    finally:
        await unsubscribe(http, prison, sub["id"])


async def test_the_scheduler_beside_the_relay_wakes_it_for_a_moment(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    """The worker as `serve` and `rujukan worker` run it (`in_process`: the relay and the
    moment scheduler side by side): a moment the scheduler fires wakes the relay like any
    other writer's event (the trigger on PostgreSQL, the commit watch on SQLite), so with a
    poll interval of a minute it is still delivered within the test (without wake-ups it
    is not: checked by hand)."""
    facility = unique("LP")
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/moment"), "referral.handover_reached")
    receiver.secrets["/moment"] = [sub["secret"]]
    settings = fast_settings(
        services.settings,
        run_worker_in_process=True,
        webhook_poll_interval_seconds=60,
        moment_interval_seconds=1.0,
    )
    try:
        async with in_process(services.db, services.cipher, settings):
            await eventually(lambda: False, within=1.5)  # the startup cycles are done
            # Released twenty days ago: its handover is due at the scheduler's next pass.
            await post_events(http, prison.headers, facility, 1, release_days=-20)
            assert await eventually(lambda: len(receiver.accepted("/moment")) == 1, within=30)
    finally:
        await unsubscribe(http, prison, sub["id"])
