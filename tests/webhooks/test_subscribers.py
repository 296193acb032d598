"""Every role that reads referrals subscribes (SPEC §2, §7): each client sees only its own
subscriptions, and each receives exactly the events of the referrals it may read — as of
the change and again when the event is delivered."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.audit import AuditEvent
from app.core.clock import Clock, utcnow
from app.referrals.changes import outbox_row
from app.referrals.domain import ChangeType
from app.referrals.models import OutboxEvent, Referral
from app.runtime import Runtime
from app.webhooks.models import SubscriptionStatus, WebhookSubscription
from app.webhooks.signing import new_secret, seal_secret
from tests.conftest import ApiClient, Clients
from tests.factories import make_event, supervised, unique
from tests.webhooks.receiver import Receiver, eventually
from tests.webhooks.support import running_relay, subscribe, unsubscribe

ALL = ("referral.created", "referral.status_changed", "referral.updated")


async def transition(
    http: httpx.AsyncClient, client: ApiClient, referral_id: str, **body: Any
) -> None:
    current = await http.get(f"/v1/referrals/{referral_id}", headers=client.headers)
    assert current.status_code == 200, current.text
    response = await http.post(
        f"/v1/referrals/{referral_id}/transitions",
        json=body,
        headers={**client.headers, "If-Match": current.headers["ETag"]},
    )
    assert response.status_code == 200, response.text


async def post(http: httpx.AsyncClient, prison: ApiClient, event: dict[str, Any]) -> str:
    response = await http.post("/v1/release-events", json=event, headers=prison.headers)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["referral"]["id"])


def received(receiver: Receiver, path: str) -> list[tuple[str, str]]:
    """(subject, type) of every event accepted on `path`, sorted."""
    return sorted((d.event["subject"], d.event["type"]) for d in receiver.accepted(path) if d.event)


async def deliveries(
    http: httpx.AsyncClient, client: ApiClient, subscription_id: str
) -> list[dict[str, Any]]:
    response = await http.get(
        f"/v1/webhook-subscriptions/{subscription_id}/deliveries",
        params={"limit": 500},
        headers=client.headers,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("role", ["prison", "bapas", "kemensos", "sentra"])
async def test_each_reading_role_manages_only_its_own_subscriptions(
    http: httpx.AsyncClient, clients: Clients, role: str
) -> None:
    owner = await clients.make(role)
    other = await clients.make(role)
    sub = await subscribe(http, owner, "https://93.184.216.34/x", "referral.created")
    sid = sub["id"]
    try:
        listed = await http.get("/v1/webhook-subscriptions", headers=owner.headers)
        assert [s["id"] for s in listed.json()["items"]] == [sid]
        assert (await http.get("/v1/webhook-subscriptions", headers=other.headers)).json() == {
            "items": []
        }
        for method, path in (
            ("GET", f"/v1/webhook-subscriptions/{sid}"),
            ("DELETE", f"/v1/webhook-subscriptions/{sid}"),
            ("POST", f"/v1/webhook-subscriptions/{sid}/rotate-secret"),
            ("POST", f"/v1/webhook-subscriptions/{sid}/enable"),
            ("GET", f"/v1/webhook-subscriptions/{sid}/deliveries"),
        ):
            response = await http.request(method, path, headers=other.headers)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["code"] == "SUBSCRIPTION_NOT_FOUND"
        one = await http.get(f"/v1/webhook-subscriptions/{sid}", headers=owner.headers)
        assert one.status_code == 200 and one.json()["status"] == "active"
    finally:
        await unsubscribe(http, owner, sid)


@pytest.mark.parametrize("role", ["auditor", "admin"])
async def test_roles_that_read_no_referral_have_no_subscriptions(
    http: httpx.AsyncClient, clients: Clients, role: str
) -> None:
    client = await clients.make(role)
    sid = uuid.uuid4()
    for method, path in (
        ("POST", "/v1/webhook-subscriptions"),
        ("GET", "/v1/webhook-subscriptions"),
        ("GET", f"/v1/webhook-subscriptions/{sid}"),
        ("DELETE", f"/v1/webhook-subscriptions/{sid}"),
        ("POST", f"/v1/webhook-subscriptions/{sid}/rotate-secret"),
        ("POST", f"/v1/webhook-subscriptions/{sid}/enable"),
        ("GET", f"/v1/webhook-subscriptions/{sid}/deliveries"),
        ("POST", f"/v1/webhook-deliveries/{uuid.uuid4()}/redeliver"),
    ):
        response = await http.request(
            method,
            path,
            json={"url": "https://93.184.216.34/x", "event_types": ["referral.created"]}
            if path == "/v1/webhook-subscriptions" and method == "POST"
            else None,
            headers=client.headers,
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "ROLE_NOT_PERMITTED"
    assert (await http.get("/v1/referral-events", headers=client.headers)).status_code == 403


@pytest.mark.parametrize("role", ["kemensos", "sentra"])
async def test_subscriptions_made_before_the_prison_only_rule_are_visible_again(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, role: str
) -> None:
    """A kemensos or sentra client's subscription written when only prisons could see
    theirs is its owner's to list, read and delete."""
    client = await clients.make(role)
    now = utcnow()
    row = WebhookSubscription(
        id=uuid.uuid4(),
        client_id=uuid.UUID(client.client_id),
        url="https://93.184.216.34/legacy",
        event_types=["referral.created"],
        description="made before",
        status=SubscriptionStatus.active,
        created_at=now,
        updated_at=now,
    )
    row.secret_encrypted = seal_secret(services.cipher, row.id, new_secret())
    async with services.db.transaction() as session:
        session.add(row)
    listed = await http.get("/v1/webhook-subscriptions", headers=client.headers)
    assert [s["id"] for s in listed.json()["items"]] == [str(row.id)]
    await unsubscribe(http, client, str(row.id))
    assert (await http.get("/v1/webhook-subscriptions", headers=client.headers)).json() == {
        "items": []
    }


