"""Withdrawal of consent (SPEC §12): health, contact and every free text about the person
erased at once — the free text by destroying the referral's key, so the append-only
history stays as written — the referral closed `consent_withdrawn`, the prison's later
events recorded but not applied; retention erases by the same path."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import func, insert, select, text, update

from app.core.config import Settings
from app.core.migrate import alembic_config
from app.main import create_app
from app.ops.maintenance import anonymise_ended, rotate_keys
from app.referrals.models import Referral, ReferralHistory, ReferralKey, ReferralText
from app.rights.models import RectificationRequest
from app.runtime import Runtime, build_runtime
from tests.conftest import Clients, as_role
from tests.factories import make_event, supervised
from tests.rehab.support import ASSESSMENT, Case, at, today
from tests.rehab.support import case as case  # the fixture
from tests.rights.test_rectification_api import later
from tests.support.checks import assert_problem
from tests.support.databases import pg_dump
from tests.support.referrals import act, post_event

GUARDIAN_PHONE = "+6281311112222"
PERSON_PHONE = "+6281200000001"


def canary() -> str:
    return f"Kanari-{uuid.uuid4().hex[:12]} positif HIV"


async def read(case: Case, rid: str) -> httpx.Response:
    got = await case.http.get(f"/v1/referrals/{rid}", headers=case.kemensos.headers)
    assert got.status_code == 200, got.text
    return got


async def found_by(case: Case, **params: str) -> set[str]:
    """The referrals of the case's facility a Kemensos search finds."""
    page = await case.http.get(
        "/v1/referrals",
        params={**params, "facility_code": case.facility, "limit": 100},
        headers=case.kemensos.headers,
    )
    assert page.status_code == 200, page.text
    return {item["id"] for item in page.json()["items"]}


def withdrawal(**fields: Any) -> dict[str, Any]:
    return {
        "withdrawn_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(),
        "evidence_ref": "SENTRA/PENARIKAN/2026/0001",
        **fields,
    }


async def withdraw(case: Case, rid: str, role: str = "sentra", **fields: Any) -> httpx.Response:
    return await case.post(rid, "consent-withdrawal", withdrawal(**fields), role=role)


async def _referral(
    case: Case, *, basis: str = "consent", secret: str = ""
) -> tuple[str, dict[str, Any]]:
    """A supervised release in service whose event names a guardian with a phone."""
    event = supervised(make_event(case.facility))
    event["release"]["bapas_code"] = case.bapas_code
    event["person"]["guardian"] = {
        "full_name": "Siti Aminah",
        "relationship": "ibu",
        "phone": GUARDIAN_PHONE,
    }
    if secret:
        event["needs"]["summary"] = secret
    if basis != "consent":
        event["consent"] = {"basis": basis, "recorded_at": event["consent"]["recorded_at"]}
    rid = await post_event(case.http, case.prison, event)
    for step in ("accept", "assign", "start_service"):
        fields = {"sentra_code": case.sentra_code} if step == "assign" else {}
        done = await act(case.http, case.kemensos, rid, step, **fields)
        assert done.status_code == 200, done.text
    return rid, event


async def _write_free_text(case: Case, rid: str, secret: str) -> None:
    """A free text of every kind the service keeps about the person, each the canary."""
    held = await act(case.http, case.kemensos, rid, "hold", reason_code="other", note=secret)
    assert held.status_code == 200, held.text
    resumed = await act(case.http, case.kemensos, rid, "resume", note=secret)
    assert resumed.status_code == 200, resumed.text
    for role, audience in (("prison", "all"), ("kemensos", "kemensos")):
        note = await case.post(rid, "notes", {"body": secret, "audience": audience}, role=role)
        assert note.status_code == 201, note.text
    need = {"component": "terapi", "level": "high", "note": secret}
    made = await case.post(rid, "assessments", {**ASSESSMENT, "needs": [need], "summary": secret})
    assert made.status_code == 201, made.text
    plan = await case.put_plan(rid, {"goals": [{"component": "terapi", "description": secret}]})
    assert plan.status_code == 200, plan.text
    appointment = {
        "starts_at": at(minutes=-1),
        "location": {"kind": "home", "detail": secret},
        "purpose": secret,
    }
    made = await case.post(rid, "appointments", appointment)
    assert made.status_code == 201, made.text
    service = {"component": "terapi", "delivered_on": today().isoformat(), "description": secret}
    assert (await case.post(rid, "services", service)).status_code == 201
    asked = await case.post(
        rid, "rectification-requests", {"fields": ["/person/phone"], "detail": secret}
    )
    assert asked.status_code == 201, asked.text


