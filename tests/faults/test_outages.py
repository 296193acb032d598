"""PostgreSQL going away under a load of release events: backends terminated, the server
stopped and restarted. Every request gets its answer or a 503 that says "retry", nothing
is half-written, and `rujukan serve` recovers by itself."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.factories import make_event
from tests.faults.conftest import FaultDatabase
from tests.faults.support import (
    FACILITY,
    Outcome,
    assert_success_or_503,
    assert_whole_or_absent,
    post_event,
    retry_until_answered,
    service_with_prison,
    stored,
)


async def retry_the_503s(
    client: httpx.AsyncClient, base_url: str, key: str, outcomes: list[Outcome]
) -> list[Outcome]:
    final = []
    for outcome in outcomes:
        if not outcome.acknowledged:
            outcome = await retry_until_answered(client, base_url, key, outcome.event)
            assert outcome.acknowledged, f"{outcome.status}: {outcome.body}"
        final.append(outcome)
    return final


async def test_terminated_backends_answer_503_and_lose_nothing(
    fault_db: FaultDatabase, tmp_path: Path
) -> None:
    total, concurrency = 400, 16
    with service_with_prison(tmp_path, fault_db.url) as (served, key):
        pending = [make_event(FACILITY) for _ in range(total)]
        outcomes: list[Outcome] = []
        done = asyncio.Event()
        killed = 0

        async def sender(client: httpx.AsyncClient) -> None:
            while pending:
                outcomes.append(await post_event(client, served.base_url, key, pending.pop()))

        async def nemesis() -> None:
            nonlocal killed
            while not done.is_set():
                await asyncio.sleep(random.uniform(0.8, 1.2))
                killed += await fault_db.cluster.terminate_backends(fault_db.name)

        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as client:
            killer = asyncio.create_task(nemesis())
            await asyncio.gather(*(sender(client) for _ in range(concurrency)))
            done.set()
            await killer
            pid = served.process.pid
            assert served.process.poll() is None, served.log_tail()

            assert len(outcomes) == total
            print(Counter(o.status for o in outcomes), f"{killed} backends terminated")
            for outcome in outcomes:
                assert_success_or_503(outcome)
            unavailable = sum(1 for o in outcomes if o.status == 503)
            assert killed > 0
            assert unavailable > 0, "no request was cut: the nemesis did not bite"
            assert unavailable < total, "nothing succeeded between the terminations"
            assert "unhandled error" not in served.log_tail(10**6)

            assert_whole_or_absent(await stored(fault_db.cluster, fault_db.name), outcomes)
            final = await retry_the_503s(client, served.base_url, key, outcomes)
            assert_whole_or_absent(await stored(fault_db.cluster, fault_db.name), final)
            assert served.process.pid == pid and served.process.poll() is None


@pytest.mark.parametrize("mode", ["immediate", "fast"])
async def test_postgres_stopped_and_restarted_recovers_without_restart(
    fault_db: FaultDatabase, tmp_path: Path, mode: str
) -> None:
    """`immediate` is a crash: in-flight transactions die with the server and crash recovery
    runs at start; `fast` terminates every session (57P01) and refuses new ones while it
    shuts down. Nothing acknowledged may be lost either way."""
    cluster = fault_db.cluster
    concurrency, down_seconds = 12, 3.0
    with service_with_prison(tmp_path, fault_db.url) as (served, key):
        outcomes: list[Outcome] = []
        stop_load = asyncio.Event()

        async def sender(client: httpx.AsyncClient) -> None:
            while not stop_load.is_set():
                outcomes.append(
                    await post_event(client, served.base_url, key, make_event(FACILITY))
                )
                await asyncio.sleep(0.02)

        limits = httpx.Limits(max_connections=concurrency + 2)
        async with httpx.AsyncClient(limits=limits) as client:
            senders = [asyncio.create_task(sender(client)) for _ in range(concurrency)]
            try:
                await asyncio.sleep(1.0)
                await asyncio.to_thread(cluster.stop, mode)
                down_from = time.monotonic()
                await asyncio.sleep(down_seconds / 2)
                ready = await client.get(served.base_url + "/readyz")
                assert ready.status_code == 503, ready.text
                await asyncio.sleep(down_seconds / 2)
                down_until = time.monotonic()
                await asyncio.to_thread(cluster.start)
                up_at = time.monotonic()
                deadline = up_at + 30
                while time.monotonic() < deadline:  # recovered: 2 s of nothing but successes
                    await asyncio.sleep(0.25)
                    recent = [o for o in outcomes if o.sent_at > time.monotonic() - 2.0]
                    if recent and recent[0].sent_at > up_at and all(o.acknowledged for o in recent):
                        break
            finally:
                stop_load.set()
                await asyncio.gather(*senders)

            assert served.process.poll() is None, served.log_tail()
            for outcome in outcomes:
                assert_success_or_503(outcome)
            while_down = [o for o in outcomes if down_from < o.sent_at < down_until - 0.1]
            assert while_down and all(o.status == 503 for o in while_down)
            after = [o for o in outcomes if o.sent_at > time.monotonic() - 2.0]
            assert after and all(o.acknowledged for o in after), "did not recover by itself"
            assert (await client.get(served.base_url + "/readyz")).status_code == 200
            assert any(o.acknowledged and o.sent_at < down_from for o in outcomes)

            assert_whole_or_absent(await stored(cluster, fault_db.name), outcomes)
            final = await retry_the_503s(client, served.base_url, key, outcomes)
            assert_whole_or_absent(await stored(cluster, fault_db.name), final)
