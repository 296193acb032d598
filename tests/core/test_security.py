"""Privacy at rest and in logs, key rotation, retention (issue: security and privacy)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import os
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.core.config import Settings
from app.core.logging import JsonFormatter, quiet_chatty_loggers
from app.main import create_app
from app.ops.maintenance import anonymise_ended, rotate_keys
from app.referrals.models import Referral
from app.runtime import Runtime, build_runtime
from app.webhooks.models import WebhookSubscription
from app.webhooks.signing import open_secret
from tests.conftest import Clients
from tests.factories import make_event, nik_for
from tests.support.databases import pg_dump

CANARY_BIRTH = dt.date(1987, 6, 5)


def canary_event(facility: str) -> tuple[dict[str, Any], str, str, str]:
    serial = int(uuid.uuid4().int % 9000) + 1000
    nik = nik_for(CANARY_BIRTH, "male", district="327301", serial=serial)
    phone = f"+62899{serial:04d}{serial:04d}"
    name = f"Kanari Zulkarnaen {serial}"
    event = make_event(
        facility,
        person__nik=nik,
        person__birth_date=CANARY_BIRTH.isoformat(),
        person__phone=phone,
        person__full_name=name,
        person__domicile={"province_code": "32", "regency_code": "3273", "district_code": "327301"},
        needs__health={"napza_history": True, "hiv_positive": True, "disability_types": []},
    )
    return event, nik, phone, name


async def test_database_dump_holds_no_nik_phone_or_health_yet_nik_lookup_works(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    backend: str,
    database_url: str,
    services: Runtime,
) -> None:
    if backend != "postgres":
        pytest.skip("pg_dump is PostgreSQL's")
    prison = await clients.prison(facility)
    event, nik, phone, _ = canary_event(facility)
    posted = await http.post("/v1/release-events", json=event, headers=prison.headers)
    assert posted.status_code == 201
    dump = await pg_dump(database_url)
    assert posted.json()["referral"]["id"] in dump  # the dump is of the right database
    assert nik not in dump
    assert phone not in dump
    assert "hiv_positive" not in dump
    async with services.db.read_session() as session:
        found = (
            (
                await session.execute(
                    select(Referral.id).where(
                        Referral.nik_index.in_(services.cipher.blind_indexes(nik))
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [str(i) for i in found] == [posted.json()["referral"]["id"]]


async def test_no_log_line_carries_a_name_or_nik(
    http: httpx.AsyncClient, clients: Clients, facility: str, caplog: pytest.LogCaptureFixture
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    event, nik, phone, name = canary_event(facility)
    quiet_chatty_loggers()  # what configure_logging() does in the service
    caplog.set_level(logging.DEBUG)
    posted = await http.post("/v1/release-events", json=event, headers=prison.headers)
    assert posted.status_code == 201
    referral_id = posted.json()["referral"]["id"]
    bad = dict(event, event_id="BAD-" + event["event_id"], pas_categories=[nik, name])
    assert (
        await http.post("/v1/release-events", json=bad, headers=prison.headers)
    ).status_code == 422
    await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)
    await http.get("/v1/referrals", params={"nik": nik, "q": name}, headers=kemensos.headers)
    await http.get(f"/v1/nothing/{nik}", headers=kemensos.headers)
    formatter = JsonFormatter()
    # The test's own HTTP client logs its request URLs; the service's loggers are checked.
    lines = [formatter.format(r) for r in caplog.records if not r.name.startswith("httpx")]
    assert any(referral_id in line or "request" in line for line in lines)
    for secret in (nik, phone, name, name.split()[1]):
        assert not [line for line in lines if secret in line], secret


async def test_key_rotation_under_load_loses_nothing(facility: str, own_settings: Settings) -> None:
    # A database of its own: the rotation re-encrypts every row (and webhook secret) there.
    settings = own_settings
    services = build_runtime(settings)
    try:
        await _rotation_under_load(Clients(services), facility, settings, services)
    finally:
        await services.db.dispose()


async def _rotation_under_load(
    clients: Clients, facility: str, settings: Settings, services: Runtime
) -> None:
    old_key = base64.b64decode(settings.data_key.get_secret_value())  # type: ignore[union-attr]
    new_key = os.urandom(32)
    rotated_settings = Settings.model_validate(
        settings.model_dump()
        | {
            "data_key": base64.b64encode(new_key).decode(),
            "previous_data_keys": base64.b64encode(old_key).decode(),
        }
    )
    prison = await clients.prison(facility)
    old_app = create_app(settings, runtime=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=old_app), base_url="http://old.test"
    ) as old_http:
        for _ in range(30):
            r = await old_http.post(
                "/v1/release-events", json=make_event(facility), headers=prison.headers
            )
            assert r.status_code == 201
    new_services = build_runtime(rotated_settings)
    new_app = create_app(rotated_settings, runtime=new_services)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=new_app), base_url="http://new.test"
        ) as new_http:

            async def load() -> list[int]:
                statuses = []
                for _ in range(30):
                    r = await new_http.post(
                        "/v1/release-events", json=make_event(facility), headers=prison.headers
                    )
                    statuses.append(r.status_code)
                return statuses

            statuses, report = await asyncio.gather(
                load(), rotate_keys(new_services.db, new_services.cipher, batch=7)
            )
            assert statuses == [201] * 30
            assert report.changed >= 1
            async with new_services.db.read_session() as session:
                rows = (
                    (
                        await session.execute(
                            select(Referral).where(Referral.facility_code == facility)
                        )
                    )
                    .scalars()
                    .all()
                )
            assert len(rows) == 60
            kemensos = await clients.kemensos()
            for row in rows:
                assert new_services.cipher.is_current(row.sensitive_data)
                detail = await new_http.get(f"/v1/referrals/{row.id}", headers=kemensos.headers)
                assert detail.status_code == 200
                nik = detail.json()["person"]["nik"]
                assert row.nik_index == new_services.cipher.blind_index(nik)
    finally:
        await new_services.db.dispose()


async def test_key_rotation_reseals_webhook_secrets(own_settings: Settings) -> None:
    """After `keys rotate`, the previous key can be dropped: the relay still opens every
    subscription's signing secret (the current one and the one kept during rotation)."""
    services = build_runtime(own_settings)
    try:
        prison = await Clients(services).prison("LP-ROTATE")
        app = create_app(own_settings, runtime=services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://own.test"
        ) as http:
            created = await http.post(
                "/v1/webhook-subscriptions",
                json={
                    "url": "https://93.184.216.34/hooks/rotation",
                    "event_types": ["referral.created"],
                },
                headers=prison.headers,
            )
            assert created.status_code == 201, created.text
            subscription_id = uuid.UUID(created.json()["id"])
            rotated = await http.post(
                f"/v1/webhook-subscriptions/{subscription_id}/rotate-secret",
                headers=prison.headers,
            )
            assert rotated.status_code in (200, 201), rotated.text
    finally:
        await services.db.dispose()
    secrets = {created.json()["secret"], rotated.json()["secret"]}
    old_key = own_settings.data_key.get_secret_value()  # type: ignore[union-attr]
    new_key = base64.b64encode(os.urandom(32)).decode()
    rotating = build_runtime(
        Settings.model_validate(
            own_settings.model_dump() | {"data_key": new_key, "previous_data_keys": old_key}
        )
    )
    try:
        assert (await rotate_keys(rotating.db, rotating.cipher)).changed == 2
    finally:
        await rotating.db.dispose()
    only_new = build_runtime(
        Settings.model_validate(own_settings.model_dump() | {"data_key": new_key})
    )
    try:
        async with only_new.db.read_session() as session:
            row = await session.get(WebhookSubscription, subscription_id)
            assert row is not None and row.previous_secret_encrypted is not None
            opened = {
                open_secret(only_new.cipher, row.id, row.secret_encrypted),
                open_secret(only_new.cipher, row.id, row.previous_secret_encrypted),
            }
        assert opened == secrets
    finally:
        await only_new.db.dispose()