async def test_withdrawal_erases_health_contact_and_every_free_text(case: Case) -> None:
    secret = canary()
    rid, _ = await _referral(case, secret=secret)
    await _write_free_text(case, rid, secret)
    before = (await read(case, rid)).json()
    assert before["needs"]["health"] is not None and before["person"]["phone"] == PERSON_PHONE
    history = (await case.get(rid, "history")).json()["items"]
    assert [h["note"] for h in history if h["action"] in ("hold", "resume")] == [secret] * 2

    assert await found_by(case, q=before["person"]["full_name"]) == {rid}
    answer = await withdraw(case, rid)
    assert answer.status_code == 200, answer.text
    detail = answer.json()
    assert answer.headers["ETag"] == f'"{detail["version"]}"'
    assert detail["version"] == before["version"] + 1
    assert (detail["status"], detail["outcome"]) == ("closed", "consent_withdrawn")
    assert detail["consent_withdrawal"] == {
        "withdrawn_at": detail["consent_withdrawal"]["withdrawn_at"],
        "evidence_ref": "SENTRA/PENARIKAN/2026/0001",
    }
    assert detail["allowed_actions"] == []
    # what kemensos reads now: no health, phone, guardian contact or free text
    now = (await read(case, rid)).json()
    assert now["needs"]["health"] is None and now["needs"]["summary"] is None
    assert now["person"]["phone"] is None and now["person"]["guardian"]["phone"] is None
    assert now["person"]["full_name"] == before["person"]["full_name"]  # identity stays
    # ... pseudonymised for search: the NIK finds it, the name no longer does
    assert await found_by(case, nik=before["person"]["nik"]) == {rid}
    assert await found_by(case, q=before["person"]["full_name"]) == set()
    assert now["person"]["guardian"]["full_name"] == "Siti Aminah"
    assert secret not in (await read(case, rid)).text
    for path in ("notes", "assessments", "plan", "appointments", "services", "history"):
        got = await case.get(rid, path)
        assert got.status_code == 200 and secret not in got.text, (path, got.text)
    rectifications = (await case.get(rid, "rectification-requests")).json()["items"]
    assert [r["detail"] for r in rectifications] == [None]
    # the append-only history keeps every entry, the notes now unreadable
    after = (await case.get(rid, "history")).json()["items"]
    assert len(after) == len(history) + 1
    assert [h["note"] for h in after if h["action"] in ("hold", "resume")] == [None, None]
    last = after[-1]
    assert (last["action"], last["from_status"], last["to_status"], last["outcome"]) == (
        "consent_withdrawal",
        "in_service",
        "closed",
        "consent_withdrawn",
    )
    assert last["client_id"] == case.sentra.client_id
    events = [e.type for e in await case.outbox(rid)]
    assert events[-2:] == ["referral.status_changed", "referral.consent_withdrawn"]
    assert ("referral.consent_withdrawal", "success") in await case.audit(rid)
    async with case.services.db.read_session() as session:
        key = await session.get(ReferralKey, uuid.UUID(rid))
        texts = await session.scalar(
            select(func.count())
            .select_from(ReferralText)
            .where(ReferralText.referral_id == uuid.UUID(rid))
        )
    assert key is None and texts == 0


