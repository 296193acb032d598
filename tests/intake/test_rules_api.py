"""SPEC §3 validation rules and the §1 error conventions, through HTTP (POST /v1/release-events).

Every rule row of the §3 table has at least one test asserting status, `code` and the exact
`errors[]` pointers; a 422 never writes a referral.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import httpx
import pytest

from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.factories import JAKARTA, make_event, nik_for, set_path, supervised, today
from tests.support.checks import assert_problem, intake_count, referral_count

URL = "/v1/release-events"
PROBLEM_JSON = "application/problem+json"
Event = dict[str, Any]


# -- helpers ------------------------------------------------------------------------------


def unique_nik(birth: dt.date, sex: str, province: str = "31") -> str:
    """A NIK consistent with birth date and sex, unique across the shared test database."""
    day = birth.day + (40 if sex == "female" else 0)
    place = f"{random.randrange(10**4):04d}"  # digits 3-6 are never checked
    serial = f"{random.randrange(1, 10**4):04d}"
    return f"{province}{place}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial}"


def event_for(facility: str, **kwargs: Any) -> Event:
    """make_event() with a NIK of its own (no OPEN_REFERRAL_EXISTS_FOR_NIK from other tests)."""
    event = make_event(facility, **kwargs)
    person = event["person"]
    if "person__nik" not in kwargs and "person" not in kwargs:
        person["nik"] = unique_nik(dt.date.fromisoformat(person["birth_date"]), person["sex"])
    return event


def set_birth(event: Event, birth: dt.date, sex: str | None = None) -> None:
    person = event["person"]
    if sex is not None:
        person["sex"] = sex
    person["birth_date"] = birth.isoformat()
    person["nik"] = unique_nik(birth, person["sex"])


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def release_date(event: Event) -> dt.date:
    return dt.date.fromisoformat(event["release"]["date"])


def make_child(event: Event, age: int = 16) -> Event:
    """A valid child at release: anak_rentan, a guardian, the guardian's consent."""
    birth = years_before(release_date(event), age) - dt.timedelta(days=30)
    set_birth(event, birth)
    event["pas_categories"] = ["warga_binaan", "anak_rentan"]
    event["person"]["guardian"] = {"full_name": "Siti Aminah", "relationship": "ibu"}
    event["consent"]["given_by"] = "guardian"
    return event


async def post(http: httpx.AsyncClient, client: ApiClient, event: Any) -> httpx.Response:
    return await http.post(URL, json=event, headers=client.headers)


def errors_of(response: httpx.Response) -> list[tuple[str, str]]:
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    return [(e["code"], e["pointer"]) for e in body["errors"]]


async def expect_errors(
    http: httpx.AsyncClient,
    prison: ApiClient,
    services: Runtime,
    event: Event,
    expected: list[tuple[str, str]],
) -> None:
    response = await post(http, prison, event)
    assert sorted(errors_of(response)) == sorted(expected)
    assert await referral_count(services, next(iter(prison.facility_codes))) == 0
    assert await intake_count(services, prison) == 0


# -- the baseline is valid ----------------------------------------------------------------


async def test_valid_event_is_created_without_warnings(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    response = await post(http, prison, event_for(facility))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["outcome"] == "created"
    assert body["warnings"] == []
    assert body["referral"]["status"] == "received"
    assert body["referral"]["version"] == 1


async def test_valid_child_is_created(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    response = await post(http, prison, make_child(event_for(facility)))
    assert response.status_code == 201, response.text
    assert response.json()["warnings"] == []


# -- PAS categories -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        (["warga_binaan", "bogus"], [("UNKNOWN_PAS_CATEGORY", "/pas_categories/1")]),
        (
            ["Warga_Binaan", "warga_binaan", "anak"],
            [
                ("UNKNOWN_PAS_CATEGORY", "/pas_categories/0"),
                ("UNKNOWN_PAS_CATEGORY", "/pas_categories/2"),
            ],
        ),
        (
            ["warga_binaan", "fakir_miskin", "warga_binaan"],
            [("DUPLICATE_PAS_CATEGORY", "/pas_categories/2")],
        ),
        (
            ["fakir_miskin", "warga_binaan", "fakir_miskin", "fakir_miskin"],
            [
                ("DUPLICATE_PAS_CATEGORY", "/pas_categories/2"),
                ("DUPLICATE_PAS_CATEGORY", "/pas_categories/3"),
            ],
        ),
        (["fakir_miskin"], [("PAS_WARGA_BINAAN_REQUIRED", "/pas_categories")]),
        # Empty: "non-empty" is covered by warga_binaan being required.
        ([], [("PAS_WARGA_BINAAN_REQUIRED", "/pas_categories")]),
        (
            ["fakir_miskin", "nope"],
            [
                ("UNKNOWN_PAS_CATEGORY", "/pas_categories/1"),
                ("PAS_WARGA_BINAAN_REQUIRED", "/pas_categories"),
            ],
        ),
    ],
)
async def test_pas_category_list_rules(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    categories: list[str],
    expected: list[tuple[str, str]],
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, pas_categories=categories)
    await expect_errors(http, prison, services, event, expected)


