"""Moments (SPEC §7) fired by the scheduler, on both databases, with an injected clock:
each fires once, on time, for the right referrals only; across a scheduler restart, two
scheduler processes on PostgreSQL, and a live server's in-process worker."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.core.config import Settings
from app.core.db import Database
from app.intake.service import receive_event
from app.ops.importer import sender_for
from app.referrals.models import OutboxEvent, Referral, ReferralMoment
from app.referrals.scheduler import fire_due, rules_of
from app.runtime import Runtime
from tests.conftest import TEST_DATA_KEY, ApiClient, Clients
from tests.factories import make_event, supervised, today
from tests.livesrv import live_server
from tests.rehab.support import ASSESSMENT
from tests.support.bulk import seed_referrals
from tests.support.referrals import (
    act,
    drive,
    new_referral,
    post_event,
    referral_in,
    sentra_code,
)

MOMENT_TYPES = (
    "referral.handover_reached",
    "referral.triage_overdue",
    "referral.stalled",
    "referral.follow_up_due",
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def fired(services: Runtime, referral_id: str) -> list[tuple[str, str]]:
    """(moment, occurrence) of the referral, in firing order, checked against its outbox:
    one event per moment row, no more."""
    rid = uuid.UUID(referral_id)
    async with services.db.read_session() as session:
        moments = (
            await session.execute(
                select(ReferralMoment.moment, ReferralMoment.occurrence)
                .where(ReferralMoment.referral_id == rid)
                .order_by(ReferralMoment.id)
            )
        ).all()
        events = (
            await session.execute(
                select(OutboxEvent.type)
                .where(OutboxEvent.referral_id == rid, OutboxEvent.type.in_(MOMENT_TYPES))
                .order_by(OutboxEvent.id)
            )
        ).scalars()
        assert list(events) == [m for m, _ in moments]
    return [(m, o) for m, o in moments]


def kinds(moments: Sequence[tuple[str, str]]) -> list[str]:
    return [m for m, _ in moments]


async def fire(services: Runtime, settings: Settings, now: dt.datetime) -> int:
    return await fire_due(services.db, rules_of(settings), now)


def local_midnight(settings: Settings, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=settings.tz)


async def test_released_twenty_days_ago_handover_and_triage_fire_at_once_and_once(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    prison = await clients.prison(facility)
    late = await new_referral(http, prison, facility, release_days=-20)
    inside = await new_referral(
        http, prison, facility, release_days=5, event_type="release.scheduled"
    )
    await fire(services, settings, utcnow())
    assert kinds(await fired(services, late)) == [
        "referral.handover_reached",
        "referral.triage_overdue",
    ]
    assert await fired(services, inside) == []
    await fire(services, settings, utcnow())
    assert len(await fired(services, late)) == 2

    # The feed carries them, thin: ids and statuses only. (On PostgreSQL the feed holds
    # back events behind any older transaction of the server: poll, as a consumer does.)
    mine = await _feed_events(http, prison, late, 3, deadline=time.monotonic() + 30)
    assert [e["type"] for e in mine] == [
        "referral.created",
        "referral.handover_reached",
        "referral.triage_overdue",
    ]
    assert "person" not in mine[1]["data"] and mine[1]["data"]["status"] == "received"


async def test_handover_fires_at_the_local_start_of_its_day_and_not_before(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    prison = await clients.prison(facility)
    event = supervised(make_event(facility, release_days=-3))
    handover = dt.date.fromisoformat(event["release"]["supervision_end_date"])
    referral_id = await post_event(http, prison, event)
    midnight = local_midnight(settings, handover)
    await fire(services, settings, midnight - dt.timedelta(seconds=1))
    assert await fired(services, referral_id) == []
    await fire(services, settings, midnight)
    assert kinds(await fired(services, referral_id)) == ["referral.handover_reached"]


async def test_supervision_ended_hands_over_at_once(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    prison = await clients.prison(facility)
    event = supervised(make_event(facility, release_days=-30))
    referral_id = await post_event(http, prison, event)
    await fire(services, settings, utcnow())
    assert await fired(services, referral_id) == []  # still under Bapas supervision
    ended = {
        **event,
        "event_id": event["event_id"] + "-END",
        "event_type": "supervision.ended",
        "release": {**event["release"], "supervision_end_date": today().isoformat()},
    }
    response = await http.post("/v1/release-events", json=ended, headers=prison.headers)
    assert response.status_code == 200, response.text
    await fire(services, settings, utcnow())
    assert kinds(await fired(services, referral_id)) == ["referral.handover_reached"]


async def test_a_prisons_event_is_not_work_on_the_case(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    """Only transitions and records reset the stall; a prison correcting the case does not."""
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    event = make_event(facility)
    referral_id = await post_event(http, prison, event)
    await drive(http, kemensos, referral_id, ["accept", "assign"], code)
    worked = utcnow() - dt.timedelta(days=settings.stall_days - 5)
    async with services.db.transaction() as session:
        await session.execute(
            update(Referral)
            .where(Referral.id == uuid.UUID(referral_id))
            .values(last_activity_at=worked)
        )
    corrected = {
        **event,
        "event_id": event["event_id"] + "-UPD",
        "event_type": "case.updated",
        "person": {**event["person"], "phone": "+6281299999999"},
    }
    response = await http.post("/v1/release-events", json=corrected, headers=prison.headers)
    assert response.status_code == 200, response.text
    await fire(services, settings, utcnow() + dt.timedelta(days=6))
    assert "referral.stalled" in kinds(await fired(services, referral_id))


async def test_a_note_is_not_work_on_the_case_a_record_is(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    """SPEC §7 `stalled`: no transition and no record other than notes. A note written
    after the last work leaves the stall due; an assessment resets it."""
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    noted = await referral_in(http, prison, kemensos, facility, "assigned", code)
    assessed = await referral_in(http, prison, kemensos, facility, "assigned", code)
    worked = utcnow() - dt.timedelta(days=settings.stall_days - 5)
    async with services.db.transaction() as session:
        await session.execute(
            update(Referral)
            .where(Referral.id.in_([uuid.UUID(noted), uuid.UUID(assessed)]))
            .values(last_activity_at=worked)
        )
    response = await http.post(
        f"/v1/referrals/{noted}/notes",
        json={"body": "Klien dihubungi lewat telepon.", "audience": "all"},
        headers=kemensos.headers,
    )
    assert response.status_code == 201, response.text
    response = await http.post(
        f"/v1/referrals/{assessed}/assessments",
        json=ASSESSMENT,
        headers=kemensos.headers,
    )
    assert response.status_code == 201, response.text
    await fire(services, settings, utcnow() + dt.timedelta(days=6))
    assert "referral.stalled" in kinds(await fired(services, noted))
    assert "referral.stalled" not in kinds(await fired(services, assessed))


async def test_stalled_after_each_period_once_and_after_a_restart_only_the_latest(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    referral_id = await referral_in(http, prison, kemensos, facility, "assigned", code)
    start = utcnow()
    days = settings.stall_days
    await fire(services, settings, start + dt.timedelta(days=days - 1))
    assert "referral.stalled" not in kinds(await fired(services, referral_id))
    await fire(services, settings, start + dt.timedelta(days=days, hours=1))
    await fire(services, settings, start + dt.timedelta(days=days, hours=2))
    assert kinds(await fired(services, referral_id)).count("referral.stalled") == 1
    # A scheduler that starts again long after (a new process: its own engine) catches up
    # with one event, not one per period missed.
    restarted = Database(settings)
    try:
        await fire_due(restarted, rules_of(settings), start + dt.timedelta(days=5 * days + 1))
    finally:
        await restarted.dispose()
    stalled = [o for m, o in await fired(services, referral_id) if m == "referral.stalled"]
    assert len(stalled) == 2 and stalled[1].endswith("/5")


async def test_work_on_the_case_resets_the_stall_and_custody_holds_never_stall(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    working = await referral_in(http, prison, kemensos, facility, "in_service", code)
    held = await referral_in(http, prison, kemensos, facility, "in_service", code)
    response = await act(http, kemensos, held, "hold", reason_code="returned_to_custody")
    assert response.status_code == 200, response.text
    await fire(services, settings, utcnow() + dt.timedelta(days=settings.stall_days * 3))
    assert "referral.stalled" in kinds(await fired(services, working))
    assert "referral.stalled" not in kinds(await fired(services, held))


async def test_follow_ups_fall_due_after_a_completed_close(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    referral_id = await referral_in(http, prison, kemensos, facility, "closed", code)
    detail = (await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)).json()
    due = dt.date.fromisoformat(detail["next_follow_up_due"])
    await fire(services, settings, local_midnight(settings, due) - dt.timedelta(seconds=1))
    assert "referral.follow_up_due" not in kinds(await fired(services, referral_id))
    await fire(services, settings, local_midnight(settings, due))
    assert [o for m, o in await fired(services, referral_id) if m.endswith("follow_up_due")] == [
        "1"
    ]


async def test_an_imported_backlog_fires_no_moment_already_past(
    clients: Clients, services: Runtime, settings: Settings, facility: str
) -> None:
    prison = await clients.prison(facility)
    sender = dataclasses.replace(await sender_for(services, prison.client_id), backfill=True)
    result = await receive_event(sender, make_event(facility, release_days=-40))
    referral_id = result.body["referral"]["id"]
    await fire(services, settings, utcnow())
    assert await fired(services, referral_id) == []


SCHEDULER = """
import asyncio, datetime as dt, sys
import app.models  # every table, for the ORM's flush order
from app.core.config import Settings
from app.core.db import Database
from app.referrals.scheduler import fire_due, rules_of

