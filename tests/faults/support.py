"""What the fault tests share: a service on the private cluster, a recorded load of release
events, and a look at what the database holds afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.intake.parsing import body_hash
from tests.conftest import TEST_AUDIT_KEY, TEST_DATA_KEY
from tests.faults.cluster import PgCluster
from tests.ops.server import Served, create_client, serve, service_env

FACILITY = "LP-FAULTS"


def pg_env(directory: Path, url: str, **extra: str) -> dict[str, str]:
    """A `rujukan` process on the private cluster (high rate limit, no in-process relay)."""
    return service_env(
        directory,
        RUJUKAN_DATABASE_URL=url,
        RUJUKAN_DATA_KEY=TEST_DATA_KEY,
        RUJUKAN_AUDIT_SIGNING_KEY=TEST_AUDIT_KEY,
        RUJUKAN_RUN_WORKER_IN_PROCESS="false",
        **extra,
    )


@contextlib.contextmanager
def service_with_prison(directory: Path, url: str) -> Iterator[tuple[Served, str]]:
    """`rujukan serve` on `url` and the API key of a prison bound to FACILITY."""
    env = pg_env(directory, url)
    key = str(create_client(env, "prison", FACILITY)["api_key"])
    with serve(directory, env) as served:
        yield served, key


@dataclass
class Outcome:
    """One request and what came back: `status` None means no answer (timeout, cut)."""

    event: dict[str, Any]
    sent_at: float
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status in (200, 201)


async def post_event(
    client: httpx.AsyncClient, base_url: str, key: str, event: dict[str, Any], limit: float = 15
) -> Outcome:
    """POST one event; `limit` seconds for the whole exchange (then its outcome is unknown)."""
    outcome = Outcome(event, time.monotonic())
    try:
        response = await client.post(
            base_url + "/v1/release-events",
            json=event,
            headers={"Authorization": f"Bearer {key}"},
            timeout=limit,
        )
    except httpx.TransportError as exc:
        outcome.error = type(exc).__name__
        return outcome
    outcome.status = response.status_code
    outcome.headers = dict(response.headers)
    try:
        outcome.body = response.json()
    except ValueError:
        outcome.body = response.text
    return outcome


def assert_success_or_503(outcome: Outcome) -> None:
    """The contract under a database fault: the answer, or a 503 that says "retry"."""
    assert outcome.error is None, f"no answer: {outcome.error}"
    if outcome.acknowledged:
        assert outcome.body["event_id"] == outcome.event["event_id"]
        return
    assert outcome.status == 503, f"{outcome.status}: {outcome.body}"
    assert outcome.headers.get("content-type") == "application/problem+json"
    assert outcome.body["code"] == "SERVICE_UNAVAILABLE"
    assert int(outcome.headers["retry-after"]) > 0


async def retry_until_answered(
    client: httpx.AsyncClient, base_url: str, key: str, event: dict[str, Any], within: float = 30
) -> Outcome:
    """Resend the same body until it is acknowledged (what an integrator does after a 503)."""
    deadline = time.monotonic() + within
    while True:
        outcome = await post_event(client, base_url, key, event)
        if outcome.acknowledged or time.monotonic() > deadline:
            return outcome
        await asyncio.sleep(0.2)


@dataclass
class Stored:
    """What the database holds for FACILITY, by case and by event id."""

    referrals: dict[str, list[str]]  # case_ref -> referral ids
    intake: dict[str, list[tuple[str, int, str | None]]]  # event_id -> (hash, status, referral)
    history: dict[str, list[str]]  # event_id -> referral ids of its history rows
    history_by_referral: dict[str, Counter[str]]  # referral -> event_id counts
    created_outbox: Counter[str]  # referral -> referral.created rows
    audit_intake: int


async def stored(cluster: PgCluster, database: str) -> Stored:
    conn = await cluster.connect(database)
    try:
        referrals: dict[str, list[str]] = defaultdict(list)
        for row in await conn.fetch(
            "SELECT case_ref, id::text AS id FROM referrals WHERE facility_code = $1", FACILITY
        ):
            referrals[row["case_ref"]].append(row["id"])
        intake: dict[str, list[tuple[str, int, str | None]]] = defaultdict(list)
        for row in await conn.fetch(
            "SELECT event_id, body_sha256, status_code, referral_id::text AS referral_id"
            " FROM intake_records"
        ):
            intake[row["event_id"]].append(
                (row["body_sha256"], row["status_code"], row["referral_id"])
            )
        history: dict[str, list[str]] = defaultdict(list)
        by_referral: dict[str, Counter[str]] = defaultdict(Counter)
        for row in await conn.fetch(
            "SELECT event_id, referral_id::text AS referral_id FROM referral_history"
            " WHERE event_id IS NOT NULL"
        ):
            history[row["event_id"]].append(row["referral_id"])
            by_referral[row["referral_id"]][row["event_id"]] += 1
        created: Counter[str] = Counter(
            row["referral_id"]
            for row in await conn.fetch(
                "SELECT referral_id::text AS referral_id FROM outbox_events"
                " WHERE type = 'referral.created'"
            )
        )
        audit = await conn.fetchval(
            "SELECT count(*) FROM audit_events WHERE action = 'release_event.receive'"
        )
    finally:
        await conn.close()
    return Stored(referrals, intake, history, by_referral, created, int(audit))


def assert_whole_or_absent(store: Stored, outcomes: list[Outcome]) -> None:
    """Each posted event (one new case each) left all of its rows or none of them, and each
    acknowledged one exists exactly once, as acknowledged."""
    for outcome in outcomes:
        event = outcome.event
        event_id, case_ref = event["event_id"], event["case_ref"]
        referrals = store.referrals.get(case_ref, [])
        records = store.intake.get(event_id, [])
        history = store.history.get(event_id, [])
        assert len(referrals) <= 1 and len(records) <= 1 and len(history) <= 1, event_id
        if not referrals:
            assert not records and not history, f"{event_id}: rows without a referral"
            assert not outcome.acknowledged, f"{event_id} acknowledged but not stored"
            continue
        (referral_id,) = referrals
        assert records and history, f"{event_id}: referral without intake record or history"
        digest, status, recorded_referral = records[0]
        assert digest == body_hash(event) and status == 201
        assert recorded_referral == referral_id and history == [referral_id]
        assert store.history_by_referral[referral_id] == Counter({event_id: 1})
        assert store.created_outbox[referral_id] == 1, f"{event_id}: outbox row missing"
        if outcome.acknowledged:
            assert outcome.body["referral"]["id"] == referral_id
