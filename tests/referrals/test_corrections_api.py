"""SPEC §2-§5 as corrected (issue 13): release groups, PPKS types, the Bapas, recorded
consent, `supervision.ended`, children minimised, disclosure by consent scope."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import httpx
import pytest

from tests.conftest import ApiClient, Clients
from tests.factories import supervised, today
from tests.intake.test_rules_api import event_for, set_birth, years_before
from tests.support.checks import assert_problem
from tests.support.referrals import drive, post_event, sentra_code

URL = "/v1/release-events"


def errors(response: httpx.Response) -> list[tuple[str, str]]:
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    return [(e["code"], e["pointer"]) for e in body["errors"]]


def detainee(facility: str, **kwargs: Any) -> dict[str, Any]:
    """A detainee (tahanan) released when detention lapsed: never convicted."""
    return event_for(
        facility,
        **{"release__type": "bebas_demi_hukum", "pas_categories": ["korban_napza_hiv"], **kwargs},
    )


# Release groups and warga_binaan


async def test_a_released_detainee_is_no_ex_inmate(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    created = await http.post(URL, json=detainee(facility), headers=prison.headers)
    assert created.status_code == 201, created.text
    labelled = detainee(facility, pas_categories=["korban_napza_hiv", "warga_binaan"])
    refused = await http.post(URL, json=labelled, headers=prison.headers)
    assert errors(refused) == [("PAS_WARGA_BINAAN_NOT_CONVICTED", "/pas_categories/1")]


@pytest.mark.parametrize(
    "release_type", ["putusan_bebas", "putusan_lepas", "abolisi", "bebas_demi_hukum"]
)
async def test_every_not_convicted_release_refuses_warga_binaan(
    http: httpx.AsyncClient, clients: Clients, facility: str, release_type: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, release__type=release_type)
    assert errors(await http.post(URL, json=event, headers=prison.headers)) == [
        ("PAS_WARGA_BINAAN_NOT_CONVICTED", "/pas_categories/0")
    ]


@pytest.mark.parametrize("release_type", ["bebas_murni", "grasi", "pembebasan_bersyarat"])
async def test_a_convicted_release_needs_warga_binaan(
    http: httpx.AsyncClient, clients: Clients, facility: str, release_type: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, pas_categories=["korban_napza_hiv"])
    if release_type == "pembebasan_bersyarat":
        supervised(event)
    else:
        event["release"]["type"] = release_type
    assert errors(await http.post(URL, json=event, headers=prison.headers)) == [
        ("PAS_WARGA_BINAAN_REQUIRED", "/pas_categories")
    ]


async def test_a_diverted_child_is_created_without_warga_binaan(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, release__type="diversi", pas_categories=["anak_rentan"])
    set_birth(event, years_before(today(), 15))
    event["person"]["guardian"] = {"full_name": "Siti Aminah", "relationship": "ibu"}
    event["consent"]["given_by"] = "guardian"
    response = await http.post(URL, json=event, headers=prison.headers)
    assert response.status_code == 201, response.text


# PPKS types


async def test_ppks_types_refine_the_categories(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    good = event_for(facility, ppks_types=[15, 17])
    assert (await http.post(URL, json=good, headers=prison.headers)).status_code == 201
    bad = event_for(facility, ppks_types=[17, 3, 17, 16])
    assert errors(await http.post(URL, json=bad, headers=prison.headers)) == [
        ("PPKS_TYPE_MISMATCH", "/ppks_types/1"),
        ("DUPLICATE_PPKS_TYPE", "/ppks_types/2"),
    ]


@pytest.mark.parametrize("number", [0, 27, -1])
async def test_a_ppks_number_outside_1_to_26_is_a_schema_error(
    http: httpx.AsyncClient, clients: Clients, facility: str, number: int
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, ppks_types=[number])
    found = errors(await http.post(URL, json=event, headers=prison.headers))
    assert [pointer for _, pointer in found] == ["/ppks_types/0"]


# Bapas


async def test_a_supervised_release_names_its_bapas_and_no_other_does(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    missing = supervised(event_for(facility))
    missing["release"]["bapas_code"] = None
    assert errors(await http.post(URL, json=missing, headers=prison.headers)) == [
        ("BAPAS_REQUIRED", "/release/bapas_code")
    ]
    extra = event_for(facility, release__bapas_code="BAPAS-JAKTIM")
    assert errors(await http.post(URL, json=extra, headers=prison.headers)) == [
        ("BAPAS_NOT_ALLOWED", "/release/bapas_code")
    ]


# Consent


async def test_consent_is_written_or_recorded_and_its_evidence_kept(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    verbal = event_for(facility, consent__method="verbal_witnessed")
    assert errors(await http.post(URL, json=verbal, headers=prison.headers)) == [
        ("CONSENT_NOT_RECORDED", "/consent/method")
    ]
    no_evidence = event_for(facility, consent__evidence_ref=None)
    assert errors(await http.post(URL, json=no_evidence, headers=prison.headers)) == [
        ("CONSENT_EVIDENCE_REQUIRED", "/consent/evidence_ref")
    ]
    for method in ("written", "electronic", "verbal_recorded"):
        ok = event_for(facility, consent__method=method)
        assert (await http.post(URL, json=ok, headers=prison.headers)).status_code == 201
    public = event_for(
        facility,
        consent={"basis": "public_task", "recorded_at": "2026-01-01T00:00:00+07:00"},
    )
    assert (await http.post(URL, json=public, headers=prison.headers)).status_code == 201


async def test_a_repeated_scope_is_refused(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, consent__scope=["health", "health"])
    found = errors(await http.post(URL, json=event, headers=prison.headers))
    assert [pointer for _, pointer in found] == ["/consent/scope"]


async def test_disability_types_are_the_four_kinds(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(
        facility,
        pas_categories=["warga_binaan", "penyandang_disabilitas"],
        needs__health__disability_types=["sensorik", "tuna netra"],
    )
    found = errors(await http.post(URL, json=event, headers=prison.headers))
    assert [pointer for _, pointer in found] == ["/needs/health/disability_types/1"]


# supervision.ended


async def test_supervision_ended_hands_the_person_to_kemensos(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    event = supervised(event_for(facility, release_days=-30))
    referral_id = await post_event(http, prison, event)
    before = (await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)).json()
    assert (before["responsible_agency"], before["supervision_ended"]) == ("imipas", False)
    ended = {
        **event,
        "event_id": event["event_id"] + "-END",
        "event_type": "supervision.ended",
        "release": {**event["release"], "supervision_end_date": today().isoformat()},
    }
    response = await http.post(URL, json=ended, headers=prison.headers)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "updated"
    after = (await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)).json()
    assert after["supervision_ended"] is True
    assert after["responsible_agency"] == "kemensos"
    assert after["handover_date"] == today().isoformat()
    # A later event no longer moves the date.
    later = {
        **event,
        "event_id": event["event_id"] + "-LATER",
        "event_type": "case.updated",
        "release": {
            **event["release"],
            "supervision_end_date": (today() + dt.timedelta(days=90)).isoformat(),
        },
    }
    assert (await http.post(URL, json=later, headers=prison.headers)).status_code == 200
    last = (await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)).json()
    assert last["release"]["supervision_end_date"] == today().isoformat()
    assert last["responsible_agency"] == "kemensos"


async def test_supervision_ended_refusals(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    unknown = supervised(event_for(facility, event_type="supervision.ended"))
    assert_problem(await http.post(URL, json=unknown, headers=prison.headers), 404, "UNKNOWN_CASE")

    free = event_for(facility)
    await post_event(http, prison, free)
    not_supervised = {
        **free,
        "event_id": free["event_id"] + "-E",
        "event_type": "supervision.ended",
    }
    response = await http.post(URL, json=not_supervised, headers=prison.headers)
    assert_problem(response, 409, "NOT_SUPERVISED")

    inside = supervised(event_for(facility, event_type="release.scheduled", release_days=5))
    await post_event(http, prison, inside)
    early = {**inside, "event_id": inside["event_id"] + "-E", "event_type": "supervision.ended"}
    assert_problem(
        await http.post(URL, json=early, headers=prison.headers), 409, "NOT_YET_RELEASED"
    )

    out = supervised(event_for(facility, release_days=-10))
    await post_event(http, prison, out)
    future_end = {**out, "event_id": out["event_id"] + "-E", "event_type": "supervision.ended"}
    assert errors(await http.post(URL, json=future_end, headers=prison.headers)) == [
        ("INVALID_DATE", "/release/supervision_end_date")
    ]


# The Bapas role and disclosure by consent scope


async def test_a_bapas_reads_the_referrals_it_supervises_within_the_consent(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    own = await clients.bapas("BAPAS-JAKTIM")
    other = await clients.bapas("BAPAS-BANDUNG")
    event = supervised(event_for(facility), "cuti_bersyarat")
    event["consent"]["scope"] = ["contact"]
    referral_id = await post_event(http, prison, event)
    seen = await http.get(f"/v1/referrals/{referral_id}", headers=own.headers)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["needs"]["health"] is None
    assert body["person"]["phone"] == event["person"]["phone"]
    assert body["withheld_fields"] == ["/needs/health"]
    listed = await http.get(
        "/v1/referrals", params={"facility_code": facility}, headers=own.headers
    )
    assert [i["id"] for i in listed.json()["items"]] == [referral_id]
    hidden = await http.get(f"/v1/referrals/{referral_id}", headers=other.headers)
    assert_problem(hidden, 404, "REFERRAL_NOT_FOUND")
    none = await http.get(
        "/v1/referrals", params={"facility_code": facility}, headers=other.headers
    )
    assert none.json()["items"] == []
    # The originating prison reads everything.
    whole = (await http.get(f"/v1/referrals/{referral_id}", headers=prison.headers)).json()
    assert whole["needs"]["health"]["napza_history"] is True
    assert whole["withheld_fields"] == []


async def test_the_assigned_sentra_reads_no_hiv_flag_without_a_health_scope(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    sentra = await clients.sentra(code)
    event = event_for(facility, needs__health__hiv_positive=True)
    event["consent"]["scope"] = []
    referral_id = await post_event(http, prison, event)
    await drive(http, kemensos, referral_id, ["accept", "assign"], code)
    body = (await http.get(f"/v1/referrals/{referral_id}", headers=sentra.headers)).json()
    assert body["needs"]["health"] is None
    assert body["person"]["phone"] is None
    assert body["withheld_fields"] == ["/needs/health", "/person/phone", "/person/guardian/phone"]
    assert "hiv_positive" not in str(body)
    full = (await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)).json()
    assert full["needs"]["health"]["hiv_positive"] is True


# Children minimised


async def test_a_childs_name_travels_in_no_list_stats_or_export(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    canary = "Canaryanak Sembunyi"
    child = event_for(facility, pas_categories=["warga_binaan", "anak_rentan", "korban_napza_hiv"])
    set_birth(child, years_before(today(), 16))
    child["person"]["full_name"] = canary
    child["person"]["guardian"] = {"full_name": "Ibu Uji", "relationship": "ibu"}
    child["consent"]["given_by"] = "guardian"
    referral_id = await post_event(http, prison, child)
    page = await http.get(
        "/v1/referrals", params={"facility_code": facility}, headers=kemensos.headers
    )
    assert canary not in page.text and "Canaryanak" not in page.text
    [item] = page.json()["items"]
    assert (item["full_name"], item["birth_date"], item["domicile"]["address"]) == (
        "C. S.",
        None,
        None,
    )
    assert item["birth_year"] == years_before(today(), 16).year
    assert item["nik_masked"] == child["person"]["nik"][:2] + "*" * 14
    stats = await http.get(
        "/v1/referrals/stats",
        params={"facility_code": facility, "group_by": ["status", "ppks_type"]},
        headers=kemensos.headers,
    )
    assert canary not in stats.text
    export = await http.get(
        "/v1/referrals/export.csv", params={"facility_code": facility}, headers=kemensos.headers
    )
    assert export.status_code == 200
    assert canary not in export.text and "Canaryanak" not in export.text
    detail = await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)
    assert detail.json()["person"]["full_name"] == canary


async def test_a_case_from_a_childrens_facility_is_minimised(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    event = event_for(facility, facility__type="lpka")
    await post_event(http, prison, event)
    page = await http.get(
        "/v1/referrals", params={"facility_code": facility}, headers=kemensos.headers
    )
    [item] = page.json()["items"]
    assert item["full_name"] == "B. S."
    assert item["birth_date"] is None


# Filters, stats, export


async def test_filters_and_groups_by_bapas_and_ppks_type(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    a = await post_event(http, prison, supervised(event_for(facility, ppks_types=[15, 17])))
    b = await post_event(http, prison, event_for(facility, ppks_types=[17]))
    c = await post_event(http, prison, event_for(facility))
    params: dict[str, Any] = {"facility_code": facility}
    by_bapas = await http.get(
        "/v1/referrals", params={**params, "bapas_code": "BAPAS-JAKTIM"}, headers=kemensos.headers
    )
    assert [i["id"] for i in by_bapas.json()["items"]] == [a]
    by_type = await http.get(
        "/v1/referrals", params={**params, "ppks_type": 17}, headers=kemensos.headers
    )
    assert {i["id"] for i in by_type.json()["items"]} == {a, b}
    stats = await http.get(
        "/v1/referrals/stats", params={**params, "group_by": "ppks_type"}, headers=kemensos.headers
    )
    body = stats.json()
    assert stats.status_code == 200, stats.text
    assert body["total"] == 3
    assert {g["key"]["ppks_type"]: g["count"] for g in body["groups"]} == {15: 1, 17: 2}
    grouped = await http.get(
        "/v1/referrals/stats", params={**params, "group_by": "bapas_code"}, headers=kemensos.headers
    )
    assert {g["key"]["bapas_code"]: g["count"] for g in grouped.json()["groups"]} == {
        "BAPAS-JAKTIM": 1,
        None: 2,
    }
    del c


async def test_the_export_is_for_spreadsheets(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    event = event_for(facility, person__full_name="Nurhalíza =SUM(A1)")
    referral_id = await post_event(http, prison, event)
    await drive(http, kemensos, referral_id, ["accept", "reject"], None)
    export = await http.get(
        "/v1/referrals/export.csv", params={"facility_code": facility}, headers=kemensos.headers
    )
    assert export.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    [row] = rows
    assert row["full_name"] == "Nurhalíza =SUM(A1)"
    assert (row["status"], row["reason_code"]) == ("rejected", "not_eligible")
    assert row["created_at"].endswith("+07:00")


# Reference data


async def test_reference_ppks_types_and_release_groups(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    kemensos = await clients.kemensos()
    ppks = (await http.get("/v1/reference/ppks-types", headers=kemensos.headers)).json()["items"]
    assert [p["number"] for p in ppks] == list(range(1, 27))
    by_number = {p["number"]: p["pas_category"] for p in ppks}
    assert (by_number[3], by_number[16], by_number[17]) == (
        "anak_rentan",
        "korban_napza_hiv",
        "korban_napza_hiv",
    )
    types = (await http.get("/v1/reference/release-types", headers=kemensos.headers)).json()
    groups = {t["code"]: t["group"] for t in types["items"]}
    assert groups["grasi"] == "convicted"
    assert groups["asimilasi"] == "supervised"
    assert {c for c, g in groups.items() if g == "not_convicted"} == {
        "bebas_demi_hukum",
        "putusan_bebas",
        "putusan_lepas",
        "abolisi",
        "diversi",
    }


del ApiClient
