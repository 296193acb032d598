"""Follow-ups (SPEC §11) through HTTP, on both databases: who, when, what, and what a
follow-up leaves behind (history, event, audit, the next due date)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.aftercare.rules import add_months
from app.core.audit import AuditEvent
from app.core.config import Settings
from app.ops.maintenance import anonymise_ended, rotate_keys
from app.referrals.models import OutboxEvent, Referral, ReferralFollowUp
from app.runtime import Runtime, build_runtime
from tests.conftest import ApiClient, Clients
from tests.factories import make_event, supervised
from tests.support.checks import assert_problem
from tests.support.clock import MovableClock, http_with_clock
from tests.support.referrals import act, drive, new_referral, post_event, referral_in, sentra_code

FOLLOW_UP = {
    "done_on": None,  # set per test
    "contact": "reached",
    "housing": "stable",
    "work": "self_employed",
    "family": "living_with",
    "returned_to_custody": False,
    "note": "Usaha las berjalan.",
}


@dataclass
class Case:
    http: httpx.AsyncClient
    clock: MovableClock
    prison: ApiClient
    kemensos: ApiClient
    sentra: ApiClient
    sentra_code: str
    facility: str

    async def completed(self) -> str:
        return await referral_in(
            self.http, self.prison, self.kemensos, self.facility, "closed", self.sentra_code
        )

    async def follow_up(
        self, referral_id: str, client: ApiClient | None = None, **fields: Any
    ) -> httpx.Response:
        body = {**FOLLOW_UP, "done_on": self.clock().today.isoformat(), **fields}
        return await self.http.post(
            f"/v1/referrals/{referral_id}/follow-ups",
            json=body,
            headers=(client or self.kemensos).headers,
        )

    async def detail(self, referral_id: str) -> dict[str, Any]:
        response = await self.http.get(
            f"/v1/referrals/{referral_id}", headers=self.kemensos.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def case(
    settings: Settings, services: Runtime, clients: Clients, facility: str
) -> AsyncIterator[Case]:
    code = sentra_code()
    await clients.add_sentra(code)
    async with http_with_clock(settings, services) as (http, clock):
        yield Case(
            http,
            clock,
            await clients.prison(facility),
            await clients.kemensos(),
            await clients.sentra(code),
            code,
            facility,
        )


async def test_a_completed_close_is_followed_up_at_3_6_and_12_months(
    case: Case, services: Runtime
) -> None:
    referral_id = await case.completed()
    closed_on = case.clock().today
    closed = await case.detail(referral_id)
    assert closed["next_follow_up_due"] == str(add_months(closed_on, 3))

    first = await case.follow_up(referral_id)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["number"] == 1 and body["due_on"] == str(add_months(closed_on, 3))
    assert body["note"] == FOLLOW_UP["note"] and body["client"] == case.kemensos.client_id
    assert (await case.detail(referral_id))["version"] == closed["version"] + 1  # a new version
    assert (await case.detail(referral_id))["next_follow_up_due"] == str(add_months(closed_on, 6))

    second = await case.follow_up(referral_id, case.sentra, contact="unreachable", note=None)
    assert second.status_code == 201, second.text
    assert (await case.detail(referral_id))["next_follow_up_due"] == str(add_months(closed_on, 12))
    third = await case.follow_up(referral_id, housing="homeless", work="unemployed")
    assert third.status_code == 201, third.text
    assert (await case.detail(referral_id))["next_follow_up_due"] is None
    assert_problem(await case.follow_up(referral_id), 409, "AFTERCARE_COMPLETE")

    listed = await case.http.get(
        f"/v1/referrals/{referral_id}/follow-ups", headers=case.sentra.headers
    )
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [i["number"] for i in items] == [1, 2, 3]
    assert [i["contact"] for i in items] == ["reached", "unreachable", "reached"]
    assert items[1]["note"] is None

    history = (
        await case.http.get(f"/v1/referrals/{referral_id}/history", headers=case.kemensos.headers)
    ).json()["items"]
    assert [h["action"] for h in history].count("follow_up") == 3
    async with services.db.read_session() as session:
        events = (
            await session.execute(
                select(OutboxEvent.type, OutboxEvent.data)
                .where(OutboxEvent.referral_id == uuid.UUID(referral_id))
                .order_by(OutboxEvent.id)
            )
        ).all()
        audits = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.outcome).where(
                    AuditEvent.referral_id == uuid.UUID(referral_id)
                )
            )
        ).all()
        sealed = (
            await session.execute(
                select(ReferralFollowUp.note_sealed).where(
                    ReferralFollowUp.referral_id == uuid.UUID(referral_id)
                )
            )
        ).scalars()
        stored = [s for s in sealed if s is not None]
    recorded = [data for kind, data in events if kind == "referral.follow_up_recorded"]
    assert [d["follow_up_id"] for d in recorded] == [i["id"] for i in items]
    assert all("note" not in d for d in recorded)
    assert audits.count(("referral.follow_up", "success")) == 3
    assert ("referral.follow_up", "AFTERCARE_COMPLETE") in audits
    assert ("referral.follow_ups.read", "success") in audits
    assert stored and all("las" not in s for s in stored)  # encrypted at rest


async def test_follow_up_due_is_a_filter_as_of_today(case: Case) -> None:
    referral_id = await case.completed()
    due = add_months(case.clock().today, 3)
    params = {"facility_code": case.facility, "follow_up_due": "true"}

    async def listed(flag: str) -> list[str]:
        response = await case.http.get(
            "/v1/referrals", params={**params, "follow_up_due": flag}, headers=case.kemensos.headers
        )
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert await listed("true") == []
    assert await listed("false") == [referral_id]
    case.clock.now = case.clock.local(due, hour=0)
    assert await listed("true") == [referral_id]
    assert await listed("false") == []
    page = await case.http.get("/v1/referrals", params=params, headers=case.kemensos.headers)
    assert page.json()["items"][0]["next_follow_up_due"] == str(due)


@pytest.mark.parametrize("outcome", ["declined_by_person", "unreachable", "returned_to_custody"])
async def test_no_aftercare_without_a_completed_close(case: Case, outcome: str) -> None:
    referral_id = await referral_in(
        case.http, case.prison, case.kemensos, case.facility, "in_service", case.sentra_code
    )
    assert_problem(await case.follow_up(referral_id), 409, "NO_AFTERCARE")
    closed = await act(case.http, case.kemensos, referral_id, "close", outcome=outcome)
    assert closed.status_code == 200, closed.text
    assert closed.json()["next_follow_up_due"] is None
    assert_problem(await case.follow_up(referral_id), 409, "NO_AFTERCARE")


async def test_who_may_record_and_read_follow_ups(case: Case, clients: Clients) -> None:
    """SPEC §10: follow-ups stay with Kemensos and the referral's sentra; the prison and
    the supervising Bapas read the referral (403), others do not (404)."""
    event = supervised(make_event(case.facility, release_days=-2))
    referral_id = await post_event(case.http, case.prison, event)
    await drive(
        case.http,
        case.kemensos,
        referral_id,
        ["accept", "assign", "start_service", "close"],
        case.sentra_code,
    )
    supervising = await clients.bapas(event["release"]["bapas_code"])
    other_bapas = await clients.bapas("BAPAS-X")
    other_sentra = await clients.sentra(sentra_code())
    url = f"/v1/referrals/{referral_id}/follow-ups"
    for reader in (case.prison, supervising):
        assert_problem(await case.follow_up(referral_id, reader), 403, "ROLE_NOT_PERMITTED")
        assert_problem(await case.http.get(url, headers=reader.headers), 403, "ROLE_NOT_PERMITTED")
    for stranger in (other_bapas, other_sentra):
        assert (await case.follow_up(referral_id, stranger)).status_code == 404
        assert (await case.http.get(url, headers=stranger.headers)).status_code == 404
    # The body comes first (422), then visibility (404), then the role (403).
    bad = await case.http.post(url, json={"contact": "reached"}, headers=other_bapas.headers)
    assert bad.status_code == 422
    # Kemensos closed it: the sentra that served it records, and reads.
    assert (await case.follow_up(referral_id, case.sentra)).status_code == 201
    assert (await case.http.get(url, headers=case.sentra.headers)).status_code == 200
    unknown = await case.http.post(
        "/v1/referrals/00000000-0000-4000-8000-000000000000/follow-ups",
        json={**FOLLOW_UP, "done_on": case.clock().today.isoformat()},
        headers=case.kemensos.headers,
    )
    assert unknown.status_code == 404


async def test_done_on_between_the_close_and_today(case: Case) -> None:
    referral_id = await case.completed()
    today = case.clock().today
    future = await case.follow_up(referral_id, done_on=str(today + dt.timedelta(days=1)))
    problem = assert_problem(future, 422, "VALIDATION_FAILED")
    assert [(e["code"], e["pointer"]) for e in problem["errors"]] == [("INVALID_DATE", "/done_on")]
    case.clock.now = case.clock.local(today + dt.timedelta(days=40))
    before = await case.follow_up(referral_id, done_on=str(today - dt.timedelta(days=1)))
    assert assert_problem(before, 422, "VALIDATION_FAILED")["errors"][0]["pointer"] == "/done_on"
    late = await case.follow_up(referral_id, done_on=str(today + dt.timedelta(days=30)))
    assert late.status_code == 201, late.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contact", "maybe"),
        ("housing", "castle"),
        ("work", "retired"),
        ("family", "estranged"),
        ("returned_to_custody", "no"),
        ("done_on", 0),
        ("done_on", "2026-1-5"),
        ("mood", "good"),
    ],
)
async def test_enumerations_and_types_are_exact(case: Case, field: str, value: Any) -> None:
    referral_id = await case.completed()
    response = await case.follow_up(referral_id, **{field: value})
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert problem["errors"][0]["pointer"] == f"/{field}"


async def test_a_follow_up_before_closing_changes_nothing(case: Case, services: Runtime) -> None:
    referral_id = await new_referral(case.http, case.prison, case.facility)
    assert_problem(await case.follow_up(referral_id), 409, "NO_AFTERCARE")
    async with services.db.read_session() as session:
        rows = (
            await session.execute(
                select(ReferralFollowUp.id).where(
                    ReferralFollowUp.referral_id == uuid.UUID(referral_id)
                )
            )
        ).all()
    assert rows == []


async def test_retention_erases_follow_up_notes(case: Case, services: Runtime) -> None:
    referral_id = await case.completed()
    assert (await case.follow_up(referral_id)).status_code == 201
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=services.settings.retention_days + 1)
    async with services.db.transaction() as session:
        await session.execute(
            update(Referral)
            .where(Referral.id == uuid.UUID(referral_id))
            .values(updated_at=long_ago)
        )
    await anonymise_ended(
        services.db,
        services.cipher,
        dt.datetime.now(dt.UTC),
        retention_days=services.settings.retention_days,
        dry_run=False,
    )
    listed = await case.http.get(
        f"/v1/referrals/{referral_id}/follow-ups", headers=case.kemensos.headers
    )
    (item,) = listed.json()["items"]
    assert item["note"] is None and item["contact"] == "reached"


async def test_key_rotation_reseals_follow_up_notes(own_settings: Settings) -> None:
    services = build_runtime(own_settings)
    try:
        code = sentra_code()
        clients = Clients(services)
        await clients.add_sentra(code)
        async with http_with_clock(own_settings, services) as (http, clock):
            case = Case(
                http,
                clock,
                await clients.prison("LP-ROTATE"),
                await clients.kemensos(),
                await clients.sentra(code),
                code,
                "LP-ROTATE",
            )
            referral_id = await case.completed()
            assert (await case.follow_up(referral_id)).status_code == 201
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
        # the referral and its text key: the report's text and the note are sealed under
        # that key (app/referrals/keys.py) and need no re-encryption
        assert (await rotate_keys(rotating.db, rotating.cipher)).changed == 2
    finally:
        await rotating.db.dispose()
    only_new = build_runtime(
        Settings.model_validate(own_settings.model_dump() | {"data_key": new_key})
    )
    try:
        async with http_with_clock(only_new.settings, only_new) as (http, _):
            listed = await http.get(
                f"/v1/referrals/{referral_id}/follow-ups", headers=case.kemensos.headers
            )
        assert listed.json()["items"][0]["note"] == FOLLOW_UP["note"]
    finally:
        await only_new.db.dispose()
