"""SPEC §3 case semantics through HTTP: every row and outcome of the event table, staleness,
NIK duplicates, terminal statuses, and the history rows events leave behind."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.factories import make_event, set_path, supervised, today
from tests.support.checks import referral_count

URL = "/v1/release-events"
PROBLEM_JSON = "application/problem+json"
Event = dict[str, Any]
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)


def at(minutes: int) -> dt.datetime:
    """A fixed timeline: T0 + minutes (T0 is two hours ago, so never in the future)."""
    return T0 + dt.timedelta(minutes=minutes)


def unique_nik(birth: dt.date = dt.date(1985, 3, 12), sex: str = "male") -> str:
    day = birth.day + (40 if sex == "female" else 0)
    return (
        f"31{random.randrange(10**4):04d}{day:02d}{birth.month:02d}{birth.year % 100:02d}"
        f"{random.randrange(1, 10**4):04d}"
    )


@dataclass
class Case:
    """One custody episode at one facility, posted by one prison client."""

    http: httpx.AsyncClient
    prison: ApiClient
    facility: str
    case_ref: str = field(default_factory=lambda: f"B.I-{uuid.uuid4().hex[:8]}/2024")
    nik: str = field(default_factory=unique_nik)
    supervised: bool = False
    release_days: int = -1

    def event(self, event_type: str, minutes: int, **overrides: Any) -> Event:
        event = make_event(
            self.facility,
            event_type="release.scheduled",  # the factory refuses a future completed release
            case_ref=self.case_ref,
            release_days=self.release_days,
            occurred_at=at(minutes),
        )
        event["event_type"] = event_type
        event["person"]["nik"] = self.nik
        event["consent"]["recorded_at"] = T0.isoformat()
        if self.supervised:
            supervised(event)
        for path, value in overrides.items():
            set_path(event, path, value)
        return event

    async def post(self, event: Event) -> httpx.Response:
        return await self.http.post(URL, json=event, headers=self.prison.headers)

    async def send(self, event_type: str, minutes: int, **overrides: Any) -> httpx.Response:
        return await self.post(self.event(event_type, minutes, **overrides))


def accepted(response: httpx.Response, status: int, outcome: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"event_id", "outcome", "referral", "warnings"}
    assert set(body["referral"]) == {"id", "status", "custody_status", "version"}
    assert body["outcome"] == outcome
    assert "Idempotent-Replayed" not in response.headers
    return body


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def ref(body: dict[str, Any]) -> tuple[str, str, int]:
    r = body["referral"]
    return r["status"], r["custody_status"], r["version"]


async def detail(http: httpx.AsyncClient, client: ApiClient, rid: str) -> httpx.Response:
    response = await http.get(f"/v1/referrals/{rid}", headers=client.headers)
    assert response.status_code == 200, response.text
    return response


async def history(http: httpx.AsyncClient, client: ApiClient, rid: str) -> list[dict[str, Any]]:
    response = await http.get(f"/v1/referrals/{rid}/history", headers=client.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def transition(
    http: httpx.AsyncClient, client: ApiClient, rid: str, action: str, **fields: Any
) -> dict[str, Any]:
    current = await detail(http, client, rid)
    response = await http.post(
        f"/v1/referrals/{rid}/transitions",
        json={"action": action, **fields},
        headers={**client.headers, "If-Match": current.headers["ETag"]},
    )
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


@pytest.fixture
async def case(http: httpx.AsyncClient, clients: Clients, facility: str) -> Case:
    return Case(http, await clients.prison(facility), facility)


@pytest.fixture
async def kemensos(clients: Clients) -> ApiClient:
    return await clients.kemensos()


async def new_sentra(clients: Clients) -> str:
    code = f"SNT-{uuid.uuid4().hex[:8].upper()}"
    await clients.add_sentra(code, coverage=["3171"])
    return code


# -- release.scheduled / release.rescheduled ---------------------------------------------


@pytest.mark.parametrize("event_type", ["release.scheduled", "release.rescheduled"])
async def test_scheduling_event_creates_in_custody(
    case: Case, event_type: str, services: Runtime
) -> None:
    case.release_days = 20
    response = await case.send(event_type, 0)
    body = accepted(response, 201, "created")
    assert ref(body) == ("received", "in_custody", 1)
    assert body["warnings"] == []
    uuid.UUID(body["referral"]["id"])
    data = (await detail(case.http, case.prison, body["referral"]["id"])).json()
    assert data["custody_status"] == "in_custody"
    assert data["case_ref"] == case.case_ref
    assert data["release"]["date"] == case.event(event_type, 0)["release"]["date"]
    items = await history(case.http, case.prison, body["referral"]["id"])
    assert [
        (h["event_type"], h["event_outcome"], h["from_status"], h["to_status"]) for h in items
    ] == [(event_type, "created", None, "received")]
    assert items[0]["event_id"] == body["event_id"]
    assert items[0]["client"] == case.prison.client_id
    assert await referral_count(services, case.facility) == 1


@pytest.mark.parametrize("event_type", ["release.scheduled", "release.rescheduled"])
async def test_scheduling_event_replaces_data_of_existing_referral(
    case: Case, event_type: str
) -> None:
    case.release_days = 20
    created = accepted(await case.send("release.scheduled", 0), 201, "created")
    rid = created["referral"]["id"]
    new_date = (
        dt.date.fromisoformat(case.event(event_type, 0)["release"]["date"]) + dt.timedelta(days=7)
    ).isoformat()
    body = accepted(await case.send(event_type, 1, release__date=new_date), 200, "updated")
    assert body["referral"]["id"] == rid
    assert ref(body) == ("received", "in_custody", 2)
    data = await detail(case.http, case.prison, rid)
    assert data.json()["release"]["date"] == new_date
    assert data.headers["ETag"] == '"2"'
    items = await history(case.http, case.prison, rid)
    assert items[-1]["event_outcome"] == "updated"
    assert items[-1]["changed_fields"] == ["release"]


async def test_same_data_again_is_unchanged(case: Case) -> None:
    case.release_days = 20
    created = accepted(await case.send("release.scheduled", 0), 201, "created")
    rid = created["referral"]["id"]
    body = accepted(await case.send("release.rescheduled", 1), 200, "unchanged")
    assert ref(body) == ("received", "in_custody", 1)
    items = await history(case.http, case.prison, rid)
    assert [h["event_outcome"] for h in items] == ["created", "unchanged"]
    assert items[-1]["changed_fields"] == []
    assert (await detail(case.http, case.prison, rid)).headers["ETag"] == '"1"'


@pytest.mark.parametrize("event_type", ["release.scheduled", "release.rescheduled"])
async def test_scheduling_after_release_is_409(
    case: Case, event_type: str, services: Runtime
) -> None:
    created = accepted(await case.send("release.completed", 0), 201, "created")
    response = await case.send(event_type, 5, person__full_name="Nama Baru")
    refused(response, 409, "ALREADY_RELEASED")
    data = (await detail(case.http, case.prison, created["referral"]["id"])).json()
    assert data["version"] == 1
    assert data["custody_status"] == "released"
    assert data["person"]["full_name"] == "Budi Santoso"
    assert len(await history(case.http, case.prison, created["referral"]["id"])) == 1
    assert await referral_count(services, case.facility) == 1


# -- release.completed ---------------------------------------------------------------------


async def test_completed_creates_released(case: Case) -> None:
    body = accepted(await case.send("release.completed", 0), 201, "created")
    assert ref(body) == ("received", "released", 1)


async def test_completed_releases_a_scheduled_referral(case: Case) -> None:
    created = accepted(await case.send("release.scheduled", 0), 201, "created")
    body = accepted(await case.send("release.completed", 1), 200, "updated")
    assert body["referral"]["id"] == created["referral"]["id"]
    assert ref(body) == ("received", "released", 2)
    items = await history(case.http, case.prison, body["referral"]["id"])
    # Same data, new custody status: updated, with no changed field.
    assert items[-1]["event_type"] == "release.completed"
    assert items[-1]["changed_fields"] == []
    assert items[-1]["custody_status"] == "released"


async def test_completed_again_with_new_data_updates(case: Case) -> None:
    accepted(await case.send("release.completed", 0), 201, "created")
    body = accepted(
        await case.send("release.completed", 1, person__full_name="Budi S.", needs__summary="Baru"),
        200,
        "updated",
    )
    assert ref(body) == ("received", "released", 2)
    items = await history(case.http, case.prison, body["referral"]["id"])
    assert sorted(items[-1]["changed_fields"]) == ["needs", "person"]
    again = accepted(
        await case.send("release.completed", 2, person__full_name="Budi S.", needs__summary="Baru"),
        200,
        "unchanged",
    )
    assert ref(again) == ("received", "released", 2)


# -- case.updated --------------------------------------------------------------------------


async def test_case_updated_without_referral_is_404(case: Case, services: Runtime) -> None:
    refused(await case.send("case.updated", 0), 404, "UNKNOWN_CASE")
    assert await referral_count(services, case.facility) == 0


async def test_case_updated_for_another_case_ref_is_404(case: Case) -> None:
    accepted(await case.send("release.completed", 0), 201, "created")
    other = case.event("case.updated", 1, case_ref=case.case_ref + "-X")
    refused(await case.post(other), 404, "UNKNOWN_CASE")


@pytest.mark.parametrize(
    ("overrides", "changed"),
    [
        ({"person__full_name": "Budi Santosa"}, ["person"]),
        ({"needs__health__hiv_positive": True}, ["needs"]),
        (
            {"pas_categories": ["warga_binaan", "korban_napza_hiv", "fakir_miskin"]},
            ["pas_categories"],
        ),
        ({"in_custody_programmes": []}, ["in_custody_programmes"]),
        ({"consent__method": "verbal_recorded"}, ["consent"]),
        ({"facility__name": "Lapas Kelas IIA Uji"}, ["facility"]),
        (
            {"person__domicile__address": "Jl. Lain No. 2", "needs__summary": "Perlu kerja"},
            ["needs", "person"],
        ),
    ],
)
async def test_case_updated_replaces_data_and_names_changed_fields(
    case: Case, overrides: dict[str, Any], changed: list[str]
) -> None:
    created = accepted(await case.send("release.completed", 0), 201, "created")
    rid = created["referral"]["id"]
    body = accepted(await case.send("case.updated", 1, **overrides), 200, "updated")
    assert ref(body) == ("received", "released", 2)
    items = await history(case.http, case.prison, rid)
    assert len(items) == 2
    assert items[-1]["event_type"] == "case.updated"
    assert items[-1]["event_outcome"] == "updated"
    assert sorted(items[-1]["changed_fields"]) == changed
    data = (await detail(case.http, case.prison, rid)).json()
    expected = case.event("case.updated", 1, **overrides)
    for name in ("facility", "person", "release", "pas_categories", "needs"):
        assert data[name] == expected[name], name
    recorded = data["consent"].pop("recorded_at")
    assert dt.datetime.fromisoformat(recorded) == dt.datetime.fromisoformat(
        expected["consent"].pop("recorded_at")
    )
    assert data["consent"] == expected["consent"]
    assert data["in_custody_programmes"] == expected["in_custody_programmes"]


async def test_case_updated_corrects_the_nik(case: Case, kemensos: ApiClient) -> None:
    created = accepted(await case.send("release.completed", 0), 201, "created")
    rid = created["referral"]["id"]
    new_nik = unique_nik()
    accepted(await case.send("case.updated", 1, person__nik=new_nik), 200, "updated")
    data = (await detail(case.http, case.prison, rid)).json()
    assert data["person"]["nik"] == new_nik
    listed = await case.http.get("/v1/referrals", params={"nik": new_nik}, headers=kemensos.headers)
    if listed.status_code == 200:  # the list endpoint is someone else's; check it if present
        assert [i["id"] for i in listed.json()["items"]] == [rid]


async def test_case_updated_with_identical_data_is_unchanged(case: Case) -> None:
    accepted(await case.send("release.scheduled", 0), 201, "created")
    body = accepted(await case.send("case.updated", 1), 200, "unchanged")
    assert ref(body) == ("received", "in_custody", 1)


async def test_case_updated_does_not_change_custody(case: Case) -> None:
    accepted(
        await case.send(
            "release.scheduled", 0, release__date=(today() + dt.timedelta(days=5)).isoformat()
        ),
        201,
        "created",
    )
    body = accepted(
        await case.send(
            "case.updated", 1, release__date=(today() + dt.timedelta(days=6)).isoformat()
        ),
        200,
        "updated",
    )
    assert ref(body) == ("received", "in_custody", 2)


# -- release.cancelled ---------------------------------------------------------------------


async def test_cancelled_without_referral_is_404(case: Case, services: Runtime) -> None:
    refused(await case.send("release.cancelled", 0), 404, "UNKNOWN_CASE")
    assert await referral_count(services, case.facility) == 0


async def test_cancelled_before_release_cancels_the_referral(case: Case) -> None:
    case.release_days = 10
    created = accepted(await case.send("release.scheduled", 0), 201, "created")
    rid = created["referral"]["id"]
    body = accepted(await case.send("release.cancelled", 1), 200, "cancelled")
    assert ref(body) == ("cancelled", "release_cancelled", 2)
    data = (await detail(case.http, case.prison, rid)).json()
    assert data["status"] == "cancelled"
    assert data["reason_code"] == "release_cancelled"
    assert data["custody_status"] == "release_cancelled"
    assert data["allowed_actions"] == []
    last = (await history(case.http, case.prison, rid))[-1]
    assert (last["event_type"], last["from_status"], last["to_status"], last["reason_code"]) == (
        "release.cancelled",
        "received",
        "cancelled",
        "release_cancelled",
    )
    assert last["custody_status"] == "release_cancelled"


async def test_cancelled_after_acceptance_cancels_too(case: Case, kemensos: ApiClient) -> None:
    case.release_days = 10
    created = accepted(await case.send("release.scheduled", 0), 201, "created")
    await transition(case.http, kemensos, created["referral"]["id"], "accept")
    body = accepted(await case.send("release.cancelled", 1), 200, "cancelled")
    assert ref(body) == ("cancelled", "release_cancelled", 3)


async def test_cancelled_after_release_is_409(case: Case) -> None:
    created = accepted(await case.send("release.completed", 0), 201, "created")
    refused(await case.send("release.cancelled", 1), 409, "ALREADY_RELEASED")
    data = (await detail(case.http, case.prison, created["referral"]["id"])).json()
    assert (data["status"], data["custody_status"], data["version"]) == ("received", "released", 1)


async def test_scheduled_release_after_cancellation_is_back_in_custody(case: Case) -> None:
    """A terminal status stays; the custody status follows the prison."""
    case.release_days = 10
    accepted(await case.send("release.scheduled", 0), 201, "created")
    accepted(await case.send("release.cancelled", 1), 200, "cancelled")
    body = accepted(await case.send("release.rescheduled", 2), 200, "updated")
    assert ref(body) == ("cancelled", "in_custody", 3)
    body = accepted(
        await case.send(
            "release.completed", 3, release__date=(today() - dt.timedelta(days=1)).isoformat()
        ),
        200,
        "updated",
    )
    assert ref(body) == ("cancelled", "released", 4)


# -- release.revoked -----------------------------------------------------------------------


async def test_revoked_without_referral_is_404(case: Case, services: Runtime) -> None:
    case.supervised = True
    refused(await case.send("release.revoked", 0), 404, "UNKNOWN_CASE")
    assert await referral_count(services, case.facility) == 0


@pytest.mark.parametrize("release_type", ["bebas_murni", "amnesti"])
async def test_revoked_unsupervised_release_is_409(case: Case, release_type: str) -> None:
    created = accepted(
        await case.send("release.completed", 0, release__type=release_type), 201, "created"
    )
    response = await case.send("release.revoked", 1, release__type=release_type)
    refused(response, 409, "NOT_SUPERVISED")
    data = (await detail(case.http, case.prison, created["referral"]["id"])).json()
    assert (data["status"], data["custody_status"], data["version"]) == ("received", "released", 1)


@pytest.mark.parametrize(
    "release_type", ["pembebasan_bersyarat", "cuti_bersyarat", "cuti_menjelang_bebas", "asimilasi"]
)
async def test_revoked_received_referral_is_cancelled(case: Case, release_type: str) -> None:
    case.supervised = True
    created = accepted(
        await case.send("release.completed", 0, release__type=release_type), 201, "created"
    )
    rid = created["referral"]["id"]
    body = accepted(
        await case.send("release.revoked", 1, release__type=release_type), 200, "revoked"
    )
    assert ref(body) == ("cancelled", "returned_to_custody", 2)
    data = (await detail(case.http, case.prison, rid)).json()
    assert data["reason_code"] == "parole_revoked"
    last = (await history(case.http, case.prison, rid))[-1]
    assert (last["event_type"], last["event_outcome"], last["from_status"], last["to_status"]) == (
        "release.revoked",
        "revoked",
        "received",
        "cancelled",
    )
    assert last["reason_code"] == "parole_revoked"


@pytest.mark.parametrize("steps", [["accept"], ["accept", "assign"]])
async def test_revoked_accepted_or_assigned_referral_is_cancelled(
    case: Case, kemensos: ApiClient, clients: Clients, steps: list[str]
) -> None:
    case.supervised = True
    created = accepted(await case.send("release.completed", 0), 201, "created")
    rid = created["referral"]["id"]
    sentra = await new_sentra(clients)
    for step in steps:
        fields = {"sentra_code": sentra} if step == "assign" else {}
        await transition(case.http, kemensos, rid, step, **fields)
    body = accepted(await case.send("release.revoked", 1), 200, "revoked")
    assert ref(body) == ("cancelled", "returned_to_custody", 1 + len(steps) + 1)
    data = (await detail(case.http, kemensos, rid)).json()
    assert data["reason_code"] == "parole_revoked"


async def test_revoked_in_service_referral_goes_on_hold(
    case: Case, kemensos: ApiClient, clients: Clients
) -> None:
    case.supervised = True
    created = accepted(await case.send("release.completed", 0), 201, "created")
    rid = created["referral"]["id"]
    sentra = await new_sentra(clients)
    await transition(case.http, kemensos, rid, "accept")
    await transition(case.http, kemensos, rid, "assign", sentra_code=sentra)
    started = await transition(case.http, kemensos, rid, "start_service")
    assert started["status"] == "in_service"
    body = accepted(await case.send("release.revoked", 1), 200, "revoked")
    assert ref(body) == ("on_hold", "returned_to_custody", 5)
    data = (await detail(case.http, kemensos, rid)).json()
    assert data["reason_code"] == "returned_to_custody"
    assert data["sentra_code"] == sentra
    assert "resume" in data["allowed_actions"]
    last = (await history(case.http, case.prison, rid))[-1]
    assert (last["from_status"], last["to_status"], last["reason_code"]) == (
        "in_service",
        "on_hold",
        "returned_to_custody",
    )
    # Resuming goes back to where it was held from.
    resumed = await transition(case.http, kemensos, rid, "resume")
    assert resumed["status"] == "in_service"


async def test_revoked_closed_referral_keeps_its_status(
    case: Case, kemensos: ApiClient, clients: Clients
) -> None:
    case.supervised = True
    created = accepted(await case.send("release.completed", 0), 201, "created")
    rid = created["referral"]["id"]
    sentra = await new_sentra(clients)
    await transition(case.http, kemensos, rid, "accept")
    await transition(case.http, kemensos, rid, "assign", sentra_code=sentra)
    await transition(
        case.http, kemensos, rid, "close", outcome="completed", report={"summary": "Selesai."}
    )
    response = await case.send("release.revoked", 1)
    assert response.status_code == 200, response.text
    body = response.json()
    assert ref(body) == ("closed", "returned_to_custody", 5)
    data = (await detail(case.http, kemensos, rid)).json()
    assert (data["status"], data["outcome"]) == ("closed", "completed")


# -- terminal statuses never change by an event --------------------------------------------


async def test_rejected_referral_follows_the_prison_but_stays_rejected(
    case: Case, kemensos: ApiClient
) -> None:
    case.release_days = 3
    created = accepted(await case.send("release.scheduled", 0), 201, "created")
    rid = created["referral"]["id"]
    await transition(case.http, kemensos, rid, "reject", reason_code="out_of_scope")
    body = accepted(
        await case.send(
            "release.completed",
            1,
            release__date=(today() - dt.timedelta(days=1)).isoformat(),
        ),
        200,
        "updated",
    )
    assert ref(body) == ("rejected", "released", 3)
    body = accepted(
        await case.send(
            "case.updated",
            2,
            person__full_name="Budi Baru",
            release__date=(today() - dt.timedelta(days=1)).isoformat(),
        ),
        200,
        "updated",
    )
    assert ref(body) == ("rejected", "released", 4)
    data = (await detail(case.http, kemensos, rid)).json()
    assert (data["status"], data["reason_code"]) == ("rejected", "out_of_scope")
    assert data["person"]["full_name"] == "Budi Baru"


async def test_cancelled_referral_stays_cancelled_when_cancelled_again(case: Case) -> None:
    case.release_days = 10
    accepted(await case.send("release.scheduled", 0), 201, "created")
    accepted(await case.send("release.cancelled", 1), 200, "cancelled")
    body = accepted(await case.send("release.cancelled", 2), 200, "unchanged")
    assert ref(body) == ("cancelled", "release_cancelled", 2)


async def test_prison_cancelled_referral_is_not_revived_by_revocation(case: Case) -> None:
    case.supervised = True
    created = accepted(await case.send("release.completed", 0), 201, "created")
    rid = created["referral"]["id"]
    await transition(case.http, case.prison, rid, "cancel", reason_code="entered_in_error")
    body = accepted(await case.send("release.revoked", 1), 200, "revoked")
    assert ref(body) == ("cancelled", "returned_to_custody", 3)
    data = (await detail(case.http, case.prison, rid)).json()
    assert data["reason_code"] == "entered_in_error"


# -- stale events --------------------------------------------------------------------------


async def test_stale_event_is_recorded_but_not_applied(case: Case) -> None:
    created = accepted(await case.send("release.completed", 10), 201, "created")
    rid = created["referral"]["id"]
    body = accepted(await case.send("case.updated", 5, person__full_name="Nama Lama"), 200, "stale")
    assert ref(body) == ("received", "released", 1)
    assert body["referral"]["id"] == rid
    data = (await detail(case.http, case.prison, rid)).json()
    assert data["person"]["full_name"] == "Budi Santoso"
    assert data["version"] == 1


async def test_equal_occurred_at_is_not_stale(case: Case) -> None:
    accepted(await case.send("release.completed", 10), 201, "created")
    body = accepted(
        await case.send("case.updated", 10, person__full_name="Nama Baru"), 200, "updated"
    )
    assert ref(body) == ("received", "released", 2)


async def test_staleness_compares_instants_not_local_times(case: Case) -> None:
    """08:00+07:00 is 01:00Z: an event at 02:00Z is newer, at 00:30Z older."""
    base = (T0 - dt.timedelta(days=1)).replace(hour=1, minute=0, second=0)
    # Released on the local (Jakarta) day of the first event, whatever the hour the suite
    # runs at: from 17:00 UTC the factory's "yesterday" is already that day in Jakarta.
    released_on = base.astimezone(dt.timezone(dt.timedelta(hours=7))).date().isoformat()
    first = case.event("release.completed", 0, release__date=released_on)
    first["occurred_at"] = base.astimezone(dt.timezone(dt.timedelta(hours=7))).isoformat()
    accepted(await case.post(first), 201, "created")
    older = case.event("case.updated", 0, person__full_name="Lama", release__date=released_on)
    older["occurred_at"] = (base - dt.timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    accepted(await case.post(older), 200, "stale")
    newer = case.event("case.updated", 0, person__full_name="Baru", release__date=released_on)
    newer["occurred_at"] = (
        (base + dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()
    )
    accepted(await case.post(newer), 200, "updated")


@pytest.mark.parametrize(
    "event_type", ["release.scheduled", "release.rescheduled", "release.cancelled"]
)
async def test_stale_event_beats_already_released(case: Case, event_type: str) -> None:
    created = accepted(await case.send("release.completed", 10), 201, "created")
    body = accepted(await case.send(event_type, 5), 200, "stale")
    assert ref(body) == ("received", "released", 1)
    assert body["referral"]["id"] == created["referral"]["id"]


async def test_stale_revocation_beats_not_supervised(case: Case) -> None:
    accepted(await case.send("release.completed", 10), 201, "created")
    body = accepted(await case.send("release.revoked", 5), 200, "stale")
    assert ref(body) == ("received", "released", 1)


async def test_stale_revocation_does_not_cancel(case: Case) -> None:
    case.supervised = True
    accepted(await case.send("release.completed", 10), 201, "created")
    body = accepted(await case.send("release.revoked", 9), 200, "stale")
    assert ref(body) == ("received", "released", 1)


async def test_stale_is_measured_against_the_last_applied_event(case: Case) -> None:
    accepted(await case.send("release.scheduled", 0), 201, "created")
    accepted(await case.send("release.completed", 20), 200, "updated")
    # 10 is older than 20, the last applied: stale (not a 409 for a scheduled after release).
    accepted(await case.send("release.rescheduled", 10), 200, "stale")
    # A stale event does not move the mark: 15 is still older than 20.
    accepted(await case.send("case.updated", 15, person__full_name="X"), 200, "stale")
    body = accepted(await case.send("case.updated", 25, person__full_name="Y"), 200, "updated")
    assert ref(body) == ("received", "released", 3)


async def test_unchanged_event_moves_the_staleness_mark(case: Case) -> None:
    accepted(await case.send("release.completed", 0), 201, "created")
    accepted(await case.send("case.updated", 20), 200, "unchanged")
    accepted(await case.send("case.updated", 10, person__full_name="Lama"), 200, "stale")


# -- NIK with another open referral ---------------------------------------------------------


async def test_second_case_for_the_same_nik_is_flagged(case: Case, kemensos: ApiClient) -> None:
    first = accepted(await case.send("release.completed", 0), 201, "created")
    second_case = Case(case.http, case.prison, case.facility, nik=case.nik)
    second = accepted(await second_case.send("release.completed", 1), 201, "created")
    assert [(w["code"], w.get("pointer")) for w in second["warnings"]] == [
        ("OPEN_REFERRAL_EXISTS_FOR_NIK", "/person/nik")
    ]
    first_id, second_id = first["referral"]["id"], second["referral"]["id"]
    data = (await detail(case.http, case.prison, second_id)).json()
    assert data["data_quality_flags"] == ["OPEN_REFERRAL_EXISTS_FOR_NIK"]
    assert data["related_referral_ids"] == [first_id]
    for reader in (case.prison, kemensos):
        other = (await detail(case.http, reader, first_id)).json()
        assert other["related_referral_ids"] == [second_id]

    third_case = Case(case.http, case.prison, case.facility, nik=case.nik)
    third = accepted(await third_case.send("release.scheduled", 2), 201, "created")
    assert [w["code"] for w in third["warnings"]] == ["OPEN_REFERRAL_EXISTS_FOR_NIK"]
    data = (await detail(case.http, kemensos, third["referral"]["id"])).json()
    assert data["related_referral_ids"] == sorted([first_id, second_id])


async def test_same_nik_at_another_facility_is_flagged(
    case: Case, clients: Clients, kemensos: ApiClient
) -> None:
    first = accepted(await case.send("release.completed", 0), 201, "created")
    other_facility = f"{case.facility}-2"
    other = Case(case.http, await clients.prison(other_facility), other_facility, nik=case.nik)
    second = accepted(await other.send("release.completed", 1), 201, "created")
    # SPEC §3: the other prison must not learn that the first holds the person: no
    # warning, no flag, no id (it was an oracle: post a NIK, read the warning).
    assert second["warnings"] == []
    data = (await detail(case.http, kemensos, second["referral"]["id"])).json()
    assert data["related_referral_ids"] == [first["referral"]["id"]]
    assert data["data_quality_flags"] == ["OPEN_REFERRAL_EXISTS_FOR_NIK"]
    data = (await detail(case.http, other.prison, second["referral"]["id"])).json()
    assert data["related_referral_ids"] == []
    assert data["data_quality_flags"] == []


async def test_a_prison_bound_to_both_facilities_is_told(case: Case, clients: Clients) -> None:
    first = accepted(await case.send("release.completed", 0), 201, "created")
    other_facility = f"{case.facility}-3"
    both = await clients.prison(case.facility, other_facility)
    other = Case(case.http, both, other_facility, nik=case.nik)
    second = accepted(await other.send("release.completed", 1), 201, "created")
    assert [w["code"] for w in second["warnings"]] == ["OPEN_REFERRAL_EXISTS_FOR_NIK"]
    data = (await detail(case.http, both, second["referral"]["id"])).json()
    assert data["related_referral_ids"] == [first["referral"]["id"]]
    assert data["data_quality_flags"] == ["OPEN_REFERRAL_EXISTS_FOR_NIK"]


async def test_terminal_referral_for_the_nik_is_not_an_open_one(case: Case) -> None:
    case.release_days = 10
    accepted(await case.send("release.scheduled", 0), 201, "created")
    accepted(await case.send("release.cancelled", 1), 200, "cancelled")
    second_case = Case(case.http, case.prison, case.facility, nik=case.nik, release_days=10)
    second = accepted(await second_case.send("release.scheduled", 2), 201, "created")
    assert second["warnings"] == []
    data = (await detail(case.http, case.prison, second["referral"]["id"])).json()
    assert data["data_quality_flags"] == []


async def test_the_same_episode_again_is_not_a_duplicate(case: Case) -> None:
    accepted(await case.send("release.scheduled", 0), 201, "created")
    body = accepted(await case.send("release.completed", 1), 200, "updated")
    assert body["warnings"] == []


async def test_nik_mismatch_flag_follows_corrections(case: Case) -> None:
    wrong = unique_nik(dt.date(1985, 3, 13))
    created = accepted(await case.send("release.completed", 0, person__nik=wrong), 201, "created")
    assert [w["code"] for w in created["warnings"]] == ["NIK_BIRTHDATE_MISMATCH"]
    rid = created["referral"]["id"]
    # The prison corrects the birth date to what the NIK says.
    body = accepted(
        await case.send("case.updated", 1, person__nik=wrong, person__birth_date="1985-03-13"),
        200,
        "updated",
    )
    assert body["warnings"] == []
    data = (await detail(case.http, case.prison, rid)).json()
    assert data["data_quality_flags"] == []