async def main() -> None:
    settings = Settings(database_url=sys.argv[1])
    now = dt.datetime.fromisoformat(sys.argv[2])
    db = Database(settings)
    total = 0
    for _ in range(5):
        total += await fire_due(db, rules_of(settings), now)
    await db.dispose()
    print(total)

asyncio.run(main())
"""


async def test_two_scheduler_processes_fire_each_moment_once(
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
    backend: str,
) -> None:
    if backend != "postgres":
        pytest.skip("the embedded SQLite default runs one process")
    prison = await clients.prison(facility)
    # Released up to 90 days ago, received: enough due rows for several batches each.
    ids = [uuid.UUID(i) for i in await seed_referrals(services, facility, prison.client_id, 1500)]
    async with services.db.transaction() as session:
        await session.execute(
            update(Referral).where(Referral.id.in_(ids)).values(next_moment_at=utcnow())
        )
    env = {**os.environ, "RUJUKAN_DATA_KEY": TEST_DATA_KEY, "PYTHONPATH": os.getcwd()}
    now = utcnow().isoformat()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SCHEDULER,
            settings.database_url,
            now,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 180)
    assert [p.returncode for p in processes] == [0, 0]
    counts = [int(out) for out, _ in outputs]
    async with services.db.read_session() as session:
        moments = (
            await session.execute(
                select(ReferralMoment.moment, func.count())
                .where(ReferralMoment.referral_id.in_(ids))
                .group_by(ReferralMoment.moment)
            )
        ).all()
        events = (
            await session.execute(
                select(func.count()).where(
                    OutboxEvent.referral_id.in_(ids), OutboxEvent.type.in_(MOMENT_TYPES)
                )
            )
        ).scalar_one()
    per_moment = dict(moments)
    assert per_moment["referral.handover_reached"] == len(ids)  # every one, once
    assert events == sum(per_moment.values())  # one event per moment, none twice
    assert all(count > 0 for count in counts), counts  # both took a share


async def test_a_live_server_shows_the_moments_in_the_feed_within_a_minute(
    settings: Settings, clients: Clients, facility: str
) -> None:
    live = settings.model_copy(
        update={"run_worker_in_process": True, "moment_interval_seconds": 1.0}
    )
    prison = await clients.prison(facility)
    async with (
        live_server(live) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
    ):
        posted = await client.post(
            "/v1/release-events",
            json=make_event(facility, release_days=-20),
            headers=prison.headers,
        )
        assert posted.status_code == 201, posted.text
        referral_id = posted.json()["referral"]["id"]
        events = await _feed_events(client, prison, referral_id, 3, deadline=time.monotonic() + 60)
    assert {"referral.handover_reached", "referral.triage_overdue"} <= {e["type"] for e in events}


async def _feed_events(
    client: httpx.AsyncClient, prison: ApiClient, referral_id: str, count: int, deadline: float
) -> list[dict[str, Any]]:
    """The referral's events in the feed, polled until `count` arrived or the deadline."""
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    while time.monotonic() < deadline:
        params: dict[str, Any] = {"limit": 500}
        if cursor is not None:
            params["after"] = cursor
        page = (
            await client.get("/v1/referral-events", params=params, headers=prison.headers)
        ).json()
        cursor = page["next_cursor"]
        events += [e for e in page["items"] if e["data"]["referral_id"] == referral_id]
        if len(events) >= count:
            break
        await asyncio.sleep(0.25)
    return events