@pytest.mark.parametrize("role", ["kemensos", "sentra", "prison"])
async def test_each_party_that_may_record_it(case: Case, role: str) -> None:
    rid, _ = await _referral(case)
    assert (await withdraw(case, rid, role=role)).status_code == 200


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("bapas", 403, "ROLE_NOT_PERMITTED"),
        ("other_sentra", 404, "REFERRAL_NOT_FOUND"),
        ("other_prison", 404, "REFERRAL_NOT_FOUND"),
        ("auditor", 403, "ROLE_NOT_PERMITTED"),
    ],
)
async def test_parties_that_may_not(case: Case, role: str, status: int, code: str) -> None:
    rid, _ = await _referral(case)
    assert_problem(await withdraw(case, rid, role=role), status, code)
    assert (await read(case, rid)).json()["consent_withdrawal"] is None


async def test_public_task_has_no_consent_to_withdraw(case: Case) -> None:
    rid, _ = await _referral(case, basis="public_task")
    body = assert_problem(await withdraw(case, rid), 409, "CONSENT_NOT_BASIS")
    assert "public_task" in body["detail"]
    detail = (await read(case, rid)).json()
    assert detail["status"] == "in_service" and detail["needs"]["health"] is not None


async def test_a_withdrawal_in_the_future_is_refused(case: Case) -> None:
    rid, _ = await _referral(case)
    later_on = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    body = assert_problem(
        await withdraw(case, rid, withdrawn_at=later_on), 422, "VALIDATION_FAILED"
    )
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == [
        ("INVALID_DATE", "/withdrawn_at")
    ]
    bad = await withdraw(case, rid, withdrawn_at="2026-12-01T10:00:00")  # no offset
    assert_problem(bad, 422, "VALIDATION_FAILED")
    assert (await read(case, rid)).json()["status"] == "in_service"


async def test_no_if_match_is_needed_and_a_stale_one_is_ignored(case: Case) -> None:
    rid, _ = await _referral(case)
    answer = await case.post(rid, "consent-withdrawal", withdrawal(), **{"If-Match": '"1"'})
    assert answer.status_code == 200, answer.text


async def test_recording_it_again_changes_nothing(case: Case) -> None:
    rid, _ = await _referral(case)
    first = (await withdraw(case, rid)).json()
    again = await withdraw(case, rid, role="kemensos", evidence_ref="LAIN/0002")
    assert again.status_code == 200
    assert again.json()["version"] == first["version"]
    assert again.json()["consent_withdrawal"] == first["consent_withdrawal"]
    actions = [h["action"] for h in (await case.get(rid, "history")).json()["items"]]
    assert actions.count("consent_withdrawal") == 1
    assert [e.type for e in await case.outbox(rid)].count("referral.consent_withdrawn") == 1


async def test_an_ended_referral_keeps_its_status(case: Case) -> None:
    event = make_event(case.facility)
    rid = await post_event(case.http, case.prison, event)
    cancelled = await act(case.http, case.kemensos, rid, "cancel", reason_code="duplicate")
    assert cancelled.status_code == 200, cancelled.text
    emitted = len(await case.outbox(rid))
    detail = (await withdraw(case, rid, role="kemensos")).json()
    assert (detail["status"], detail["reason_code"], detail["outcome"]) == (
        "cancelled",
        "duplicate",
        None,
    )
    assert detail["needs"]["health"] is None
    events = [e.type for e in await case.outbox(rid)][emitted:]
    assert events == ["referral.consent_withdrawn"]