async def test_each_role_receives_exactly_what_it_may_read(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    facility, other_facility = unique("LP"), unique("LP")
    bapas_code, sentra_code = unique("BAPAS"), unique("SENTRA")
    await clients.add_sentra(sentra_code)
    prison = await clients.prison(facility)
    other_prison = await clients.prison(other_facility)
    bapas = await clients.bapas(bapas_code)
    kemensos = await clients.kemensos()
    sentra = await clients.sentra(sentra_code)
    subscribers = {
        "/prison": prison,
        "/bapas": bapas,
        "/kemensos": kemensos,
        "/sentra": sentra,
    }
    subs = {path: await subscribe(http, c, receiver.url(path)) for path, c in subscribers.items()}
    for path, sub in subs.items():
        receiver.secrets[path] = [sub["secret"]]
    try:
        async with running_relay(services):
            # Supervised by the Bapas, from the prison's facility, assigned to the sentra.
            event = supervised(make_event(facility))
            event["release"]["bapas_code"] = bapas_code
            mine = await post(http, prison, event)
            await transition(http, kemensos, mine, action="accept")
            await transition(http, kemensos, mine, action="assign", sentra_code=sentra_code)
            await transition(http, sentra, mine, action="start_service")
            # Another prison's unsupervised case that nobody assigns.
            theirs = await post(http, other_prison, make_event(other_facility))
            expected = {
                "/prison": [
                    (mine, "referral.created"),
                    (mine, "referral.status_changed"),
                    (mine, "referral.status_changed"),
                    (mine, "referral.status_changed"),
                ],
                "/kemensos": [
                    (mine, "referral.created"),
                    (mine, "referral.status_changed"),
                    (mine, "referral.status_changed"),
                    (mine, "referral.status_changed"),
                    (theirs, "referral.created"),
                ],
                # The sentra reads the referral from its assignment on.
                "/sentra": [(mine, "referral.status_changed"), (mine, "referral.status_changed")],
            }
            expected["/bapas"] = expected["/prison"]
            assert await eventually(
                lambda: all(
                    len(received(receiver, path)) >= len(events)
                    for path, events in expected.items()
                ),
                within=20,
            ), {path: received(receiver, path) for path in expected}
            await eventually(lambda: False, within=0.5)  # anything misrouted has arrived
        for path, events in expected.items():
            assert received(receiver, path) == sorted(events), path
        assert all(d.verified for d in receiver.snapshot())
    finally:
        for path, sub in subs.items():
            await unsubscribe(http, subscribers[path], sub["id"])


async def test_a_sentra_reassigned_away_receives_nothing_more(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    """Deliveries queued while the sentra read the referral are not sent once it has been
    reassigned away (visibility when the event is delivered); the new sentra receives the
    reassignment on."""
    facility = unique("LP")
    first, second = unique("SENTRA"), unique("SENTRA")
    await clients.add_sentra(first)
    await clients.add_sentra(second)
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    leaving, arriving = await clients.sentra(first), await clients.sentra(second)
    subs = {
        "/leaving": (leaving, await subscribe(http, leaving, receiver.url("/leaving"), *ALL)),
        "/arriving": (arriving, await subscribe(http, arriving, receiver.url("/arriving"), *ALL)),
    }
    for path, (_, sub) in subs.items():
        receiver.secrets[path] = [sub["secret"]]
    try:
        moved = await post(http, prison, make_event(facility))
        stays = await post(http, prison, make_event(facility))
        for rid in (moved, stays):
            await transition(http, kemensos, rid, action="accept")
            await transition(http, kemensos, rid, action="assign", sentra_code=first)
        # No relay yet: the leaving sentra's deliveries wait while it is reassigned away.
        await transition(http, kemensos, moved, action="assign", sentra_code=second)
        await transition(http, arriving, moved, action="start_service")
        async with running_relay(services):
            assert await eventually(
                lambda: (
                    len(received(receiver, "/arriving")) == 2
                    and len(received(receiver, "/leaving")) == 1
                ),
                within=20,
            )
            leaving_log = []
            for _ in range(200):
                leaving_log = await deliveries(http, leaving, subs["/leaving"][1]["id"])
                if len(leaving_log) == 2 and all(d["status"] != "pending" for d in leaving_log):
                    break
                await eventually(lambda: False, within=0.05)
            await eventually(lambda: False, within=0.5)
        # The sentra that stays assigned receives its referral's assignment.
        assert received(receiver, "/leaving") == [(stays, "referral.status_changed")]
        assert sorted(
            (d["referral_id"], d["status"], d["last_error"]) for d in leaving_log
        ) == sorted([(stays, "delivered", None), (moved, "cancelled", "not_readable")])
        # The arriving sentra: the reassignment (an update) and what followed.
        assert received(receiver, "/arriving") == sorted(
            [(moved, "referral.updated"), (moved, "referral.status_changed")]
        )
        # Later changes of the moved referral never reach the sentra it left.
        async with running_relay(services):
            await transition(http, arriving, moved, action="hold", reason_code="other")
            assert await eventually(lambda: len(received(receiver, "/arriving")) == 3, within=20)
            await eventually(lambda: False, within=0.5)
        assert [s for s, _ in received(receiver, "/leaving")] == [stays]
    finally:
        for client, sub in subs.values():
            await unsubscribe(http, client, sub["id"])


async def test_enable_resumes_a_disabled_subscription_with_later_events(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    facility = unique("LP")
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    gone = True
    receiver.policy = lambda path, webhook_id, attempt: (410 if gone else 204, {})
    sub = await subscribe(http, kemensos, receiver.url("/portal"), "referral.created")
    sid = sub["id"]
    receiver.secrets["/portal"] = [sub["secret"]]
    url = f"/v1/webhook-subscriptions/{sid}"
    try:
        # Enabling an active subscription changes nothing.
        before = (await http.get(url, headers=kemensos.headers)).json()
        again = await http.post(f"{url}/enable", headers=kemensos.headers)
        assert again.status_code == 200 and again.json() == before
        async with running_relay(services):
            first = await post(http, prison, make_event(facility))
            for _ in range(200):
                if (await http.get(url, headers=kemensos.headers)).json()["status"] == "disabled":
                    break
                await eventually(lambda: False, within=0.05)
            # Committed while disabled: never delivered, but in the feed.
            meanwhile = await post(http, prison, make_event(facility))
            await eventually(lambda: False, within=0.3)
            gone = False
            enabled = await http.post(f"{url}/enable", headers=kemensos.headers)
            assert enabled.status_code == 200, enabled.text
            body = enabled.json()
            assert (body["status"], body["disabled_reason"], body["disabled_at"]) == (
                "active",
                None,
                None,
            )
            after = await post(http, prison, make_event(facility))
            assert await eventually(lambda: len(receiver.accepted("/portal")) == 1, within=20)
            await eventually(lambda: False, within=0.5)
        assert received(receiver, "/portal") == [(after, "referral.created")]
        assert [d.event["subject"] for d in receiver.snapshot("/portal") if d.event] == [
            first,
            after,
        ]
        log = await deliveries(http, kemensos, sid)
        assert meanwhile not in {d["referral_id"] for d in log}
        async with services.db.read_session() as session:
            audited = (
                await session.execute(
                    select(AuditEvent.outcome).where(
                        AuditEvent.target_id == uuid.UUID(sid),
                        AuditEvent.action == "webhook_subscription.enable",
                    )
                )
            ).scalars()
            assert list(audited) == ["success"]  # the no-op enable wrote nothing
    finally:
        await unsubscribe(http, kemensos, sid)
    deleted = await http.post(f"{url}/enable", headers=kemensos.headers)
    assert deleted.status_code == 404 and deleted.json()["code"] == "SUBSCRIPTION_NOT_FOUND"


async def test_every_event_type_is_subscribed_relayed_and_in_the_feed(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    """SPEC §7's every type (the §10-12 producers and the moments write them through the
    same outbox): accepted by a subscription, delivered, and served by the feed, with the
    id of the record an event is about."""
    facility = unique("LP")
    prison = await clients.prison(facility)
    every = [t.value for t in ChangeType]
    assert len(every) == 18
    sub = await subscribe(http, prison, receiver.url("/every"), *every)
    assert sub["event_types"] == every
    receiver.secrets["/every"] = [sub["secret"]]
    rid = await post(http, prison, make_event(facility))
    # The producers' own row builder (`changes.outbox_row`), with the id of a record.
    async with services.db.transaction() as session:
        referral = await session.get(Referral, uuid.UUID(rid))
        assert referral is not None
        for event_type in every[1:]:
            row = outbox_row(
                referral,
                event_type,
                Clock(utcnow(), dt.UTC),
                referral.status,
                record_id=str(uuid.uuid4()),
            )
            session.add(OutboxEvent(**row))
    try:
        async with running_relay(services):
            assert await eventually(
                lambda: len(receiver.accepted("/every")) == len(every), within=20
            )
    finally:
        await unsubscribe(http, prison, sub["id"])
    assert sorted(t for _, t in received(receiver, "/every")) == sorted(every)
    # The prison's feed holds its own facility's events: this referral's alone.
    items: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": 500} if after is None else {"after": after}
        page = await http.get("/v1/referral-events", params=params, headers=prison.headers)
        assert page.status_code == 200, page.text
        items += [e for e in page.json()["items"] if e["subject"] == rid]
        after = page.json()["next_cursor"]
        if len(items) >= len(every):
            break
        await eventually(lambda: False, within=0.05)
    assert [e["type"] for e in items] == every
    assert all("record_id" in e["data"] for e in items[1:])