async def test_all_twelve_categories_are_accepted_when_consistent(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    birth = years_before(release_date(event), 70)
    set_birth(event, birth, sex="female")
    event["pas_categories"] = [
        "warga_binaan",
        "penyandang_disabilitas",
        "lansia_terlantar",
        "masyarakat_berpendapatan_rendah",
        "korban_bencana",
        "komunitas_adat_terpencil",
        "korban_kekerasan",
        "korban_napza_hiv",
        "kelompok_bermasalah_sosial",
        "perempuan_rentan",
        "fakir_miskin",
    ]
    event["needs"]["health"] = {
        "napza_history": False,
        "hiv_positive": True,
        "disability_types": ["fisik"],
    }
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text


async def test_child_without_anak_rentan_guardian_or_guardian_consent(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = make_child(event_for(facility))
    event["pas_categories"] = ["warga_binaan"]
    event["person"]["guardian"] = None
    event["consent"]["given_by"] = "person"
    await expect_errors(
        http,
        prison,
        services,
        event,
        [
            ("PAS_CHILD_REQUIRES_ANAK_RENTAN", "/pas_categories"),
            ("GUARDIAN_REQUIRED", "/person/guardian"),
            ("GUARDIAN_CONSENT_REQUIRED", "/consent/given_by"),
        ],
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda e: e.update(pas_categories=["warga_binaan"]),
            ("PAS_CHILD_REQUIRES_ANAK_RENTAN", "/pas_categories"),
        ),
        (lambda e: e["person"].pop("guardian"), ("GUARDIAN_REQUIRED", "/person/guardian")),
        (
            lambda e: e["consent"].update(given_by="person"),
            ("GUARDIAN_CONSENT_REQUIRED", "/consent/given_by"),
        ),
    ],
    ids=["anak_rentan", "guardian", "guardian_consent"],
)
async def test_each_child_rule_alone(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    mutate: Any,
    expected: tuple[str, str],
) -> None:
    prison = await clients.prison(facility)
    event = make_child(event_for(facility))
    mutate(event)
    await expect_errors(http, prison, services, event, [expected])


