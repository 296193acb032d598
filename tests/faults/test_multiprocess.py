"""Jepsen-style: two `rujukan serve` processes and two `rujukan worker` relays on one
PostgreSQL database, flooded from many connections with duplicate and conflicting release
events while a nemesis terminates database backends and SIGKILLs an API process.

Every request's outcome is recorded: acknowledged (2xx), definitely failed (4xx) or unknown
(no answer, or a 5xx). Then the history must hold: every acknowledged event exactly once and
as acknowledged, every unknown one at most once, one referral per (facility, case_ref), never
two bodies acknowledged under one event id, each applied event whole (intake record and
history row together), and each outbox event fanned out to the subscriber exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import signal
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from app.intake.parsing import body_hash
from tests.factories import make_event
from tests.faults.conftest import FaultDatabase
from tests.faults.support import FACILITY, Outcome, pg_env, post_event
from tests.ops.server import create_client, serve
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import worker_processes

CASES = 130
COPIES = (2, 4)  # each body is sent this many times (inclusive range)
CONNECTIONS = 40
FAST_WORKER = {
    "webhook_poll_interval_seconds": "0.1",
    "webhook_backoff_base_seconds": "0.1",
    "webhook_backoff_max_seconds": "1",
}


def case_events(index: int, rng: random.Random) -> list[dict[str, Any]]:
    """Four bodies for one case: scheduled, completed, and two different `case.updated`
    bodies under one event id (only one of which may ever be acknowledged)."""
    case_ref = f"JEP-{index:04d}"
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    scheduled = make_event(
        FACILITY,
        event_type="release.scheduled",
        release_days=3,
        case_ref=case_ref,
        event_id=f"S-{case_ref}",
        occurred_at=start,
    )
    completed = make_event(
        FACILITY,
        case_ref=case_ref,
        event_id=f"C-{case_ref}",
        occurred_at=start + dt.timedelta(minutes=rng.randint(1, 10)),
    )
    updated = make_event(
        FACILITY,
        event_type="case.updated",
        case_ref=case_ref,
        event_id=f"U-{case_ref}",
        occurred_at=start + dt.timedelta(minutes=20),
    )
    conflicting = json.loads(json.dumps(updated))
    conflicting["needs"]["summary"] = "Isi berbeda di bawah event_id yang sama"
    return [scheduled, completed, updated, conflicting]


def unknown(outcome: Outcome) -> bool:
    return outcome.status is None or outcome.status >= 500


async def stored_intake(fault_db: FaultDatabase) -> dict[str, Any]:
    conn = await fault_db.cluster.connect(fault_db.name)
    try:
        intake = {
            r["event_id"]: (r["body_sha256"], r["status_code"], json.loads(r["response"]))
            for r in await conn.fetch(
                "SELECT event_id, body_sha256, status_code, response::text AS response"
                " FROM intake_records"
            )
        }
        history = Counter(
            r["event_id"]
            for r in await conn.fetch(
                "SELECT event_id FROM referral_history WHERE event_id IS NOT NULL"
            )
        )
        referrals: dict[str, list[str]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT case_ref, id::text AS id FROM referrals WHERE facility_code = $1", FACILITY
        ):
            referrals[r["case_ref"]].append(r["id"])
        created = Counter(
            r["referral_id"]
            for r in await conn.fetch(
                "SELECT referral_id::text AS referral_id FROM outbox_events"
                " WHERE type = 'referral.created'"
            )
        )
        # The events the subscription asked for: the workers' moment scheduler also writes
        # moments (handover_reached, triage_overdue) that no subscription here wants.
        outbox = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM outbox_events WHERE type IN"
                " ('referral.created', 'referral.status_changed', 'referral.updated')"
            )
        }
        fanned = Counter(
            r["outbox_event_id"]
            for r in await conn.fetch("SELECT outbox_event_id FROM webhook_deliveries")
        )
    finally:
        await conn.close()
    return {
        "intake": intake,
        "history": history,
        "referrals": referrals,
        "created": created,
        "outbox": outbox,
        "fanned": fanned,
    }


async def test_two_apis_two_workers_duplicates_and_conflicts(
    fault_db: FaultDatabase, tmp_path: Path
) -> None:
    rng = random.Random(7)
    began = time.monotonic()
    env = pg_env(tmp_path, fault_db.url, RUJUKAN_WEBHOOK_ALLOW_PRIVATE="true")
    key = str(create_client(env, "prison", FACILITY)["api_key"])
    bodies = [body for i in range(CASES) for body in case_events(i, rng)]
    requests = [body for body in bodies for _ in range(rng.randint(*COPIES))]
    rng.shuffle(requests)
    outcomes: list[Outcome] = []

    with contextlib.ExitStack() as stack, Receiver() as receiver:
        apis = [stack.enter_context(serve(tmp_path, env)) for _ in range(2)]
        workers = stack.enter_context(
            worker_processes(2, fault_db.url, logs=tmp_path, **FAST_WORKER)
        )
        base_urls = [api.base_url for api in apis]
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONNECTIONS)) as http:
            subscription = await http.post(
                base_urls[0] + "/v1/webhook-subscriptions",
                json={
                    "url": receiver.url("/jepsen"),
                    "event_types": [
                        "referral.created",
                        "referral.status_changed",
                        "referral.updated",
                    ],
                },
                headers={"Authorization": f"Bearer {key}"},
            )
            assert subscription.status_code == 201, subscription.text
            receiver.secrets["/jepsen"] = [subscription.json()["secret"]]

            queue = list(reversed(requests))
            # The nemesis strikes when these fractions of the requests have been sent.
            marks = {at: asyncio.Event() for at in (0.2, 0.45, 0.7)}
            kills = 0

            async def sender() -> None:
                while queue:
                    body = queue.pop()
                    for at, reached in marks.items():
                        if len(queue) <= (1 - at) * len(requests):
                            reached.set()
                    url = rng.choice(base_urls)
                    outcomes.append(await post_event(http, url, key, body, limit=10))

            async def nemesis() -> None:
                nonlocal kills
                for at, reached in marks.items():
                    await reached.wait()
                    kills += await fault_db.cluster.terminate_backends(fault_db.name)
                    if at == 0.45:  # and kill -9 one API process mid-flight, then replace it
                        apis[1].process.send_signal(signal.SIGKILL)
                        replacement = await asyncio.to_thread(
                            stack.enter_context, serve(tmp_path, env)
                        )
                        base_urls[1] = replacement.base_url

            await asyncio.gather(nemesis(), *(sender() for _ in range(CONNECTIONS)))
        flood_seconds = time.monotonic() - began

        # The relay catches up: every outbox event reaches the subscriber (at least once).
        async def all_delivered() -> bool:
            state = await stored_intake(fault_db)
            delivered = {d.webhook_id for d in receiver.accepted("/jepsen")}
            return (
                bool(state["outbox"])
                and set(state["fanned"]) == state["outbox"]
                and len(delivered) >= len(state["outbox"])
            )

        deadline = time.monotonic() + 60
        while not await all_delivered():
            assert time.monotonic() < deadline, "the relay did not catch up"
            await asyncio.sleep(0.5)
        assert all(w.poll() is None for w in workers), "a relay worker died"
        state = await stored_intake(fault_db)

    statuses = Counter(o.status for o in outcomes)
    print(f"{len(outcomes)} requests in {flood_seconds:.1f}s: {dict(statuses)}; {kills} killed")
    assert len(outcomes) == len(requests)
    assert 500 not in statuses, "a 500 under faults"
    assert kills > 0 and any(unknown(o) for o in outcomes), "the nemesis did not bite"

    by_id: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_id[outcome.event["event_id"]].append(outcome)
    intake, history = state["intake"], state["history"]

    for event_id, tries in by_id.items():
        acked = [o for o in tries if o.acknowledged]
        assert history[event_id] <= 1, f"{event_id} applied {history[event_id]} times"
        record = intake.get(event_id)
        # An event is whole or absent: its intake record answered, and its history row.
        assert (record is not None) == (history[event_id] == 1), event_id
        if record is not None:
            assert record[1] in (200, 201), f"{event_id}: half-written record"
        if acked:
            assert record is not None, f"{event_id} acknowledged but not stored"
            hashes = {body_hash(o.event) for o in acked}
            assert hashes == {record[0]}, f"two bodies acknowledged under {event_id}"
            # Every acknowledgement of an id is the same answer (first or replayed).
            assert {json.dumps(o.body, sort_keys=True) for o in acked} == {
                json.dumps(record[2], sort_keys=True)
            }, (record, [(o.status, o.headers.get("idempotent-replayed"), o.body) for o in tries])
            assert {o.status for o in acked} == {record[1]}
        for outcome in tries:
            if outcome.status is not None and 400 <= outcome.status < 500:
                code = outcome.body["code"]
                assert code in ("EVENT_ID_CONFLICT", "UNKNOWN_CASE", "ALREADY_RELEASED"), code
                if code == "EVENT_ID_CONFLICT":
                    assert record is not None and record[0] != body_hash(outcome.event)

    for case_ref, ids in state["referrals"].items():
        assert len(ids) == 1, f"{case_ref}: {len(ids)} referrals"
        assert state["created"][ids[0]] == 1
    for outcome in outcomes:
        if outcome.acknowledged:
            (referral_id,) = state["referrals"][outcome.event["case_ref"]]
            assert outcome.body["referral"]["id"] == referral_id
    assert all(count == 1 for count in state["fanned"].values())