async def test_later_events_are_recorded_but_change_nothing(case: Case) -> None:
    rid, event = await _referral(case)
    withdrawn = (await withdraw(case, rid)).json()
    update_event = later(event, 5, person__full_name="Nama Lain", person__phone="+628999")
    answer = await case.http.post(
        "/v1/release-events", json=update_event, headers=case.prison.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "consent_withdrawn"
    assert answer.json()["referral"]["version"] == withdrawn["version"]
    revoked = later(event, 6)
    revoked["event_type"] = "release.revoked"
    answer = await case.http.post("/v1/release-events", json=revoked, headers=case.prison.headers)
    assert (answer.status_code, answer.json()["outcome"]) == (200, "consent_withdrawn")
    detail = (await read(case, rid)).json()
    assert detail["person"]["full_name"] == event["person"]["full_name"]
    assert detail["person"]["phone"] is None and detail["custody_status"] == "released"
    assert detail["version"] == withdrawn["version"]
    history = (await case.get(rid, "history")).json()["items"]
    assert [h["event_outcome"] for h in history[-2:]] == ["consent_withdrawn"] * 2
    assert (await case.outbox(rid))[-1].type == "referral.consent_withdrawn"  # nothing emitted


async def test_nothing_more_is_written_about_the_person(case: Case) -> None:
    rid, _ = await _referral(case)
    await withdraw(case, rid)
    note = await case.post(rid, "notes", {"body": "Catatan.", "audience": "all"}, role="prison")
    assert_problem(note, 409, "REFERRAL_ENDED")
    asked = await case.post(
        rid, "rectification-requests", {"fields": ["/person/phone"], "detail": "Salah."}
    )
    assert_problem(asked, 409, "REFERRAL_ENDED")
    async with case.services.db.read_session() as session:
        assert await session.get(ReferralKey, uuid.UUID(rid)) is None


async def test_retention_after_a_withdrawal_removes_the_identity(
    case: Case, services: Runtime
) -> None:
    rid, _ = await _referral(case)
    await withdraw(case, rid)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=services.settings.retention_days + 1)
    async with services.db.transaction() as session:
        await session.execute(
            update(Referral).where(Referral.id == uuid.UUID(rid)).values(updated_at=long_ago)
        )
    await anonymise_ended(
        services.db,
        services.cipher,
        dt.datetime.now(dt.UTC),
        retention_days=services.settings.retention_days,
        dry_run=False,
    )
    detail = (await read(case, rid)).json()
    assert detail["person"]["full_name"] == "" and detail["person"]["nik"] is None
    assert detail["person"]["guardian"] is None
    assert detail["outcome"] == "consent_withdrawn"  # lifecycle stays for statistics


async def test_a_database_dump_after_a_withdrawal_holds_none_of_it(
    case: Case, backend: str, database_url: str
) -> None:
    """Neither the plaintext nor any ciphertext that held it: the rows' sealed columns are
    cleared, the kept texts and the key deleted, the case data re-encrypted without them."""
    if backend != "postgres":
        pytest.skip("pg_dump is PostgreSQL's")
    secret = canary()
    rid, _ = await _referral(case, secret=secret)
    await _write_free_text(case, rid, secret)
    ciphertexts = await _ciphertexts_of(case, rid)
    assert len(ciphertexts) >= 9  # two notes in history, the record's texts, the key...
    assert (await withdraw(case, rid)).status_code == 200
    dump = await pg_dump(database_url)
    assert rid in dump  # the dump is of the right database
    assert secret not in dump and "Kanari-" not in dump
    assert PERSON_PHONE not in dump and GUARDIAN_PHONE not in dump
    assert [c[:24] for c in ciphertexts if c in dump] == []


async def _ciphertexts_of(case: Case, rid: str) -> list[str]:
    """Every ciphertext the database holds about the referral, before the withdrawal."""
    queries = [
        "SELECT sealed FROM referral_texts WHERE referral_id = :rid",
        "SELECT wrapped FROM referral_keys WHERE referral_id = :rid",
        "SELECT sensitive_data FROM referrals WHERE id = :rid",
        "SELECT texts FROM referral_assessments WHERE referral_id = :rid",
        "SELECT texts FROM referral_plans WHERE referral_id = :rid",
        "SELECT texts FROM referral_appointments WHERE referral_id = :rid",
        "SELECT texts FROM referral_services WHERE referral_id = :rid",
        "SELECT body FROM referral_notes WHERE referral_id = :rid",
        "SELECT detail FROM rectification_requests WHERE referral_id = :rid",
    ]
    out: list[str] = []
    async with case.services.db.read_session() as session:
        for query in queries:
            rows = await session.execute(text(query), {"rid": uuid.UUID(rid)})
            out += [value for (value,) in rows if value]
    return out