async def test_child_under_public_task_needs_no_guardian_consent(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = make_child(event_for(facility))
    event["consent"] = {
        "basis": "public_task",
        "given_by": None,
        "method": None,
        "recorded_at": event["consent"]["recorded_at"],
    }
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("missing", ["given_by", "method"])
async def test_consent_basis_needs_who_and_how(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    missing: str,
) -> None:
    """Not a row of the §3 table, but catalogued: `basis = consent` names who and how."""
    prison = await clients.prison(facility)
    event = event_for(facility)
    event["consent"][missing] = None
    await expect_errors(
        http, prison, services, event, [("CONSENT_DETAIL_REQUIRED", f"/consent/{missing}")]
    )


async def test_eighteenth_birthday_on_release_day_is_an_adult(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    adult = event_for(facility)
    set_birth(adult, years_before(release_date(adult), 18))
    adult["pas_categories"] = ["warga_binaan"]
    response = await post(http, prison, adult)
    assert response.status_code == 201, response.text

    child = event_for(facility)
    set_birth(child, years_before(release_date(child), 18) + dt.timedelta(days=1))
    child["pas_categories"] = ["warga_binaan"]
    response = await post(http, prison, child)
    assert sorted(errors_of(response)) == [
        ("GUARDIAN_CONSENT_REQUIRED", "/consent/given_by"),
        ("GUARDIAN_REQUIRED", "/person/guardian"),
        ("PAS_CHILD_REQUIRES_ANAK_RENTAN", "/pas_categories"),
    ]


def _leap_day_release() -> dt.date:
    """A 1 March in a common year y with y-18 a leap year, inside [-10 y, +1 y] of today."""
    start = today()
    for year in range(start.year + 1, start.year - 10, -1):
        candidate = dt.date(year, 3, 1)
        if (
            year % 4 == 2
            and years_before(start, 10) < candidate - dt.timedelta(days=1)
            and candidate <= start + dt.timedelta(days=360)
        ):
            return candidate
    raise AssertionError("no suitable year")


@pytest.mark.parametrize(("offset", "child"), [(-1, True), (0, False)])
async def test_29_february_birthday_falls_on_1_march(
    http: httpx.AsyncClient, clients: Clients, facility: str, offset: int, child: bool
) -> None:
    prison = await clients.prison(facility)
    release = _leap_day_release() + dt.timedelta(days=offset)  # 28 Feb or 1 Mar
    event = event_for(facility, event_type="release.scheduled")
    event["release"]["date"] = release.isoformat()
    set_birth(event, dt.date(release.year - 18, 2, 29))
    event["pas_categories"] = ["warga_binaan"]
    response = await post(http, prison, event)
    if child:
        assert ("GUARDIAN_REQUIRED", "/person/guardian") in errors_of(response)
    else:
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(("age", "ok"), [(59, False), (60, True)])
async def test_lansia_needs_age_60(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    age: int,
    ok: bool,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    set_birth(event, years_before(release_date(event), age))
    event["pas_categories"] = ["warga_binaan", "korban_napza_hiv", "lansia_terlantar"]
    if ok:
        response = await post(http, prison, event)
        assert response.status_code == 201, response.text
    else:
        await expect_errors(
            http, prison, services, event, [("PAS_LANSIA_AGE", "/pas_categories/2")]
        )


@pytest.mark.parametrize(("sex", "ok"), [("male", False), ("female", True)])
async def test_perempuan_rentan_needs_female(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    sex: str,
    ok: bool,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    set_birth(event, dt.date(1990, 6, 15), sex=sex)
    event["pas_categories"] = ["perempuan_rentan", "warga_binaan"]
    if ok:
        response = await post(http, prison, event)
        assert response.status_code == 201, response.text
    else:
        await expect_errors(
            http, prison, services, event, [("PAS_PEREMPUAN_SEX", "/pas_categories/0")]
        )


@pytest.mark.parametrize(
    "needs",
    [
        None,
        {"summary": "x", "health": None},
        {"summary": "x", "health": {"napza_history": False, "hiv_positive": None}},
        {"health": {"napza_history": None, "hiv_positive": False, "disability_types": []}},
    ],
    ids=["no_needs", "no_health", "napza_false", "hiv_false"],
)
async def test_korban_napza_hiv_needs_health_detail(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    needs: Any,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, needs=needs)
    await expect_errors(
        http, prison, services, event, [("PAS_NAPZA_HIV_DETAIL_REQUIRED", "/needs/health")]
    )


@pytest.mark.parametrize(
    "health",
    [
        {"napza_history": True, "hiv_positive": None},
        {"napza_history": None, "hiv_positive": True},
        {"napza_history": False, "hiv_positive": True, "disability_types": []},
    ],
)
async def test_korban_napza_hiv_accepts_either_flag(
    http: httpx.AsyncClient, clients: Clients, facility: str, health: dict[str, Any]
) -> None:
    prison = await clients.prison(facility)
    response = await post(http, prison, event_for(facility, needs__health=health))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("types", [None, []])
async def test_disability_needs_disability_types(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    types: list[str] | None,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, pas_categories=["warga_binaan", "penyandang_disabilitas"])
    health: dict[str, Any] = {"napza_history": None, "hiv_positive": None}
    if types is not None:
        health["disability_types"] = types
    event["needs"]["health"] = health
    await expect_errors(
        http,
        prison,
        services,
        event,
        [("PAS_DISABILITY_DETAIL_REQUIRED", "/needs/health/disability_types")],
    )


# -- NIK ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nik",
    [
        "317101120385001",  # 15 digits
        "31710112038500011",  # 17 digits
        "3171011203850O01",  # a letter O
        "３１７１０１１２０３８５０００１",  # full-width digits  # noqa: RUF001
        "3171013203850001",  # day 32
        "3171017203850001",  # day 72 (32 + 40)
        "3171013002850001",  # 30 February
        "3171011213850001",  # month 13
        "3171010003850001",  # day 00
        "0071011203850001",  # province 00
        "2071011203850001",  # province 20 does not exist
        "",
    ],
)
async def test_invalid_nik(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, nik: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, person__nik=nik)
    await expect_errors(http, prison, services, event, [("INVALID_NIK", "/person/nik")])


@pytest.mark.parametrize(
    ("province", "birth", "sex"),
    [
        ("65", dt.date(1980, 1, 31), "male"),  # Kalimantan Utara (stdnum rejects it)
        ("92", dt.date(1991, 7, 4), "female"),  # Papua Barat
        ("93", dt.date(1975, 12, 1), "male"),  # Papua Selatan (2022)
        ("96", dt.date(2000, 2, 29), "female"),  # Papua Barat Daya; leap day in 2000
        ("31", dt.date(2005, 10, 10), "male"),  # 2005, not 1905: no warning
    ],
)
async def test_valid_nik_from_new_provinces_and_dates(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    province: str,
    birth: dt.date,
    sex: str,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    event["person"].update(
        birth_date=birth.isoformat(), sex=sex, nik=unique_nik(birth, sex, province)
    )
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text
    assert response.json()["warnings"] == []


async def test_nik_district_digits_are_not_checked(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """Merauke was 9101 and is 9301 now; an old NIK keeps 9101 (and 0000 is fine too)."""
    prison = await clients.prison(facility)
    for place in ("9101", "0000"):
        event = event_for(facility)
        birth = dt.date.fromisoformat(event["person"]["birth_date"])
        event["person"]["nik"] = (
            f"93{place}{nik_for(birth, 'male')[6:12]}{random.randrange(10**4):04d}"
        )
        response = await post(http, prison, event)
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("reason", [None, "bogus", "UNKNOWN"])
@pytest.mark.parametrize("absent", [False, True])
async def test_no_nik_needs_a_reason(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    reason: str | None,
    absent: bool,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, person__nik=None, person__nik_unavailable_reason=reason)
    if absent:
        del event["person"]["nik"]
        if reason is None:
            del event["person"]["nik_unavailable_reason"]
    await expect_errors(
        http,
        prison,
        services,
        event,
        [("NIK_OR_REASON_REQUIRED", "/person/nik_unavailable_reason")],
    )


@pytest.mark.parametrize("reason", ["foreign_national", "not_registered", "unknown"])
async def test_no_nik_with_a_reason_is_accepted(
    http: httpx.AsyncClient, clients: Clients, facility: str, reason: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, person__nik=None, person__nik_unavailable_reason=reason)
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text
    assert response.json()["warnings"] == []


@pytest.mark.parametrize(
    ("mutate", "codes"),
    [
        ("birth", ["NIK_BIRTHDATE_MISMATCH"]),
        ("sex", ["NIK_SEX_MISMATCH"]),
        ("both", ["NIK_BIRTHDATE_MISMATCH", "NIK_SEX_MISMATCH"]),
    ],
)
async def test_nik_mismatch_is_a_warning_and_a_data_quality_flag(
    http: httpx.AsyncClient, clients: Clients, facility: str, mutate: str, codes: list[str]
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    person = event["person"]
    nik_birth = dt.date(1985, 3, 12)
    person["birth_date"] = "1985-03-12"
    nik_sex = "male"
    if mutate in ("birth", "both"):
        nik_birth = dt.date(1985, 3, 13)
    if mutate in ("sex", "both"):
        nik_sex = "female"
    person["nik"] = unique_nik(nik_birth, nik_sex)
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(w["code"], w["pointer"]) for w in body["warnings"]] == [
        (code, "/person/nik") for code in codes
    ]
    assert all(w["detail"] for w in body["warnings"])
    detail = await http.get(f"/v1/referrals/{body['referral']['id']}", headers=prison.headers)
    assert detail.status_code == 200, detail.text
    assert detail.json()["data_quality_flags"] == codes
    assert detail.json()["person"]["nik"] == person["nik"]


# -- regions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domicile", "expected"),
    [
        (
            {"province_code": "99", "regency_code": None, "district_code": None},
            [("UNKNOWN_REGION", "/person/domicile/province_code")],
        ),
        (
            {"province_code": "31", "regency_code": "3199", "district_code": None},
            [("UNKNOWN_REGION", "/person/domicile/regency_code")],
        ),
        (
            {"province_code": "31", "regency_code": "3171", "district_code": "317199"},
            [("UNKNOWN_REGION", "/person/domicile/district_code")],
        ),
        (
            {"province_code": "31", "regency_code": "3273", "district_code": "327301"},
            [("REGION_MISMATCH", "/person/domicile/regency_code")],
        ),
        (
            {"province_code": "31", "regency_code": "3171", "district_code": "327301"},
            [("REGION_MISMATCH", "/person/domicile/district_code")],
        ),
        (
            {"province_code": "31", "regency_code": "3.71", "district_code": "31.71.01"},
            [
                ("UNKNOWN_REGION", "/person/domicile/regency_code"),
                ("UNKNOWN_REGION", "/person/domicile/district_code"),
            ],
        ),
    ],
)
async def test_domicile_region_codes(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    domicile: dict[str, Any],
    expected: list[tuple[str, str]],
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    event["person"]["domicile"].update(domicile)
    await expect_errors(http, prison, services, event, expected)


async def test_domicile_province_only_is_accepted(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, person__domicile={"province_code": "65"})
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text


# -- release and dates --------------------------------------------------------------------


@pytest.mark.parametrize(
    "release_type", ["pembebasan_bersyarat", "cuti_bersyarat", "cuti_menjelang_bebas", "asimilasi"]
)
async def test_supervised_release_needs_supervision_end(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    release_type: str,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, release__type=release_type, release__bapas_code="BAPAS-JAKTIM")
    await expect_errors(
        http,
        prison,
        services,
        event,
        [("SUPERVISION_END_REQUIRED", "/release/supervision_end_date")],
    )
    del event["release"]["supervision_end_date"]
    response = await post(http, prison, event)
    assert errors_of(response) == [("SUPERVISION_END_REQUIRED", "/release/supervision_end_date")]
    response = await post(http, prison, supervised(event, release_type))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("release_type", ["bebas_murni", "bebas_remisi", "amnesti", "grasi"])
async def test_unsupervised_release_has_no_supervision_end(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    release_type: str,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, release__type=release_type)
    event["release"]["supervision_end_date"] = (
        release_date(event) + dt.timedelta(days=30)
    ).isoformat()
    await expect_errors(
        http,
        prison,
        services,
        event,
        [("SUPERVISION_END_NOT_ALLOWED", "/release/supervision_end_date")],
    )
    del event["release"]["supervision_end_date"]  # absent is as good as null
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("days_after", [0, -1])
async def test_supervision_end_must_be_after_release_date(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    days_after: int,
) -> None:
    prison = await clients.prison(facility)
    event = supervised(event_for(facility))
    end = release_date(event) + dt.timedelta(days=days_after)
    event["release"]["supervision_end_date"] = end.isoformat()
    await expect_errors(
        http, prison, services, event, [("INVALID_DATE", "/release/supervision_end_date")]
    )


async def test_completed_release_cannot_be_after_the_local_date_of_occurred_at(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    occurred = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    event = event_for(facility, release_days=-1, occurred_at=occurred)
    await expect_errors(http, prison, services, event, [("INVALID_DATE", "/release/date")])
    # A scheduled release may be in the future.
    scheduled = event_for(facility, event_type="release.scheduled", release_days=30)
    response = await post(http, prison, scheduled)
    assert response.status_code == 201, response.text


async def test_completed_release_uses_the_jakarta_date_of_occurred_at(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """20:00 UTC on day D-1 is 03:00 on day D in Jakarta: a release dated D is not late."""
    prison = await clients.prison(facility)
    release = today() - dt.timedelta(days=3)
    local = dt.datetime.combine(release, dt.time(3, 0), tzinfo=JAKARTA)
    occurred_utc = local.astimezone(dt.UTC)
    assert occurred_utc.date() == release - dt.timedelta(days=1)
    event = event_for(facility)
    event["release"]["date"] = release.isoformat()
    event["occurred_at"] = occurred_utc.isoformat().replace("+00:00", "Z")
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text

    # One hour earlier it is still D-1 in Jakarta too: the release date is after the event.
    late = event_for(facility)
    late["release"]["date"] = release.isoformat()
    late["occurred_at"] = (occurred_utc - dt.timedelta(hours=4)).isoformat()
    response = await post(http, prison, late)
    assert errors_of(response) == [("INVALID_DATE", "/release/date")]


@pytest.mark.parametrize(
    ("field", "value", "pointer"),
    [
        ("person__birth_date", "tomorrow", "/person/birth_date"),
        ("person__birth_date", "today", "/person/birth_date"),
        ("person__birth_date", "121y", "/person/birth_date"),
        ("release__date", "+1y+2d", "/release/date"),
        ("release__date", "-10y-2d", "/release/date"),
        ("occurred_at", "+10m", "/occurred_at"),
    ],
)
async def test_dates_out_of_range(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    field: str,
    value: str,
    pointer: str,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, event_type="release.scheduled")
    now_local = today()
    if value == "tomorrow":
        event["person"]["birth_date"] = (now_local + dt.timedelta(days=1)).isoformat()
    elif value == "today":
        event["person"]["birth_date"] = now_local.isoformat()
    elif value == "121y":
        event["person"]["birth_date"] = (
            years_before(release_date(event), 121) - dt.timedelta(days=1)
        ).isoformat()
    elif value == "+1y+2d":
        event["release"]["date"] = (years_before(now_local, -1) + dt.timedelta(days=2)).isoformat()
    elif value == "-10y-2d":
        event["release"]["date"] = (years_before(now_local, 10) - dt.timedelta(days=2)).isoformat()
    elif value == "+10m":
        event["occurred_at"] = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()
    # The NIK must not be what fails: keep it consistent with the birth date.
    birth = dt.date.fromisoformat(event["person"]["birth_date"])
    event["person"]["nik"] = unique_nik(birth, "male")
    if field == "person__birth_date":
        event["pas_categories"] = ["warga_binaan", "korban_napza_hiv"]
        # An unborn or 121-year-old person: only the date rule may fail.
        event["person"]["guardian"] = {"full_name": "Wali", "relationship": "wali"}
        event["consent"]["given_by"] = "guardian"
        event["pas_categories"].append("anak_rentan")
    response = await post(http, prison, event)
    assert (("INVALID_DATE", pointer)) in errors_of(response)
    assert [p for _, p in errors_of(response)].count(pointer) == 1
    assert await referral_count(services, facility) == 0


async def test_dates_at_the_edges_are_accepted(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    now_local = today()
    ahead = event_for(facility, event_type="release.scheduled")
    ahead["release"]["date"] = (years_before(now_local, -1) - dt.timedelta(days=1)).isoformat()
    ahead["occurred_at"] = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)).isoformat()
    response = await post(http, prison, ahead)
    assert response.status_code == 201, response.text

    back = event_for(facility, event_type="release.scheduled")
    back["release"]["date"] = (years_before(now_local, 10) + dt.timedelta(days=1)).isoformat()
    response = await post(http, prison, back)
    assert response.status_code == 201, response.text

    old = event_for(facility)
    birth = years_before(release_date(old), 120)
    set_birth(old, birth)
    old["pas_categories"] = ["warga_binaan", "korban_napza_hiv", "lansia_terlantar"]
    response = await post(http, prison, old)
    assert response.status_code == 201, response.text


# -- text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        ("person__full_name", "Budi\u0000Santoso", "/person/full_name"),
        ("person__full_name", "Budi\x07", "/person/full_name"),
        ("person__full_name", "Budi\tSantoso", "/person/full_name"),
        ("person__full_name", "B" * 201, "/person/full_name"),
        ("person__full_name", "", "/person/full_name"),
        ("person__birth_place", "Jakarta\u2028", "/person/birth_place"),
        ("person__domicile__address", "Jl.\u0000", "/person/domicile/address"),
        ("person__domicile__address", "J" * 501, "/person/domicile/address"),
        ("person__phone", "+62\u001b812", "/person/phone"),
        ("facility__name", "Lapas\u0085", "/facility/name"),
        ("needs__summary", "S" * 2001, "/needs/summary"),
        ("needs__summary", "ok\u0000", "/needs/summary"),
        (
            "in_custody_programmes",
            [{"kind": "pendidikan", "name": "P\u007f"}],
            "/in_custody_programmes/0/name",
        ),
    ],
)
async def test_text_fields_reject_control_characters_and_overlong_values(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    path: str,
    value: Any,
    pointer: str,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, **{path: value})
    await expect_errors(http, prison, services, event, [("INVALID_TEXT", pointer)])


async def test_free_text_summary_may_hold_line_breaks_and_accents(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(
        facility,
        needs__summary="Baris satu\nBaris dua\tdengan tab — Nurhalíza ✓",
        person__full_name="Nurhalíza Ñañez 'Ucok' O'Brien",
    )
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text


# -- several rules at once ----------------------------------------------------------------


async def test_every_rule_failure_is_reported_together(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, release__type="asimilasi")
    event["pas_categories"] = ["korban_napza_hiv", "perempuan_rentan", "xyz", "korban_napza_hiv"]
    event["needs"]["health"]["napza_history"] = False
    event["person"]["nik"] = "3171011303851234"[:15]
    event["person"]["domicile"] = {"province_code": "31", "regency_code": "3273"}
    event["occurred_at"] = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    await expect_errors(
        http,
        prison,
        services,
        event,
        [
            ("PAS_PEREMPUAN_SEX", "/pas_categories/1"),
            ("UNKNOWN_PAS_CATEGORY", "/pas_categories/2"),
            ("DUPLICATE_PAS_CATEGORY", "/pas_categories/3"),
            ("PAS_WARGA_BINAAN_REQUIRED", "/pas_categories"),
            ("PAS_NAPZA_HIV_DETAIL_REQUIRED", "/needs/health"),
            ("INVALID_NIK", "/person/nik"),
            ("REGION_MISMATCH", "/person/domicile/regency_code"),
            ("SUPERVISION_END_REQUIRED", "/release/supervision_end_date"),
            ("BAPAS_REQUIRED", "/release/bapas_code"),
            ("INVALID_DATE", "/occurred_at"),
        ],
    )


async def test_the_text_rule_is_reported_with_the_other_rules(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """SPEC §3 lists the text rule (INVALID_TEXT) among the rules: one 422 with all."""
    prison = await clients.prison(facility)
    event = event_for(facility)
    event["person"]["full_name"] = "Budi\u0000 Santoso"
    event["case_ref"] = "C" * 65
    event["person"]["nik"] = "1234"
    await expect_errors(
        http,
        prison,
        services,
        event,
        [
            ("INVALID_TEXT", "/case_ref"),
            ("INVALID_TEXT", "/person/full_name"),
            ("INVALID_NIK", "/person/nik"),
        ],
    )


async def test_facility_binding_comes_before_the_text_rule(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """Intake's order (SPEC §3): schema, facility binding (403), idempotency, the rules."""
    prison = await clients.prison(facility)
    event = event_for(f"{facility}-X", person__full_name="A" * 201)
    response = await post(http, prison, event)
    assert_problem(response, 403, "FACILITY_NOT_PERMITTED")
    assert await referral_count(services, f"{facility}-X") == 0


async def test_idempotency_comes_before_the_text_rule(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """An answered event_id resent with an overlong name is a 409 EVENT_ID_CONFLICT (the
    id was used for another body), not the 422 the new body would get on its own."""
    prison = await clients.prison(facility)
    event = event_for(facility)
    assert (await post(http, prison, event)).status_code == 201
    event["person"]["full_name"] = "A" * 201
    assert_problem(await post(http, prison, event), 409, "EVENT_ID_CONFLICT")


async def test_schema_errors_are_reported_together(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    event["person"]["sex"] = "m"
    event["person"]["nickname"] = "Ucok"
    event["release"]["date"] = "2026-02-30"
    del event["consent"]
    event["event_type"] = "release.done"
    await expect_errors(
        http,
        prison,
        services,
        event,
        [
            ("INVALID_VALUE", "/event_type"),
            ("INVALID_VALUE", "/person/sex"),
            ("UNKNOWN_FIELD", "/person/nickname"),
            ("INVALID_DATE", "/release/date"),
            ("FIELD_REQUIRED", "/consent"),
        ],
    )


# -- schema: unknown fields, types, formats -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "pointer"),
    [
        ("priority", "/priority"),
        ("person__nickname", "/person/nickname"),
        ("person__domicile__rt_rw", "/person/domicile/rt_rw"),
        ("release__bapas_name", "/release/bapas_name"),
        ("needs__health__blood_type", "/needs/health/blood_type"),
        ("consent__witness", "/consent/witness"),
        ("facility__address", "/facility/address"),
    ],
)
async def test_unknown_field_is_rejected_with_its_pointer(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    path: str,
    pointer: str,
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, **{path: "x"})
    await expect_errors(http, prison, services, event, [("UNKNOWN_FIELD", pointer)])


async def test_unknown_field_pointer_escapes_slash_and_tilde(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    event["a/b~c"] = 1
    await expect_errors(http, prison, services, event, [("UNKNOWN_FIELD", "/a~1b~0c")])


async def test_unknown_field_in_a_list_item(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    event["in_custody_programmes"].append({"kind": "pendidikan", "name": "Paket C", "hours": 3})
    await expect_errors(
        http, prison, services, event, [("UNKNOWN_FIELD", "/in_custody_programmes/1/hours")]
    )


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("event_id", 123, ("INVALID_TYPE", "/event_id")),
        ("event_id", "", ("INVALID_TEXT", "/event_id")),
        ("event_id", "has space", ("INVALID_VALUE", "/event_id")),
        ("event_id", "E" * 101, ("INVALID_TEXT", "/event_id")),
        ("event_type", "release.done", ("INVALID_VALUE", "/event_type")),
        ("event_type", None, ("INVALID_VALUE", "/event_type")),
        ("occurred_at", "2026-11-20T08:00:00", ("INVALID_DATE", "/occurred_at")),
        ("occurred_at", "yesterday", ("INVALID_DATE", "/occurred_at")),
        ("occurred_at", 1763600000, ("INVALID_DATE", "/occurred_at")),
        ("facility", "LP-X", ("INVALID_TYPE", "/facility")),
        ("facility__code", "lp-lower", ("INVALID_VALUE", "/facility/code")),
        ("facility__type", "prison", ("INVALID_VALUE", "/facility/type")),
        ("case_ref", "", ("INVALID_TEXT", "/case_ref")),
        ("case_ref", "C" * 65, ("INVALID_TEXT", "/case_ref")),
        ("case_ref", 42, ("INVALID_TYPE", "/case_ref")),
        ("person", None, ("INVALID_TYPE", "/person")),
        ("person__sex", "M", ("INVALID_VALUE", "/person/sex")),
        ("person__birth_date", "12-03-1985", ("INVALID_DATE", "/person/birth_date")),
        ("person__birth_date", "1985-03-12T00:00:00+07:00", ("INVALID_DATE", "/person/birth_date")),
        ("person__nik", 3171011203850001, ("INVALID_TYPE", "/person/nik")),
        ("person__domicile", [], ("INVALID_TYPE", "/person/domicile")),
        ("release__type", "parole", ("INVALID_VALUE", "/release/type")),
        ("release__date", None, ("INVALID_DATE", "/release/date")),
        ("pas_categories", "warga_binaan", ("INVALID_TYPE", "/pas_categories")),
        ("pas_categories", ["warga_binaan", 7], ("INVALID_TYPE", "/pas_categories/1")),
        ("needs__health__napza_history", "true", ("INVALID_TYPE", "/needs/health/napza_history")),
        ("needs__health__hiv_positive", 1, ("INVALID_TYPE", "/needs/health/hiv_positive")),
        ("in_custody_programmes", {}, ("INVALID_TYPE", "/in_custody_programmes")),
        ("consent__basis", "implied", ("INVALID_VALUE", "/consent/basis")),
        ("consent__recorded_at", "2026-11-19", ("INVALID_DATE", "/consent/recorded_at")),
    ],
)
async def test_wrong_types_and_formats(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    path: str,
    value: Any,
    expected: tuple[str, str],
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    set_path(event, path, value)
    response = await post(http, prison, event)
    assert errors_of(response) == [expected]
    assert await referral_count(services, facility) == 0


@pytest.mark.parametrize(
    "field",
    [
        "event_id",
        "event_type",
        "occurred_at",
        "facility",
        "case_ref",
        "person",
        "release",
        "pas_categories",
        "consent",
    ],
)
async def test_required_fields(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, field: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility)
    del event[field]
    await expect_errors(http, prison, services, event, [("FIELD_REQUIRED", f"/{field}")])


async def test_optional_fields_may_be_absent(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = event_for(facility, pas_categories=["warga_binaan"])
    del event["needs"]
    del event["in_custody_programmes"]
    for key in ("birth_place", "phone", "guardian", "nik_unavailable_reason"):
        del event["person"][key]
    response = await post(http, prison, event)
    assert response.status_code == 201, response.text


# -- authentication, roles, facility binding ----------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        (None, None),
        ("Bearer", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer not-a-rujukan-key", None),
        ("Bearer rjk_" + "0" * 40, "invalid_token"),
    ],
)
async def test_missing_or_invalid_key_is_401_with_www_authenticate(
    http: httpx.AsyncClient,
    services: Runtime,
    facility: str,
    authorization: str | None,
    error: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await http.post(URL, json=event_for(facility), headers=headers)
    body = assert_problem(response, 401, "UNAUTHENTICATED")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    if error:
        assert f'error="{error}"' in challenge
    assert "errors" not in body
    assert await referral_count(services, facility) == 0


async def test_unauthenticated_wins_over_schema_errors(
    http: httpx.AsyncClient, facility: str
) -> None:
    response = await http.post(URL, json={"bogus": True})
    assert_problem(response, 401, "UNAUTHENTICATED")


async def test_kemensos_key_may_not_post_events(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    kemensos = await clients.kemensos()
    response = await post(http, kemensos, event_for(facility))
    assert_problem(response, 403, "ROLE_NOT_PERMITTED")
    assert await referral_count(services, facility) == 0


async def test_sentra_key_may_not_post_events(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    sentra = await clients.sentra("SENTRA-X")
    response = await post(http, sentra, event_for(facility))
    assert_problem(response, 403, "ROLE_NOT_PERMITTED")


async def test_facility_not_bound_to_the_client_is_403(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison("LP-SOMEWHERE-ELSE")
    response = await post(http, prison, event_for(facility))
    body = assert_problem(response, 403, "FACILITY_NOT_PERMITTED")
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == [
        ("FACILITY_NOT_PERMITTED", "/facility/code")
    ]
    assert await referral_count(services, facility) == 0
    assert await intake_count(services, prison) == 0


async def test_facility_binding_is_checked_before_the_rules(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison("LP-SOMEWHERE-ELSE")
    response = await post(http, prison, event_for(facility, pas_categories=["bogus"]))
    assert_problem(response, 403, "FACILITY_NOT_PERMITTED")


async def test_schema_is_checked_before_facility_binding(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison("LP-SOMEWHERE-ELSE")
    response = await post(http, prison, event_for(facility, person__sex="x"))
    assert errors_of(response) == [("INVALID_VALUE", "/person/sex")]


async def test_wildcard_binding_may_post_for_any_facility(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison("*")
    response = await post(http, prison, event_for(facility))
    assert response.status_code == 201, response.text


async def test_client_bound_to_several_facilities(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    other = f"{facility}-B"
    prison = await clients.prison(facility, other)
    for code in (facility, other):
        response = await post(http, prison, event_for(code))
        assert response.status_code == 201, response.text


# -- conventions: problem+json, request ids -----------------------------------------------


async def test_request_id_is_echoed_in_header_and_problem_body(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    request_id = f"sdp-{uuid.uuid4()}"
    response = await http.post(
        URL,
        json=event_for(facility, pas_categories=["bogus"]),
        headers={**prison.headers, "X-Request-ID": request_id},
    )
    assert response.headers["X-Request-ID"] == request_id
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert body["request_id"] == request_id
    assert body["type"] == "urn:rujukan:problem:validation-failed"

    ok = await http.post(
        URL, json=event_for(facility), headers={**prison.headers, "X-Request-ID": request_id}
    )
    assert ok.status_code == 201
    assert ok.headers["X-Request-ID"] == request_id


async def test_request_id_is_generated_when_not_sent(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    first = await post(http, prison, event_for(facility, pas_categories=[]))
    second = await post(http, prison, event_for(facility))
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(len(i) >= 16 for i in ids)
    assert ids[0] != ids[1]
    assert first.json()["request_id"] == ids[0]
    unauth = await http.post(URL, json={})
    assert unauth.json()["request_id"] == unauth.headers["X-Request-ID"]
    assert unauth.headers["X-Request-ID"] not in ids


async def test_unusable_request_id_is_replaced(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    response = await http.post(
        URL,
        json=event_for(facility),
        headers={**prison.headers, "X-Request-ID": "a b\tc" + "x" * 200},
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] != "a b\tc" + "x" * 200
    assert " " not in response.headers["X-Request-ID"]