async def test_retention_anonymises_ended_referrals_only(
    http: httpx.AsyncClient, clients: Clients, facility: str, services: Runtime
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    ids = []
    for event_type, days in (("release.scheduled", 20), ("release.scheduled", 20)):
        r = await http.post(
            "/v1/release-events",
            json=make_event(facility, event_type=event_type, release_days=days),
            headers=prison.headers,
        )
        ids.append(r.json()["referral"]["id"])
    ended, open_ = ids
    detail = await http.get(f"/v1/referrals/{ended}", headers=prison.headers)
    cancel = await http.post(
        f"/v1/referrals/{ended}/transitions",
        json={"action": "cancel", "reason_code": "entered_in_error"},
        headers={**prison.headers, "If-Match": detail.headers["ETag"]},
    )
    assert cancel.status_code == 200, cancel.text
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=services.settings.retention_days + 1)
    async with services.db.transaction() as session:
        await session.execute(
            update(Referral)
            .where(Referral.id.in_([uuid.UUID(i) for i in ids]))
            .values(updated_at=long_ago)
        )
    now = dt.datetime.now(dt.UTC)
    dry = await anonymise_ended(
        services.db,
        services.cipher,
        now,
        retention_days=services.settings.retention_days,
        dry_run=True,
    )
    assert dry.changed == 0 and dry.examined >= 1
    assert (await http.get(f"/v1/referrals/{ended}", headers=kemensos.headers)).json()["person"][
        "full_name"
    ] == "Budi Santoso"
    report = await anonymise_ended(
        services.db,
        services.cipher,
        now,
        retention_days=services.settings.retention_days,
        dry_run=False,
    )
    assert report.changed >= 1
    gone = (await http.get(f"/v1/referrals/{ended}", headers=kemensos.headers)).json()
    assert gone["person"]["full_name"] == ""
    assert gone["person"]["nik"] is None
    assert gone["person"]["phone"] is None
    assert gone["needs"]["health"] is None
    assert gone["case_ref"] == f"ANON-{ended}"
    assert gone["status"] == "cancelled"
    assert gone["pas_categories"] == ["warga_binaan", "korban_napza_hiv"]
    kept = (await http.get(f"/v1/referrals/{open_}", headers=kemensos.headers)).json()
    assert kept["person"]["full_name"] == "Budi Santoso"
    history = await http.get(f"/v1/referrals/{ended}/history", headers=kemensos.headers)
    assert len(history.json()["items"]) == 2


async def test_rate_limit_answers_429_with_retry_after(
    clients: Clients, settings: Settings, services: Runtime
) -> None:
    limited = Settings.model_validate(
        settings.model_dump() | {"rate_limit_per_second": 0.5, "rate_limit_burst": 3}
    )
    app = create_app(limited, runtime=build_runtime(limited))
    caller = await clients.kemensos()
    other = await clients.kemensos()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://limited.test"
    ) as client:
        statuses = [
            (await client.get("/v1/reference/release-types", headers=caller.headers)).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited_response = await client.get("/v1/reference/release-types", headers=caller.headers)
        assert limited_response.json()["code"] == "RATE_LIMITED"
        assert int(limited_response.headers["Retry-After"]) >= 1
        # Buckets are per client.
        assert (
            await client.get("/v1/reference/release-types", headers=other.headers)
        ).status_code == 200
    await app.state.db.dispose()