async def test_texts_stored_before_0008_are_readable_sealed_and_erased(
    own_settings: Settings, backend: str, facility: str
) -> None:
    """Migration 0008 moves a plain history note where erasure reaches it and marks plain
    rectification texts; `keys rotate` seals both; a withdrawal erases them."""
    url = own_settings.database_url
    owner = as_role(url, "postgres") if backend == "postgres" else url
    services = build_runtime(own_settings)
    try:
        app = create_app(own_settings, runtime=services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://own.test"
        ) as http:
            prison = await Clients(services).prison(facility)
            rid = uuid.UUID(await post_event(http, prison, make_event(facility)))
        # what 0007 stored: the note in the history row, the request's detail plain
        now = dt.datetime.now(dt.UTC)
        async with services.db.transaction() as session:
            await session.execute(
                insert(ReferralHistory).values(
                    referral_id=rid, at=now, action="accept", from_status="received",
                    to_status="accepted", client_id=uuid.UUID(prison.client_id),
                    note="Catatan lama", changed_fields=[],
                )
            )  # fmt: skip
            await session.execute(
                insert(RectificationRequest).values(
                    id=uuid.uuid4(), referral_id=rid, fields=["/person/phone"],
                    pending=["/person/phone"], detail="Detail lama",
                    client_id=uuid.UUID(prison.client_id), requested_at=now,
                )
            )  # fmt: skip
            await session.execute(
                update(Referral).where(Referral.id == rid).values(open_rectifications=1)
            )
    finally:
        await services.db.dispose()
    config = alembic_config(owner)
    await asyncio.to_thread(command.downgrade, config, "0007_rehab")
    await asyncio.to_thread(command.upgrade, config, "head")

    services = build_runtime(own_settings)
    try:
        async with services.db.read_session() as session:
            kept = (await session.execute(select(ReferralText.sealed))).scalars().all()
            raw = await session.scalar(select(RectificationRequest.detail))
        assert list(kept) == ["p0.Catatan lama"] and raw == "p0.Detail lama"
        rotated = await rotate_keys(services.db, services.cipher)
        assert rotated.changed >= 2  # the note and the request, sealed under a new key
        async with services.db.read_session() as session:
            kept = (await session.execute(select(ReferralText.sealed))).scalars().all()
            raw = await session.scalar(select(RectificationRequest.detail))
        assert [k[:3] for k in kept] == ["r1."] and raw is not None and raw.startswith("r1.")
        app = create_app(own_settings, runtime=services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://own.test"
        ) as http:
            kemensos = await Clients(services).kemensos()
            path = f"/v1/referrals/{rid}"
            history = (await http.get(f"{path}/history", headers=kemensos.headers)).json()
            assert "Catatan lama" in [h["note"] for h in history["items"]]
            asked = await http.get(f"{path}/rectification-requests", headers=kemensos.headers)
            assert [r["detail"] for r in asked.json()["items"]] == ["Detail lama"]
            done = await http.post(
                f"{path}/consent-withdrawal", json=withdrawal(), headers=kemensos.headers
            )
            assert done.status_code == 200, done.text
            history = (await http.get(f"{path}/history", headers=kemensos.headers)).json()
            assert "Catatan lama" not in str(history)
            asked = await http.get(f"{path}/rectification-requests", headers=kemensos.headers)
            items = asked.json()["items"]
            assert [(r["detail"], r["status"]) for r in items] == [(None, "declined")]
        async with services.db.read_session() as session:
            assert (await session.execute(select(ReferralText))).first() is None
            referral = await session.get(Referral, rid)
            assert referral is not None and referral.open_rectifications == 0
    finally:
        await services.db.dispose()


async def test_open_requests_end_and_programme_names_go(case: Case) -> None:
    rid, event = await _referral(case)
    asked = await case.post(
        rid, "rectification-requests", {"fields": ["/person/phone"], "detail": "Salah."}
    )
    assert asked.status_code == 201
    assert event["in_custody_programmes"][0]["name"]
    detail = (await withdraw(case, rid)).json()
    assert [p["name"] for p in detail["in_custody_programmes"]] == [None]
    assert detail["in_custody_programmes"][0]["kind"] == event["in_custody_programmes"][0]["kind"]
    items = (await case.get(rid, "rectification-requests")).json()["items"]
    assert [(r["status"], r["pending_fields"]) for r in items] == [("declined", [])]
