"""The thin `data` of a change event (SPEC §7, `app/referrals/changes.py`): the referral's
`outcome` and its `responsible_agency` on the local day of the event, in the feed, for
transitions, a prison's events and the scheduler's moments, on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import httpx

from app.core.clock import Clock
from app.core.config import Settings
from app.referrals.changes import outbox_row
from app.referrals.models import OutboxEvent, Referral
from app.referrals.scheduler import fire_due, rules_of
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.factories import JAKARTA, make_event, supervised, today
from tests.support.referrals import drive, post_event, sentra_code


async def feed_of(
    http: httpx.AsyncClient, client: ApiClient, referral_id: str, count: int
) -> list[dict[str, Any]]:
    """The referral's events in the feed, in commit order, polled until `count` arrived (on
    PostgreSQL the feed holds back events behind any older open transaction)."""
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    deadline = time.monotonic() + 30
    while len(events) < count and time.monotonic() < deadline:
        params: dict[str, Any] = {"limit": 500}
        if cursor is not None:
            params["after"] = cursor
        response = await http.get("/v1/referral-events", params=params, headers=client.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        cursor = page["next_cursor"]
        events += [e for e in page["items"] if e["subject"] == referral_id]
        if not page["items"]:
            await asyncio.sleep(0.1)
    assert len(events) == count, [e["type"] for e in events]
    return events


def shown(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    return [(e["type"], e["data"]["outcome"], e["data"]["responsible_agency"]) for e in events]


def local_midnight(settings: Settings, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=settings.tz)


async def test_the_outcome_shows_once_closed(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    referral_id = await post_event(http, prison, make_event(facility, release_days=-2))
    await drive(http, kemensos, referral_id, ["accept", "assign", "start_service", "close"], code)
    assert shown(await feed_of(http, prison, referral_id, 6)) == [
        ("referral.created", None, "kemensos"),
        ("referral.status_changed", None, "kemensos"),
        ("referral.status_changed", None, "kemensos"),
        ("referral.status_changed", None, "kemensos"),
        ("referral.status_changed", "completed", "kemensos"),
        ("referral.report_published", "completed", "kemensos"),
    ]


async def test_in_custody_imipas_released_kemensos(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = make_event(facility, event_type="release.scheduled", release_days=3)
    referral_id = await post_event(http, prison, event)
    completed = {
        **event,
        "event_id": event["event_id"] + "-DONE",
        "event_type": "release.completed",
        "release": {**event["release"], "date": today().isoformat()},
    }
    await post_event(http, prison, completed)
    assert shown(await feed_of(http, prison, referral_id, 2)) == [
        ("referral.created", None, "imipas"),
        ("referral.updated", None, "kemensos"),
    ]


async def test_a_supervision_ended_event_hands_over_in_its_event_and_its_moment(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    """Released under Bapas supervision until 150 days from now: Imipas's. The prison says
    supervision ended today: its event, and the handover moment, say Kemensos."""
    prison = await clients.prison(facility)
    event = supervised(make_event(facility, release_days=-30))
    referral_id = await post_event(http, prison, event)
    ended = {
        **event,
        "event_id": event["event_id"] + "-END",
        "event_type": "supervision.ended",
        "release": {**event["release"], "supervision_end_date": today().isoformat()},
    }
    await post_event(http, prison, ended)
    await fire_due(services.db, rules_of(settings), dt.datetime.now(dt.UTC))
    assert shown(await feed_of(http, prison, referral_id, 3)) == [
        ("referral.created", None, "imipas"),
        ("referral.updated", None, "kemensos"),
        ("referral.handover_reached", None, "kemensos"),
    ]


async def test_moments_before_and_at_the_supervision_end_date(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    facility: str,
) -> None:
    """A moment says who is responsible on its own local day: a stall while Bapas still
    supervises is Imipas's; the handover, at the local midnight of the supervision end
    date, is Kemensos's."""
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    end = today() + dt.timedelta(days=settings.stall_days + 10)
    event = supervised(make_event(facility, release_days=-3))
    event["release"]["supervision_end_date"] = end.isoformat()
    referral_id = await post_event(http, prison, event)
    await drive(http, kemensos, referral_id, ["accept", "assign"], code)
    rules = rules_of(settings)
    now = dt.datetime.now(dt.UTC)
    await fire_due(services.db, rules, now + dt.timedelta(days=settings.stall_days + 1))
    await fire_due(services.db, rules, local_midnight(settings, end) - dt.timedelta(seconds=1))
    await fire_due(services.db, rules, local_midnight(settings, end))
    assert shown(await feed_of(http, prison, referral_id, 5)) == [
        ("referral.created", None, "imipas"),
        ("referral.status_changed", None, "imipas"),
        ("referral.status_changed", None, "imipas"),
        ("referral.stalled", None, "imipas"),
        ("referral.handover_reached", None, "kemensos"),
    ]


async def test_an_event_written_before_the_fields_existed_is_served_with_nulls(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """Rows kept from before this revision (up to the retention period) lack the two
    fields; the feed still serves them."""
    prison = await clients.prison(facility)
    referral_id = uuid.uuid4()
    async with services.db.transaction() as session:
        session.add(
            OutboxEvent(
                event_id=uuid.uuid4(),
                type="referral.updated",
                referral_id=referral_id,
                facility_code=facility,
                sentra_code=None,
                data={
                    "referral_id": str(referral_id),
                    "status": "received",
                    "previous_status": "received",
                    "custody_status": "released",
                    "version": 2,
                    "occurred_at": "2026-11-30T00:00:00+00:00",
                },
            )
        )
    (item,) = await feed_of(http, prison, str(referral_id), 1)
    assert item["data"]["outcome"] is None and item["data"]["responsible_agency"] is None


def test_the_local_day_of_the_event_decides() -> None:
    """Handover on 1 December: Kemensos's from local midnight in Jakarta (17:00 UTC the day
    before), not from midnight UTC."""
    handover = dt.date(2026, 12, 1)
    referral = Referral(
        id=uuid.uuid4(),
        status="received",
        custody_status="released",
        outcome=None,
        version=3,
        handover_date=handover,
    )
    midnight = dt.datetime.combine(handover, dt.time(0), tzinfo=JAKARTA).astimezone(dt.UTC)
    before = outbox_row(
        referral, "referral.updated", Clock(midnight - dt.timedelta(seconds=1), JAKARTA), "received"
    )
    at = outbox_row(referral, "referral.updated", Clock(midnight, JAKARTA), "received")
    assert before["data"]["responsible_agency"] == "imipas"
    assert at["data"]["responsible_agency"] == "kemensos"
    assert at["data"]["outcome"] is None
    # In UTC, 1 December has not begun yet at that moment.
    late = outbox_row(referral, "referral.updated", Clock(midnight, dt.UTC), "received")
    assert late["data"]["responsible_agency"] == "imipas"
