"""Helpers for webhook tests: a fast relay in the test's loop, subscriptions, worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from app.core.config import Settings
from app.runtime import Runtime
from app.webhooks.worker import Worker
from tests.conftest import TEST_AUDIT_KEY, TEST_DATA_KEY, ApiClient

ROOT = Path(__file__).resolve().parents[2]

# Retries in milliseconds instead of minutes; leases short enough to test a crash.
FAST: dict[str, Any] = {
    "webhook_allow_private": True,
    "webhook_backoff_base_seconds": 0.05,
    "webhook_backoff_max_seconds": 0.2,
    "webhook_timeout_seconds": 2.0,
    "webhook_lease_seconds": 3.0,
    "webhook_poll_interval_seconds": 0.05,
}


def fast_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update={**FAST, **overrides})


@contextlib.asynccontextmanager
async def running_relay(services: Runtime, **overrides: Any) -> AsyncIterator[Worker]:
    """The relay loop as a task of the test's own event loop, stopped on exit."""
    worker = Worker(services.db, services.cipher, fast_settings(services.settings, **overrides))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await worker.aclose()


async def subscribe(
    http: httpx.AsyncClient, client: ApiClient, url: str, *event_types: str
) -> dict[str, Any]:
    response = await http.post(
        "/v1/webhook-subscriptions",
        json={
            "url": url,
            "event_types": list(event_types)
            or ["referral.created", "referral.status_changed", "referral.updated"],
        },
        headers=client.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def unsubscribe(http: httpx.AsyncClient, client: ApiClient, subscription_id: str) -> None:
    """Tests share a database: a subscription left behind would receive later tests' events."""
    response = await http.delete(
        f"/v1/webhook-subscriptions/{subscription_id}", headers=client.headers
    )
    assert response.status_code in (204, 404), response.text


def worker_env(database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUKAN_")}
    env.update(
        RUJUKAN_DATABASE_URL=database_url,
        RUJUKAN_DATA_KEY=TEST_DATA_KEY,
        RUJUKAN_AUDIT_SIGNING_KEY=TEST_AUDIT_KEY,
        RUJUKAN_WEBHOOK_ALLOW_PRIVATE="true",
        RUJUKAN_LOG_LEVEL="WARNING",
    )
    env.update({f"RUJUKAN_{k.upper()}": v for k, v in settings.items()})
    return env


def start_worker(
    procs: list[subprocess.Popen[bytes]], database_url: str, *, logs: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """One more `rujukan worker`, its stderr in `logs`; `worker_processes` cleans it up."""
    with (logs / f"worker-{len(procs)}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=ROOT,
            env=worker_env(database_url, **settings),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    procs.append(proc)
    return proc


@contextlib.contextmanager
def worker_processes(
    count: int, database_url: str, *, logs: Path, **settings: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` worker processes; on exit each still running gets SIGTERM, then SIGKILL."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            start_worker(procs, database_url, logs=logs, **settings)
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
