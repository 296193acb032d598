"""Notes are the first free text other agencies write about a person (SPEC §10): a canary
body is in no log line, event, webhook body, history or audit row, nor in a database dump;
retention erases the record's free text; a key rotation keeps it readable."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.core.audit import AuditEvent
from app.core.config import Settings
from app.core.logging import JsonFormatter, quiet_chatty_loggers
from app.main import create_app
from app.ops.maintenance import anonymise_ended, rotate_keys
from app.referrals.models import Referral
from app.runtime import Runtime, build_runtime
from app.webhooks.outbox import cloud_event
from tests.conftest import Clients
from tests.rehab.support import ASSESSMENT, Case, at, today
from tests.support.databases import pg_dump


def canary() -> str:
    return f"Kanari-{uuid.uuid4().hex[:12]} positif HIV"


async def _write_everything(case: Case, rid: str, secret: str) -> None:
    """Every kind of free text of the record, each holding the canary."""
    for role, audience in (("prison", "all"), ("kemensos", "kemensos"), ("bapas", "all")):
        written = await case.post(rid, "notes", {"body": secret, "audience": audience}, role=role)
        assert written.status_code == 201, written.text
    need = {"component": "terapi", "level": "high", "note": secret}
    assessment = {**ASSESSMENT, "needs": [need], "summary": secret}
    assert (await case.post(rid, "assessments", assessment)).status_code == 201
    goals = {"goals": [{"component": "terapi", "description": secret}]}
    plan = await case.put_plan(rid, goals)
    assert plan.status_code == 200, plan.text
    appointment = {
        "starts_at": at(minutes=-1),
        "location": {"kind": "home", "detail": secret},
        "purpose": secret,
    }
    made = await case.post(rid, "appointments", appointment)
    assert made.status_code == 201, made.text
    attended = await case.post(
        rid,
        f"appointments/{made.json()['id']}/attendance",
        {"attendance": "missed", "note": secret},
    )
    assert attended.status_code == 200, attended.text
    service = {"component": "terapi", "delivered_on": today().isoformat(), "description": secret}
    assert (await case.post(rid, "services", service)).status_code == 201
    # refused, with the canary in the body: the problem and the logs must not echo it
    refused = await case.post(rid, "notes", {"body": secret, "audience": "kemensos"}, role="prison")
    assert refused.status_code == 422 and secret not in refused.text
    report = {
        "summary": secret,
        "goals": [{"goal_id": plan.json()["goals"][0]["id"], "result": "achieved"}],
    }
    assert (await case.close(rid, report=report)).status_code == 200


async def test_a_canary_is_in_no_log_event_history_or_audit_row(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    secret = canary()
    quiet_chatty_loggers()  # what configure_logging() does in the service
    caplog.set_level(logging.DEBUG)
    rid = await case.referral("in_service")
    await _write_everything(case, rid, secret)
    for path in ("notes", "assessments", "plan", "appointments", "services", "report"):
        read = await case.get(rid, path)
        assert read.status_code == 200 and secret in read.text, path  # it is readable
    feed = await case.http.get(
        "/v1/referral-events", params={"limit": 500}, headers=case.prison.headers
    )
    lines = [JsonFormatter().format(r) for r in caplog.records if not r.name.startswith("httpx")]
    assert lines  # the service logged
    assert not [line for line in lines if secret in line]
    assert secret not in feed.text
    events = await case.outbox(rid)
    assert "referral.note_added" in {e.type for e in events}
    # what a webhook delivery would carry
    assert not [e for e in events if secret in json.dumps(cloud_event(e), default=str)]
    history = await case.history(rid)
    assert [h for h in history if h.action == "note"]
    assert not [h for h in history if secret in json.dumps(vars_of(h), default=str)]
    async with case.services.db.read_session() as session:
        rows = await session.execute(
            select(AuditEvent).where(AuditEvent.referral_id == uuid.UUID(rid))
        )
        assert not [r for r in rows.scalars() if secret in json.dumps(vars_of(r), default=str)]


def vars_of(row: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(row).items() if not k.startswith("_")}


async def test_a_database_dump_holds_no_note_body(
    case: Case, backend: str, database_url: str
) -> None:
    if backend != "postgres":
        pytest.skip("pg_dump is PostgreSQL's")
    secret = canary()
    rid = await case.referral("in_service")
    await _write_everything(case, rid, secret)
    dump = await pg_dump(database_url)
    assert rid in dump  # the dump is of the right database
    assert secret not in dump
    assert "Kanari-" not in dump


async def test_retention_erases_the_record_s_free_text(case: Case, services: Runtime) -> None:
    secret = canary()
    rid = await case.referral("in_service")
    await _write_everything(case, rid, secret)
    open_rid = await case.referral("in_service")
    kept = await case.post(open_rid, "notes", {"body": "Tetap.", "audience": "all"})
    assert kept.status_code == 201
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=services.settings.retention_days + 1)
    async with services.db.transaction() as session:
        await session.execute(
            update(Referral)
            .where(Referral.id.in_([uuid.UUID(rid), uuid.UUID(open_rid)]))
            .values(updated_at=long_ago)
        )
    report = await anonymise_ended(
        services.db,
        services.cipher,
        dt.datetime.now(dt.UTC),
        retention_days=services.settings.retention_days,
        dry_run=False,
    )
    assert report.changed >= 1
    notes = (await case.get(rid, "notes")).json()["items"]
    assert len(notes) == 3 and {n["body"] for n in notes} == {None}
    for path in ("notes", "assessments", "plan", "appointments", "services", "report"):
        read = await case.get(rid, path)
        assert read.status_code == 200 and secret not in read.text, path
    assessment = (await case.get(rid, "assessments")).json()["items"][0]
    assert assessment["summary"] is None and assessment["needs"][0]["note"] is None
    assert assessment["needs"][0]["level"] == "high"  # the structure stays
    goals = (await case.get(rid, "report")).json()["goals"]
    assert [(g["description"], g["result"]) for g in goals] == [(None, "achieved")]
    # history keeps that the notes were added; an open referral keeps its notes
    assert [h.action for h in await case.history(rid)].count("note") == 3
    assert (await case.get(open_rid, "notes")).json()["items"][0]["body"] == "Tetap."


async def test_key_rotation_keeps_the_record_readable(
    facility: str, own_settings: Settings
) -> None:
    services = build_runtime(own_settings)
    secret = canary()
    try:
        app = create_app(own_settings, runtime=services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://own.test"
        ) as http:
            case = await _own_case(http, services, facility)
            rid = await case.referral("in_service")
            await _write_everything(case, rid, secret)
    finally:
        await services.db.dispose()
    old_key = own_settings.data_key.get_secret_value()  # type: ignore[union-attr]
    new_key = base64.b64encode(os.urandom(32)).decode()
    rotating = build_runtime(
        Settings.model_validate(
            own_settings.model_dump() | {"data_key": new_key, "previous_data_keys": old_key}
        )
    )
    try:
        # The referral's row and its text key: the texts themselves, sealed under the
        # referral's key, need no re-encryption (app/referrals/keys.py).
        assert (await rotate_keys(rotating.db, rotating.cipher)).changed == 1 + 1
    finally:
        await rotating.db.dispose()
    only_new = Settings.model_validate(own_settings.model_dump() | {"data_key": new_key})
    services = build_runtime(only_new)
    try:
        app = create_app(only_new, runtime=services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://own.test"
        ) as http:
            kemensos = await Clients(services).kemensos()
            for path in ("notes", "assessments", "plan", "appointments", "services", "report"):
                read = await http.get(f"/v1/referrals/{rid}/{path}", headers=kemensos.headers)
                assert read.status_code == 200 and secret in read.text, (path, read.text)
    finally:
        await services.db.dispose()


async def _own_case(http: httpx.AsyncClient, services: Runtime, facility: str) -> Case:
    clients = Clients(services)
    code = f"S-{uuid.uuid4().hex[:6].upper()}"
    await clients.add_sentra(code)
    bapas = f"BAPAS-{uuid.uuid4().hex[:6].upper()}"
    return Case(
        http=http,
        services=services,
        clients=clients,
        facility=facility,
        sentra_code=code,
        bapas_code=bapas,
        prison=await clients.prison(facility),
        kemensos=await clients.kemensos(),
        sentra=await clients.sentra(code),
        bapas=await clients.bapas(bapas),
        other_prison=await clients.prison("LP-OTHER"),
        other_sentra=await clients.sentra("S-OTHER"),
        other_bapas=await clients.bapas("BAPAS-OTHER"),
        auditor=await clients.make("auditor"),
    )
