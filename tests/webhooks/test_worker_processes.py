"""`rujukan worker` as real processes on PostgreSQL: killed mid-delivery, and two at once."""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.core.config import Settings
from app.referrals.models import OutboxEvent
from app.runtime import Runtime
from app.webhooks.models import WebhookDelivery
from tests.conftest import ApiClient, Clients
from tests.factories import make_event
from tests.webhooks.receiver import Receiver, eventually
from tests.webhooks.support import start_worker, subscribe, unsubscribe, worker_processes

FAST_WORKER = {
    "webhook_timeout_seconds": "2",
    "webhook_lease_seconds": "3",
    "webhook_poll_interval_seconds": "0.05",
    "webhook_backoff_base_seconds": "0.05",
    "webhook_backoff_max_seconds": "0.5",
    "webhook_concurrency": "8",
}


@pytest.fixture(autouse=True)
def postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("several worker processes need PostgreSQL (SQLite: one in-process relay)")


async def post_changes(http: httpx.AsyncClient, prison: ApiClient, count: int) -> None:
    """`count` new referrals through the batch endpoint: one referral.created each."""
    for start in range(0, count, 500):
        events = [make_event(prison.facility_codes[0]) for _ in range(min(500, count - start))]
        response = await http.post(
            "/v1/release-events/batch", json={"events": events}, headers=prison.headers
        )
        assert response.status_code == 207, response.text
        assert {r["status"] for r in response.json()["results"]} == {201}


async def created_event_ids(services: Runtime, facility: str) -> set[str]:
    async with services.db.read_session() as session:
        rows = await session.execute(
            select(OutboxEvent.event_id).where(
                OutboxEvent.facility_code == facility, OutboxEvent.type == "referral.created"
            )
        )
        return {str(r) for r in rows.scalars()}


async def delivery_rows(services: Runtime, subscription_id: str) -> list[WebhookDelivery]:
    async with services.db.read_session() as session:
        rows = await session.execute(
            select(WebhookDelivery).where(
                WebhookDelivery.subscription_id == uuid.UUID(subscription_id)
            )
        )
        return list(rows.scalars())


def tail(logs: Path) -> str:
    return "\n".join(p.read_text()[-3000:] for p in sorted(logs.glob("*.log")))


async def test_kill_9_mid_delivery_loses_nothing(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    settings: Settings,
    receiver: Receiver,
    allow_private: None,
    tmp_path: Path,
) -> None:
    total = 200
    receiver.delay_seconds = 0.1  # every attempt is in flight for a while: a kill cuts some
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/k9"), "referral.created")
    receiver.secrets["/k9"] = [sub["secret"]]

    def distinct() -> set[str]:
        return {d.webhook_id for d in receiver.accepted("/k9")}

    try:
        with worker_processes(1, settings.database_url, logs=tmp_path, **FAST_WORKER) as procs:
            await post_changes(http, prison, total)
            assert await eventually(lambda: len(distinct()) >= 30, within=60), tail(tmp_path)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(timeout=10)
            assert procs[0].returncode == -signal.SIGKILL
            cut_at = len(distinct())
            assert cut_at < total, "the worker finished before it could be killed"
            start_worker(procs, settings.database_url, logs=tmp_path, **FAST_WORKER)
            assert await eventually(lambda: len(distinct()) == total, within=120), tail(tmp_path)
            rows = await delivery_rows(services, sub["id"])
            for _ in range(100):  # the last answers are being recorded
                if all(r.status == "delivered" for r in rows):
                    break
                await eventually(lambda: False, within=0.1)
                rows = await delivery_rows(services, sub["id"])
    finally:
        await unsubscribe(http, prison, sub["id"])

    assert distinct() == await created_event_ids(services, facility)
    assert all(d.verified for d in receiver.snapshot("/k9"))
    # At-least-once: only what was in flight at the kill (at most the worker's concurrency)
    # may have arrived twice, under the same webhook-id.
    repeats = [
        w for w, n in Counter(d.webhook_id for d in receiver.accepted("/k9")).items() if n > 1
    ]
    assert len(repeats) <= int(FAST_WORKER["webhook_concurrency"])
    assert len(rows) == total and {r.status for r in rows} == {"delivered"}
    assert {str(r.webhook_id) for r in rows if r.attempts > 1} >= set(repeats)


async def test_two_workers_deliver_each_event_exactly_once(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    settings: Settings,
    receiver: Receiver,
    allow_private: None,
    tmp_path: Path,
) -> None:
    total = 1000
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/pair"), "referral.created")
    receiver.secrets["/pair"] = [sub["secret"]]
    try:
        with worker_processes(
            2,
            settings.database_url,
            logs=tmp_path,
            webhook_poll_interval_seconds="0.05",
            webhook_concurrency="16",
        ) as procs:
            await post_changes(http, prison, total)
            assert await eventually(lambda: len(receiver.snapshot("/pair")) >= total, within=180), (
                tail(tmp_path)
            )
            await eventually(lambda: False, within=1.0)  # a duplicate would show up by now
            assert all(p.poll() is None for p in procs), tail(tmp_path)
        rows = await delivery_rows(services, sub["id"])
    finally:
        await unsubscribe(http, prison, sub["id"])

    seen = receiver.snapshot("/pair")
    assert all(d.verified and d.answered == 200 for d in seen)
    ids = [d.webhook_id for d in seen]
    assert len(ids) == total and set(ids) == await created_event_ids(services, facility)
    assert len(rows) == total
    retried = [(r.attempts, r.last_error, r.last_status_code) for r in rows if r.attempts != 1]
    assert {(r.status, r.attempts) for r in rows} == {("delivered", 1)}, retried[:5]
