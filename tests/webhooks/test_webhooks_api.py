"""Webhook subscriptions and deliveries, end to end: API → outbox → relay → a real endpoint."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.audit import AuditEvent
from app.runtime import Runtime
from app.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.conftest import ApiClient, Clients
from tests.factories import make_event, unique
from tests.webhooks.receiver import Receiver, eventually
from tests.webhooks.support import running_relay, subscribe, unsubscribe

ALL_TYPES = ("referral.created", "referral.status_changed", "referral.updated")


async def post_event(http: httpx.AsyncClient, prison: ApiClient, **kwargs: Any) -> dict[str, Any]:
    event = make_event(prison.facility_codes[0], **kwargs)
    response = await http.post("/v1/release-events", json=event, headers=prison.headers)
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def transition(
    http: httpx.AsyncClient, client: ApiClient, referral_id: str, **body: Any
) -> dict[str, Any]:
    current = await http.get(f"/v1/referrals/{referral_id}", headers=client.headers)
    assert current.status_code == 200, current.text
    response = await http.post(
        f"/v1/referrals/{referral_id}/transitions",
        json=body,
        headers={**client.headers, "If-Match": current.headers["ETag"]},
    )
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


async def settled_log(
    http: httpx.AsyncClient, client: ApiClient, subscription_id: str, count: int
) -> list[dict[str, Any]]:
    """The delivery log once `count` deliveries are no longer pending (an endpoint answers
    before the relay has recorded its answer)."""
    items: list[dict[str, Any]] = []
    for _ in range(300):
        response = await http.get(
            f"/v1/webhook-subscriptions/{subscription_id}/deliveries",
            params={"limit": 500},
            headers=client.headers,
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        if len(items) >= count and all(i["status"] != "pending" for i in items):
            break
        await eventually(lambda: False, within=0.05)
    return items


# Subscriptions


async def test_create_shows_secret_once_and_lists_only_own(
    http: httpx.AsyncClient, clients: Clients, facility: str, services: Runtime
) -> None:
    prison = await clients.prison(facility)
    other = await clients.prison(facility)
    created = await http.post(
        "/v1/webhook-subscriptions",
        json={
            "url": "https://93.184.216.34/hooks/rujukan",
            "event_types": ["referral.status_changed"],
            "description": "SDP",
        },
        headers=prison.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["url"] == "https://93.184.216.34/hooks/rujukan"
    assert body["event_types"] == ["referral.status_changed"]
    assert body["status"] == "active"
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[len("whsec_") :], validate=True)) == 32
    sid = body["id"]

    one = await http.get(f"/v1/webhook-subscriptions/{sid}", headers=prison.headers)
    assert one.status_code == 200
    assert "secret" not in one.json()
    listed = await http.get("/v1/webhook-subscriptions", headers=prison.headers)
    assert [s["id"] for s in listed.json()["items"]] == [sid]
    assert "secret" not in listed.json()["items"][0]

    # Another client (same facility, even) neither sees nor manages it.
    assert (await http.get("/v1/webhook-subscriptions", headers=other.headers)).json()[
        "items"
    ] == []
    for method, path in (
        ("GET", f"/v1/webhook-subscriptions/{sid}"),
        ("DELETE", f"/v1/webhook-subscriptions/{sid}"),
        ("POST", f"/v1/webhook-subscriptions/{sid}/rotate-secret"),
        ("GET", f"/v1/webhook-subscriptions/{sid}/deliveries"),
    ):
        response = await http.request(method, path, headers=other.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "SUBSCRIPTION_NOT_FOUND"
    assert (
        await http.get("/v1/webhook-subscriptions/not-a-uuid", headers=prison.headers)
    ).status_code == 404

    # The secret is stored encrypted, never as given.
    async with services.db.read_session() as session:
        row = await session.get(WebhookSubscription, uuid.UUID(sid))
        assert row is not None
        assert secret not in row.secret_encrypted
        assert secret[len("whsec_") :] not in row.secret_encrypted

    rotated = await http.post(
        f"/v1/webhook-subscriptions/{sid}/rotate-secret", headers=prison.headers
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != secret
    assert rotated.json()["previous_secret_expires_at"] is not None

    deleted = await http.delete(f"/v1/webhook-subscriptions/{sid}", headers=prison.headers)
    assert deleted.status_code == 204
    assert (
        await http.get(f"/v1/webhook-subscriptions/{sid}", headers=prison.headers)
    ).status_code == 404
    assert (await http.get("/v1/webhook-subscriptions", headers=prison.headers)).json()[
        "items"
    ] == []

    async with services.db.read_session() as session:
        actions = (
            await session.execute(
                select(AuditEvent.action).where(AuditEvent.target_id == uuid.UUID(sid))
            )
        ).scalars()
        assert sorted(actions) == [
            "webhook_subscription.create",
            "webhook_subscription.delete",
            "webhook_subscription.rotate_secret",
        ]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
    ],
)
async def test_private_targets_are_refused(
    http: httpx.AsyncClient, clients: Clients, facility: str, url: str
) -> None:
    prison = await clients.prison(facility)
    response = await http.post(
        "/v1/webhook-subscriptions",
        json={"url": url, "event_types": ["referral.created"]},
        headers=prison.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "pointer": "/url",
            "code": "URL_NOT_ALLOWED",
            "detail": "the target is a loopback, private, link-local or otherwise non-public "
            "address",
        }
    ]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"url": "ftp://93.184.216.34/x", "event_types": ["referral.created"]}, "/url"),
        ({"url": "https://user:pw@93.184.216.34/x", "event_types": ["referral.created"]}, "/url"),
        ({"url": "https://user@93.184.216.34/x", "event_types": ["referral.created"]}, "/url"),
        ({"url": "file:///etc/passwd", "event_types": ["referral.created"]}, "/url"),
        ({"url": "gopher://93.184.216.34/x", "event_types": ["referral.created"]}, "/url"),
        ({"url": "not a url", "event_types": ["referral.created"]}, "/url"),
        ({"url": "https://93.184.216.34/x", "event_types": []}, "/event_types"),
        ({"url": "https://93.184.216.34/x", "event_types": ["referral.deleted"]}, "/event_types/0"),
        (
            {
                "url": "https://93.184.216.34/x",
                "event_types": ["referral.created", "referral.created"],
            },
            "/event_types/1",
        ),
        ({"url": "https://93.184.216.34/x", "event_types": ["referral.created"], "x": 1}, "/x"),
        ({"event_types": ["referral.created"]}, "/url"),
    ],
)
async def test_invalid_subscriptions_are_422_with_pointers(
    http: httpx.AsyncClient, clients: Clients, facility: str, body: dict[str, Any], pointer: str
) -> None:
    prison = await clients.prison(facility)
    response = await http.post("/v1/webhook-subscriptions", json=body, headers=prison.headers)
    assert response.status_code == 422, response.text
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


# Deliveries


async def test_signed_cloudevents_reach_only_subscribers_who_may_read(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    facility_a, facility_b = unique("LP"), unique("LP")
    sentra_code = unique("SENTRA")
    await clients.add_sentra(sentra_code)
    prison_a = await clients.prison(facility_a)
    prison_a2 = await clients.prison(facility_a, facility_b)
    prison_b = await clients.prison(facility_b)
    sentra = await clients.sentra(sentra_code)
    kemensos = await clients.kemensos()
    subs = {
        "/a": (prison_a, await subscribe(http, prison_a, receiver.url("/a"))),
        "/b": (prison_b, await subscribe(http, prison_b, receiver.url("/b"))),
        "/a2": (
            prison_a2,
            await subscribe(http, prison_a2, receiver.url("/a2"), "referral.status_changed"),
        ),
    }
    for path, (_, sub) in subs.items():
        receiver.secrets[path] = [sub["secret"]]
    try:
        async with running_relay(services):
            event = make_event(facility_a)
            created = await http.post("/v1/release-events", json=event, headers=prison_a.headers)
            assert created.status_code == 201
            rid = created.json()["referral"]["id"]
            await transition(http, kemensos, rid, action="accept")
            await transition(http, kemensos, rid, action="assign", sentra_code=sentra_code)
            await transition(http, sentra, rid, action="start_service")
            # a prison event that changes only the data: referral.updated
            event["event_type"] = "case.updated"
            event["event_id"] = unique("EV")
            event["person"]["phone"] = "+6281299999999"
            updated = await http.post("/v1/release-events", json=event, headers=prison_a.headers)
            assert updated.status_code == 200, updated.text

            def mine(path: str) -> list[tuple[str, str]]:
                return [
                    (d.event["type"], d.event["data"]["status"])
                    for d in receiver.accepted(path)
                    if d.event and d.event["subject"] == rid
                ]

            assert await eventually(lambda: len(mine("/a")) == 5, within=15), mine("/a")
            assert await eventually(lambda: len(mine("/a2")) == 3, within=15), mine("/a2")
            await eventually(lambda: False, within=0.5)  # anything misrouted has arrived
    finally:
        for client, sub in subs.values():
            await unsubscribe(http, client, sub["id"])

    assert sorted(mine("/a")) == sorted(
        [
            ("referral.created", "received"),
            ("referral.status_changed", "accepted"),
            ("referral.status_changed", "assigned"),
            ("referral.status_changed", "in_service"),
            ("referral.updated", "in_service"),
        ]
    )
    # A prison bound to A (and B) asked for status changes only.
    assert sorted(mine("/a2")) == sorted(
        [
            ("referral.status_changed", "accepted"),
            ("referral.status_changed", "assigned"),
            ("referral.status_changed", "in_service"),
        ]
    )
    # Facility B's prison may not read the referral: nothing reaches it.
    assert receiver.snapshot("/b") == []
    for delivery in receiver.snapshot():
        assert delivery.verified and delivery.signatures == 1
        assert delivery.event is not None
        assert delivery.event["source"] == "/v1/referrals"
        # No personal data in any body: only ids and statuses.
        raw = json.dumps(delivery.event)
        assert event["person"]["nik"] not in raw
        assert event["person"]["full_name"] not in raw
    # Deliveries are unordered (at-least-once, several in flight): pick the creation.
    first = next(
        d.event
        for d in receiver.accepted("/a")
        if d.event and d.event["type"] == "referral.created"
    )
    assert first["data"] == {
        "referral_id": rid,
        "status": "received",
        "previous_status": None,
        "outcome": None,
        "custody_status": "released",
        "responsible_agency": "kemensos",
        "version": 1,
        "occurred_at": first["data"]["occurred_at"],
    }


async def test_failing_endpoint_gets_every_event_with_a_stable_webhook_id(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    receiver.policy = lambda path, webhook_id, attempt: (500 if attempt <= 2 else 204, {})
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/flaky"))
    receiver.secrets["/flaky"] = [sub["secret"]]
    try:
        async with running_relay(services):
            referral_ids = [(await post_event(http, prison))["referral"]["id"] for _ in range(5)]
            assert await eventually(lambda: len(receiver.accepted("/flaky")) == 5, within=20)
        log = await http.get(
            f"/v1/webhook-subscriptions/{sub['id']}/deliveries", headers=prison.headers
        )
        assert [
            (i["status"], i["attempts"], i["last_status_code"]) for i in log.json()["items"]
        ] == [("delivered", 3, 204)] * 5
    finally:
        await unsubscribe(http, prison, sub["id"])

    seen = receiver.snapshot("/flaky")
    assert all(d.verified for d in seen)
    by_id: dict[str, list[int]] = {}
    for d in seen:
        by_id.setdefault(d.webhook_id, []).append(d.answered)
    # Three attempts per event, all under one webhook-id: 500, 500, then 204.
    assert sorted(by_id.values()) == [[500, 500, 204]] * 5
    assert sorted(d.event["subject"] for d in receiver.accepted("/flaky") if d.event) == sorted(
        referral_ids
    )


async def test_delivery_log_pagination_and_redelivery(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    prison = await clients.prison(facility)
    other = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/log"))
    receiver.secrets["/log"] = [sub["secret"]]
    path = f"/v1/webhook-subscriptions/{sub['id']}/deliveries"
    try:
        async with running_relay(services):
            for _ in range(3):
                await post_event(http, prison)
            assert await eventually(lambda: len(receiver.accepted("/log")) == 3, within=15)
            await settled_log(http, prison, sub["id"], 3)

            page = await http.get(path, params={"limit": 2}, headers=prison.headers)
            assert page.status_code == 200, page.text
            first = page.json()
            assert len(first["items"]) == 2 and first["next_cursor"]
            rest = await http.get(
                path, params={"limit": 2, "cursor": first["next_cursor"]}, headers=prison.headers
            )
            assert len(rest.json()["items"]) == 1 and rest.json()["next_cursor"] is None
            items = first["items"] + rest.json()["items"]
            assert {i["status"] for i in items} == {"delivered"}
            assert {i["attempts"] for i in items} == {1}
            assert {i["webhook_id"] for i in items} == {
                d.webhook_id for d in receiver.snapshot("/log")
            }
            assert all(i["next_attempt_at"] is None for i in items)

            tampered = first["next_cursor"][:-2] + (
                "AA" if first["next_cursor"][-2:] != "AA" else "BB"
            )
            bad = await http.get(path, params={"cursor": tampered}, headers=prison.headers)
            assert bad.status_code == 400 and bad.json()["code"] == "INVALID_CURSOR"
            filtered = await http.get(path, params={"status": "failed"}, headers=prison.headers)
            assert filtered.json()["items"] == []
            other_scope = await http.get(
                path,
                params={"status": "delivered", "cursor": first["next_cursor"]},
                headers=prison.headers,
            )
            assert other_scope.status_code == 400

            target = items[-1]
            again = await http.post(
                f"/v1/webhook-deliveries/{target['id']}/redeliver", headers=other.headers
            )
            assert again.status_code == 404
            assert again.json()["code"] == "DELIVERY_NOT_FOUND"
            again = await http.post(
                f"/v1/webhook-deliveries/{target['id']}/redeliver", headers=prison.headers
            )
            assert again.status_code == 202, again.text
            assert again.json()["status"] == "pending"
            assert await eventually(lambda: len(receiver.accepted("/log")) == 4, within=15)
            repeated = receiver.snapshot("/log")[-1]
            assert repeated.webhook_id == target["webhook_id"] and repeated.attempt == 2
            assert await eventually(lambda: True, within=0)
    finally:
        await unsubscribe(http, prison, sub["id"])


async def test_gone_disables_the_subscription_at_once(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    receiver.policy = lambda path, webhook_id, attempt: (410, {})
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/gone"))
    receiver.secrets["/gone"] = [sub["secret"]]
    try:
        async with running_relay(services):
            await post_event(http, prison)

            async def status() -> str:
                got = await http.get(
                    f"/v1/webhook-subscriptions/{sub['id']}", headers=prison.headers
                )
                return str(got.json()["status"])

            for _ in range(200):
                if await status() == "disabled":
                    break
                await eventually(lambda: False, within=0.05)
            got = (
                await http.get(f"/v1/webhook-subscriptions/{sub['id']}", headers=prison.headers)
            ).json()
            assert got["status"] == "disabled" and got["disabled_reason"] == "gone"
            await post_event(http, prison)  # no longer delivered
            await eventually(lambda: False, within=0.5)
        assert len(receiver.snapshot("/gone")) == 1
        log = (
            await http.get(
                f"/v1/webhook-subscriptions/{sub['id']}/deliveries", headers=prison.headers
            )
        ).json()["items"]
        assert [(i["status"], i["last_status_code"], i["last_error"]) for i in log] == [
            ("failed", 410, "gone")
        ]
        redeliver = await http.post(
            f"/v1/webhook-deliveries/{log[0]['id']}/redeliver", headers=prison.headers
        )
        assert redeliver.status_code == 409
        assert redeliver.json()["code"] == "SUBSCRIPTION_DISABLED"
        async with services.db.read_session() as session:
            audited = (
                await session.execute(
                    select(AuditEvent.outcome).where(
                        AuditEvent.target_id == uuid.UUID(sub["id"]),
                        AuditEvent.action == "webhook_subscription.disable",
                    )
                )
            ).scalars()
            assert list(audited) == ["gone"]
    finally:
        await unsubscribe(http, prison, sub["id"])


async def test_retry_after_is_honoured(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    receiver.policy = lambda path, webhook_id, attempt: (
        (429, {"Retry-After": "1"}) if attempt == 1 else (200, {})
    )
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/slow-down"))
    receiver.secrets["/slow-down"] = [sub["secret"]]
    try:
        async with running_relay(services):
            await post_event(http, prison)
            assert await eventually(lambda: len(receiver.accepted("/slow-down")) == 1, within=15)
    finally:
        await unsubscribe(http, prison, sub["id"])
    first, second = receiver.snapshot("/slow-down")
    assert first.answered == 429 and second.answered == 200
    # The fast test backoff is at most 0.2 s: only Retry-After explains a wait of 1 s.
    assert second.received_at - first.received_at >= 0.95


async def test_retries_exhausted_disables_the_subscription(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    receiver.policy = lambda path, webhook_id, attempt: (503, {})
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/down"))
    receiver.secrets["/down"] = [sub["secret"]]
    try:
        async with running_relay(services, webhook_retry_window_seconds=0.6):
            await post_event(http, prison)

            async def disabled() -> bool:
                got = await http.get(
                    f"/v1/webhook-subscriptions/{sub['id']}", headers=prison.headers
                )
                return bool(got.json()["status"] == "disabled")

            for _ in range(200):
                if await disabled():
                    break
                await eventually(lambda: False, within=0.05)
            got = (
                await http.get(f"/v1/webhook-subscriptions/{sub['id']}", headers=prison.headers)
            ).json()
            assert got["disabled_reason"] == "retries_exhausted"
        attempts = receiver.snapshot("/down")
        assert len(attempts) >= 2 and {d.answered for d in attempts} == {503}
        log = (
            await http.get(
                f"/v1/webhook-subscriptions/{sub['id']}/deliveries", headers=prison.headers
            )
        ).json()["items"]
        assert [(i["status"], i["attempts"]) for i in log] == [("failed", len(attempts))]
    finally:
        await unsubscribe(http, prison, sub["id"])


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/rotate"))
    rotated = await http.post(
        f"/v1/webhook-subscriptions/{sub['id']}/rotate-secret", headers=prison.headers
    )
    new_secret = rotated.json()["secret"]
    receiver.secrets["/rotate"] = [sub["secret"], new_secret]
    try:
        async with running_relay(services):
            await post_event(http, prison)
            assert await eventually(lambda: len(receiver.accepted("/rotate")) == 1, within=15)
    finally:
        await unsubscribe(http, prison, sub["id"])
    (delivery,) = receiver.snapshot("/rotate")
    assert delivery.signatures == 2
    assert delivery.verified_with == [0, 1]  # each secret alone verifies


async def test_a_crashed_attempt_is_retried_after_its_lease(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    """A worker that claims a delivery and dies leaves it due again once the lease ends."""
    from app.webhooks.delivery import Deliverer
    from app.webhooks.fanout import Fanout
    from tests.webhooks.support import fast_settings

    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/crash"))
    receiver.secrets["/crash"] = [sub["secret"]]
    try:
        await post_event(http, prison)
        crashed = Deliverer(
            services.db,
            services.cipher,
            fast_settings(services.settings, webhook_lease_seconds=3.0),
        )
        try:
            claimed = []
            for _ in range(200):  # the commit horizon is cluster-wide: other work delays it
                await Fanout(services.db).fan_out()
                claimed += [
                    a for a in await crashed.claim(500) if a.subscription_id == uuid.UUID(sub["id"])
                ]
                if claimed:
                    break
                await eventually(lambda: False, within=0.05)
            assert len(claimed) == 1
        finally:
            await crashed.aclose()  # "dies": never records an outcome
        async with running_relay(services):
            await eventually(lambda: False, within=0.5)
            assert receiver.snapshot("/crash") == []  # still leased
            assert await eventually(lambda: len(receiver.accepted("/crash")) == 1, within=10)
        async with services.db.read_session() as session:
            row = (
                await session.execute(
                    select(WebhookDelivery).where(
                        WebhookDelivery.subscription_id == uuid.UUID(sub["id"])
                    )
                )
            ).scalar_one()
            assert row.status == "delivered" and row.attempts == 2
            assert row.webhook_id == uuid.UUID(claimed[0].webhook_id)
    finally:
        await unsubscribe(http, prison, sub["id"])


async def test_deleted_subscription_gets_nothing_more(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/deleted"))
    receiver.secrets["/deleted"] = [sub["secret"]]
    await post_event(http, prison)
    await unsubscribe(http, prison, sub["id"])
    async with running_relay(services):
        await post_event(http, prison)
        await eventually(lambda: False, within=1.0)
    assert receiver.snapshot("/deleted") == []


async def test_a_slow_endpoint_times_out_and_is_retried(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    receiver.delay_seconds = 1.0  # longer than the relay's per-attempt timeout below
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/slow"))
    receiver.secrets["/slow"] = [sub["secret"]]
    try:
        async with running_relay(services, webhook_timeout_seconds=0.3):
            await post_event(http, prison)
            assert await eventually(lambda: len(receiver.snapshot("/slow")) >= 1, within=10)
            receiver.delay_seconds = 0.0
            log = []
            for _ in range(200):
                log = await settled_log(http, prison, sub["id"], 1)
                if log and log[0]["status"] == "delivered":
                    break
            assert [(i["status"], i["last_status_code"]) for i in log] == [("delivered", 200)]
            assert log[0]["attempts"] >= 2
    finally:
        await unsubscribe(http, prison, sub["id"])
    # Every attempt carried the same webhook-id.
    assert {d.webhook_id for d in receiver.snapshot("/slow")} == {log[0]["webhook_id"]}

    metrics = (await http.get("/metrics")).text
    assert 'rujukan_webhook_delivery_attempts_total{outcome="retry",reason="timeout"}' in metrics
    assert "rujukan_webhook_event_to_delivery_seconds_count" in metrics
    assert "rujukan_outbox_backlog" in metrics


async def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
) -> None:
    """The check is repeated on every connection: DNS answers can change after creation."""
    prison = await clients.prison(facility)
    url = f"http://localhost:{receiver.port}/private"
    sub = await subscribe(http, prison, url)  # accepted while private targets were allowed
    receiver.secrets["/private"] = [sub["secret"]]
    try:
        async with running_relay(services, webhook_allow_private=False):
            await post_event(http, prison)
            log: list[dict[str, Any]] = []
            for _ in range(200):
                log = (
                    await http.get(
                        f"/v1/webhook-subscriptions/{sub['id']}/deliveries",
                        headers=prison.headers,
                    )
                ).json()["items"]
                if log and log[0]["attempts"] >= 1 and log[0]["last_error"]:
                    break
                await eventually(lambda: False, within=0.05)
            assert log[0]["status"] == "pending"
            assert (log[0]["last_error"], log[0]["last_status_code"]) == ("private_address", None)
    finally:
        await unsubscribe(http, prison, sub["id"])
    assert receiver.snapshot("/private") == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    services: Runtime,
    receiver: Receiver,
    allow_private: None,
    status: int,
) -> None:
    """A 3xx is a failed attempt: the relay never goes where `Location` points (it could be
    anywhere, a private address too)."""
    receiver.policy = lambda path, webhook_id, attempt: (
        (status, {"Location": receiver.url("/elsewhere")}) if path == "/moved" else (200, {})
    )
    prison = await clients.prison(facility)
    sub = await subscribe(http, prison, receiver.url("/moved"), "referral.created")
    receiver.secrets["/moved"] = [sub["secret"]]
    receiver.secrets["/elsewhere"] = [sub["secret"]]
    try:
        async with running_relay(services):
            await post_event(http, prison)
            assert await eventually(lambda: len(receiver.snapshot("/moved")) >= 2, within=20)
            log: list[dict[str, Any]] = []
            for _ in range(200):
                log = (
                    await http.get(
                        f"/v1/webhook-subscriptions/{sub['id']}/deliveries",
                        headers=prison.headers,
                    )
                ).json()["items"]
                if log and log[0]["last_status_code"] is not None:
                    break
                await eventually(lambda: False, within=0.05)
    finally:
        await unsubscribe(http, prison, sub["id"])
    assert receiver.snapshot("/elsewhere") == []
    assert {d.answered for d in receiver.snapshot("/moved")} == {status}
    assert (log[0]["status"], log[0]["last_status_code"], log[0]["last_error"]) == (
        "pending",
        status,
        "http_status",
    )
