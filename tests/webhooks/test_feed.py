"""The change feed: GET /v1/referral-events, in commit order, never skipping a late commit."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.cursor import CursorCodec
from app.referrals.models import OutboxEvent
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.factories import make_event, unique
from tests.support.referrals import act


def outbox_row(facility: str, event_id: uuid.UUID | None = None) -> OutboxEvent:
    """An outbox row written straight in a transaction the test controls."""
    referral_id = uuid.uuid4()
    return OutboxEvent(
        event_id=event_id or uuid.uuid4(),
        type="referral.updated",
        referral_id=referral_id,
        facility_code=facility,
        sentra_code=None,
        data={
            "referral_id": str(referral_id),
            "status": "received",
            "previous_status": "received",
            "outcome": None,
            "custody_status": "in_custody",
            "responsible_agency": "imipas",
            "version": 2,
            "occurred_at": "2026-11-30T00:00:00+00:00",
        },
    )


async def post_event(http: httpx.AsyncClient, prison: ApiClient, **kwargs: Any) -> str:
    event = make_event(prison.facility_codes[0], **kwargs)
    response = await http.post("/v1/release-events", json=event, headers=prison.headers)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["referral"]["id"])


async def poll(
    http: httpx.AsyncClient, client: ApiClient, after: str | None, limit: int = 50
) -> tuple[list[dict[str, Any]], str]:
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        params["after"] = after
    response = await http.get("/v1/referral-events", params=params, headers=client.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["next_cursor"], str) and body["next_cursor"]
    return body["items"], body["next_cursor"]


async def drain(
    http: httpx.AsyncClient, client: ApiClient, after: str | None, limit: int = 50
) -> tuple[list[dict[str, Any]], str]:
    """Every page until an empty one (bounded)."""
    items: list[dict[str, Any]] = []
    cursor = after
    for _ in range(1000):
        page, next_cursor = await poll(http, client, cursor, limit)
        items.extend(page)
        if not page:
            # An empty page keeps the position: the same cursor comes back.
            assert next_cursor == cursor or cursor is None
            return items, next_cursor
        cursor = next_cursor
    raise AssertionError("the feed did not end")


async def collect(
    http: httpx.AsyncClient,
    client: ApiClient,
    after: str | None,
    count: int,
    limit: int = 50,
    within: float = 20.0,
) -> tuple[list[dict[str, Any]], str | None]:
    """Poll until `count` events came. The horizon is cluster-wide: a transaction open in
    any database of the server (another test run, a bulk load) delays visibility a little."""
    items: list[dict[str, Any]] = []
    cursor = after
    deadline = asyncio.get_running_loop().time() + within
    while len(items) < count and asyncio.get_running_loop().time() < deadline:
        page, next_cursor = await poll(http, client, cursor, limit)
        items.extend(page)
        cursor = next_cursor
        if not page:
            await asyncio.sleep(0.05)
    return items, cursor


async def test_feed_pages_through_visible_events_in_order(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    stranger = await clients.prison(unique("LP"))
    kemensos = await clients.kemensos()
    ids = [await post_event(http, prison) for _ in range(3)]
    await_transition = await http.get(f"/v1/referrals/{ids[0]}", headers=kemensos.headers)
    accepted = await http.post(
        f"/v1/referrals/{ids[0]}/transitions",
        json={"action": "accept"},
        headers={**kemensos.headers, "If-Match": await_transition.headers["ETag"]},
    )
    assert accepted.status_code == 200, accepted.text

    items, cursor = await collect(http, prison, None, 4, limit=2)  # from the oldest event on
    assert cursor is not None
    assert [(i["type"], i["subject"]) for i in items] == [
        ("referral.created", ids[0]),
        ("referral.created", ids[1]),
        ("referral.created", ids[2]),
        ("referral.status_changed", ids[0]),
    ]
    for item in items:
        assert set(item) == {
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "subject",
            "datacontenttype",
            "data",
        }
        assert item["specversion"] == "1.0" and item["source"] == "/v1/referrals"
        assert item["data"]["referral_id"] == item["subject"]
        uuid.UUID(item["id"])
    assert items[3]["data"]["status"] == "accepted"
    assert items[3]["data"]["previous_status"] == "received"
    assert len({i["id"] for i in items}) == 4

    # Nothing new: an empty page and the same cursor; a new change shows up after it.
    assert await poll(http, prison, cursor) == ([], cursor)
    later = await post_event(http, prison)
    page, _ = await collect(http, prison, cursor, 1)
    assert [(i["type"], i["subject"]) for i in page] == [("referral.created", later)]

    # Another facility's prison sees none of it.
    others, _ = await drain(http, stranger, None)
    assert others == []


async def test_sentra_sees_events_from_its_assignment_on(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    sentra_code = unique("SENTRA")
    await clients.add_sentra(sentra_code)
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    sentra = await clients.sentra(sentra_code)
    rid = await post_event(http, prison)
    for body in ({"action": "accept"}, {"action": "assign", "sentra_code": sentra_code}):
        current = await http.get(f"/v1/referrals/{rid}", headers=kemensos.headers)
        response = await http.post(
            f"/v1/referrals/{rid}/transitions",
            json=body,
            headers={**kemensos.headers, "If-Match": current.headers["ETag"]},
        )
        assert response.status_code == 200, response.text
    items, cursor = await collect(http, sentra, None, 1, limit=500)
    assert await poll(http, sentra, cursor) == ([], cursor)
    assert [(i["type"], i["data"]["status"]) for i in items] == [
        ("referral.status_changed", "assigned")
    ]


async def test_reassignment_is_an_update_and_return_a_status_change(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """`assign` while assigned keeps the status and replaces `sentra_code`: a
    `referral.updated`; `return` moves `assigned` → `accepted` and clears it: a
    `referral.status_changed`. Each event is visible as of its change: the sentra a
    referral leaves does not see the event of its leaving."""
    first, second = unique("SENTRA"), unique("SENTRA")
    await clients.add_sentra(first)
    await clients.add_sentra(second)
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    rid = await post_event(http, prison)
    for action, fields in (
        ("accept", {}),
        ("assign", {"sentra_code": first}),
        ("assign", {"sentra_code": second}),
        ("return", {"reason_code": "no_capacity"}),
    ):
        response = await act(http, kemensos, rid, action, **fields)
        assert response.status_code == 200, response.text
    items, cursor = await collect(http, prison, None, 5, limit=500)
    assert await poll(http, prison, cursor) == ([], cursor)
    assert [
        (i["type"], i["data"]["previous_status"], i["data"]["status"], i["data"]["version"])
        for i in items
    ] == [
        ("referral.created", None, "received", 1),
        ("referral.status_changed", "received", "accepted", 2),
        ("referral.status_changed", "accepted", "assigned", 3),
        ("referral.updated", "assigned", "assigned", 4),
        ("referral.status_changed", "assigned", "accepted", 5),
    ]
    for code, expected in (
        (first, [("referral.status_changed", 3)]),
        (second, [("referral.updated", 4)]),
    ):
        seen, _ = await drain(http, await clients.sentra(code), None, limit=500)
        assert [(i["type"], i["data"]["version"]) for i in seen] == expected, code


@pytest.mark.parametrize("limit", ["0", "501", "x"])
async def test_limit_out_of_range_is_422(
    http: httpx.AsyncClient, clients: Clients, facility: str, limit: str
) -> None:
    prison = await clients.prison(facility)
    response = await http.get(
        "/v1/referral-events", params={"limit": limit}, headers=prison.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "limit"


async def test_tampered_or_foreign_cursor_is_400(
    http: httpx.AsyncClient, clients: Clients, facility: str, services: Runtime
) -> None:
    prison = await clients.prison(facility)
    await post_event(http, prison)
    _, cursor = await poll(http, prison, None)
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    for bad in (flipped, "garbage", "", "A" * 600, cursor + "x"):
        response = await http.get(
            "/v1/referral-events", params={"after": bad}, headers=prison.headers
        )
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["code"] == "INVALID_CURSOR"
        assert response.json()["errors"][0]["parameter"] == "after"
    # A cursor of another listing (the audit log's, the deliveries') is refused the same way.
    foreign = CursorCodec(services.cipher.cursor_key).encode("audit-events", [1, 1])
    response = await http.get(
        "/v1/referral-events", params={"after": foreign}, headers=prison.headers
    )
    assert response.status_code == 400


async def test_an_event_that_commits_late_is_not_skipped(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    backend: str,
) -> None:
    """A transaction writes its outbox row first and commits last: the poller that moved
    past the later rows still gets it (ordering by id alone would skip it for good)."""
    if backend != "postgres":
        pytest.skip("SQLite serialises writers: there is no late commit to miss")
    prison = await clients.prison(facility)
    _, cursor = await drain(http, prison, None)

    late_id = uuid.uuid4()
    async with services.db.sessionmaker() as slow, slow.begin():
        slow.add(outbox_row(facility, late_id))
        await slow.flush()  # its id is now below the ids of the events posted next
        late_row_id = (await slow.execute(text("SELECT max(id) FROM outbox_events"))).scalar_one()
        quick = [await post_event(http, prison) for _ in range(2)]

        seen: list[dict[str, Any]] = []
        page, cursor = await poll(http, prison, cursor)
        seen.extend(page)
        # The open transaction holds the horizon: the later commits wait behind it.
        assert page == []
        # committed now
    more, _ = await collect(http, prison, cursor, 3)
    seen.extend(more)
    async with services.db.read_session() as session:
        rows = (
            await session.execute(
                text("SELECT id FROM outbox_events WHERE facility_code = :f ORDER BY id"),
                {"f": facility},
            )
        ).scalars()
        assert min(rows) == late_row_id  # it really was numbered before the others
    assert next(i["id"] for i in seen) == str(late_id)
    assert [i["subject"] for i in seen[1:]] == quick
    assert len(seen) == 3


async def test_relay_fan_out_does_not_skip_a_late_commit(
    clients: Clients, facility: str, services: Runtime, backend: str
) -> None:
    """The relay reads the outbox the same way: a row committed late is still fanned out."""
    if backend != "postgres":
        pytest.skip("SQLite serialises writers: there is no late commit to miss")
    from app.webhooks.outbox import OutboxPosition, committed_after

    async with services.db.read_session() as session:
        last = (
            await session.execute(
                text("SELECT txid, id FROM outbox_events ORDER BY txid DESC, id DESC LIMIT 1")
            )
        ).first()
        start = OutboxPosition(last.txid, last.id) if last else OutboxPosition(0, 0)

    late, quick_row = outbox_row(facility), outbox_row(facility)
    async with services.db.sessionmaker() as slow, slow.begin():
        slow.add(late)
        await slow.flush()
        async with services.db.transaction() as quick:
            quick.add(quick_row)
        async with services.db.read_session() as session:
            visible = list(
                (
                    await session.execute(committed_after(start, postgresql=True, limit=1000))
                ).scalars()
            )
        assert [r.event_id for r in visible if r.facility_code == facility] == []
    for _ in range(400):  # the horizon is cluster-wide: see `collect`
        async with services.db.read_session() as session:
            visible = list(
                (
                    await session.execute(committed_after(start, postgresql=True, limit=1000))
                ).scalars()
            )
        if len([r for r in visible if r.facility_code == facility]) >= 2:
            break
        await asyncio.sleep(0.05)
    assert [r.event_id for r in visible if r.facility_code == facility] == [
        late.event_id,
        quick_row.event_id,
    ]
    assert late.id < quick_row.id  # numbered first, committed last
