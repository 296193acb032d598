"""SPEC §3 validation rules (app/intake/rules.py): pure, no database, no HTTP."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.clock import Clock
from app.intake.rules import NikParts, RuleResult, check_event, parse_nik
from app.intake.schemas import EXAMPLE_EVENT, ReleaseEvent
from app.reference.regions import Regions, load_regions
from app.referrals.domain import age_on, is_child

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)  # 2026-11-30 10:00 in Jakarta
CLOCK = Clock(NOW, JAKARTA)

Event = dict[str, Any]


@pytest.fixture(scope="module")
def regions() -> Regions:
    return load_regions()


def base() -> Event:
    """The guide's example without its PPKS types (their rule has its own tests): a rule
    test that changes the categories does not also break the types' rule."""
    event = copy.deepcopy(EXAMPLE_EVENT)
    del event["ppks_types"]
    return event


def run(d: Event, clock: Clock = CLOCK) -> RuleResult:
    event = ReleaseEvent.model_validate_json(json.dumps(d))
    return check_event(event, clock=clock, regions=load_regions())


def pairs(result: RuleResult) -> list[tuple[str, str | None]]:
    return [(e.code, e.pointer) for e in result.errors]


def warning_pairs(result: RuleResult) -> list[tuple[str, str | None]]:
    return [(w.code, w.pointer) for w in result.warnings]


def make_nik(prefix: str, birth: dt.date, *, female: bool, serial: str = "0001") -> str:
    day = birth.day + 40 if female else birth.day
    return f"{prefix}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial}"


def set_person(d: Event, *, birth: str, sex: str = "male", prefix: str = "317101") -> None:
    """Set birth date and sex, with a NIK consistent with both (no warnings)."""
    person = d["person"]
    person["birth_date"] = birth
    person["sex"] = sex
    person["nik"] = make_nik(prefix, dt.date.fromisoformat(birth), female=sex == "female")


def make_child(d: Event) -> None:
    """A valid 16-year-old: anak_rentan, guardian, guardian's consent."""
    set_person(d, birth="2010-05-01")
    d["pas_categories"] = ["warga_binaan", "anak_rentan"]
    d["person"]["guardian"] = {"full_name": "Siti Aminah", "relationship": "ibu", "phone": None}
    d["consent"]["given_by"] = "guardian"


# ---------------------------------------------------------------------------------------
# The example event is clean: every "passing counterpart" below starts from it.


def test_example_event_has_no_errors_and_no_warnings() -> None:
    result = run(base())
    assert result.errors == []
    assert result.warnings == []


# ---------------------------------------------------------------------------------------
# PAS categories


def test_unknown_pas_category_points_at_its_index() -> None:
    d = base()
    d["pas_categories"] = ["warga_binaan", "korban_napza_hiv", "pengungsi"]
    assert pairs(run(d)) == [("UNKNOWN_PAS_CATEGORY", "/pas_categories/2")]


def test_duplicate_pas_category_points_at_the_repeat() -> None:
    d = base()
    d["pas_categories"] = ["warga_binaan", "korban_napza_hiv", "fakir_miskin", "warga_binaan"]
    assert pairs(run(d)) == [("DUPLICATE_PAS_CATEGORY", "/pas_categories/3")]


def test_all_twelve_codes_are_known() -> None:
    d = base()
    d["person"]["sex"] = "female"
    d["person"]["birth_date"] = "1960-01-05"
    d["person"]["nik"] = "3171014501600001"
    d["needs"]["health"]["disability_types"] = ["fisik"]
    d["pas_categories"] = [
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
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


def test_warga_binaan_required() -> None:
    d = base()
    d["pas_categories"] = ["korban_napza_hiv"]
    assert pairs(run(d)) == [("PAS_WARGA_BINAAN_REQUIRED", "/pas_categories")]


def test_empty_pas_categories_is_refused() -> None:
    d = base()
    d["pas_categories"] = []
    d["needs"] = None
    assert pairs(run(d)) == [("PAS_WARGA_BINAAN_REQUIRED", "/pas_categories")]


def test_warga_binaan_anywhere_in_the_list_passes() -> None:
    d = base()
    d["pas_categories"] = ["korban_napza_hiv", "warga_binaan"]
    assert run(d).errors == []


# Children (< 18 at release)


def test_valid_child_passes() -> None:
    d = base()
    make_child(d)
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


def test_child_requires_anak_rentan() -> None:
    d = base()
    make_child(d)
    d["pas_categories"] = ["warga_binaan"]
    assert pairs(run(d)) == [("PAS_CHILD_REQUIRES_ANAK_RENTAN", "/pas_categories")]


def test_child_requires_guardian() -> None:
    d = base()
    make_child(d)
    d["person"]["guardian"] = None
    assert pairs(run(d)) == [("GUARDIAN_REQUIRED", "/person/guardian")]


def test_child_guardian_absent_key_is_also_missing() -> None:
    d = base()
    make_child(d)
    del d["person"]["guardian"]
    assert pairs(run(d)) == [("GUARDIAN_REQUIRED", "/person/guardian")]


def test_child_consent_must_be_given_by_guardian() -> None:
    d = base()
    make_child(d)
    d["consent"]["given_by"] = "person"
    assert pairs(run(d)) == [("GUARDIAN_CONSENT_REQUIRED", "/consent/given_by")]


def test_child_under_public_task_needs_no_guardian_consent() -> None:
    d = base()
    make_child(d)
    d["consent"] = {
        "basis": "public_task",
        "given_by": None,
        "method": None,
        "recorded_at": "2026-11-19T10:00:00+07:00",
    }
    assert run(d).errors == []


def test_child_all_three_rules_reported_together() -> None:
    d = base()
    set_person(d, birth="2010-05-01")
    assert sorted(pairs(run(d))) == sorted(
        [
            ("PAS_CHILD_REQUIRES_ANAK_RENTAN", "/pas_categories"),
            ("GUARDIAN_REQUIRED", "/person/guardian"),
            ("GUARDIAN_CONSENT_REQUIRED", "/consent/given_by"),
        ]
    )


def test_eighteen_on_release_day_is_an_adult() -> None:
    d = base()
    set_person(d, birth="2008-11-20")  # release 2026-11-20: 18 that day
    result = run(d)
    assert result.errors == []


def test_seventeen_the_day_before_eighteenth_birthday_is_a_child() -> None:
    d = base()
    set_person(d, birth="2008-11-21")
    assert ("GUARDIAN_REQUIRED", "/person/guardian") in pairs(run(d))


def test_leap_day_birthday_child_on_28_february() -> None:
    d = base()
    set_person(d, birth="2008-02-29")
    d["release"]["date"] = "2026-02-28"
    d["occurred_at"] = "2026-02-28T08:00:00+07:00"
    assert ("GUARDIAN_REQUIRED", "/person/guardian") in pairs(run(d))


def test_leap_day_birthday_adult_on_1_march() -> None:
    d = base()
    set_person(d, birth="2008-02-29")
    d["release"]["date"] = "2026-03-01"
    d["occurred_at"] = "2026-03-01T08:00:00+07:00"
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


# Lansia (≥ 60 at release)


def lansia(birth: str) -> Event:
    d = base()
    set_person(d, birth=birth)
    d["pas_categories"] = ["warga_binaan", "korban_napza_hiv", "lansia_terlantar"]
    return d


def test_lansia_exactly_sixty_on_release_day_passes() -> None:
    assert run(lansia("1966-11-20")).errors == []


def test_lansia_fifty_nine_fails_at_its_index() -> None:
    assert pairs(run(lansia("1966-11-21"))) == [("PAS_LANSIA_AGE", "/pas_categories/2")]


def test_lansia_first_in_list_index_zero() -> None:
    d = lansia("1970-01-01")
    d["pas_categories"] = ["lansia_terlantar", "warga_binaan", "korban_napza_hiv"]
    assert pairs(run(d)) == [("PAS_LANSIA_AGE", "/pas_categories/0")]


# Perempuan rentan


def test_perempuan_rentan_requires_female() -> None:
    d = base()
    d["pas_categories"] = ["warga_binaan", "perempuan_rentan", "korban_napza_hiv"]
    assert pairs(run(d)) == [("PAS_PEREMPUAN_SEX", "/pas_categories/1")]


def test_perempuan_rentan_female_passes() -> None:
    d = base()
    set_person(d, birth="1985-03-12", sex="female")
    d["pas_categories"] = ["warga_binaan", "perempuan_rentan", "korban_napza_hiv"]
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


# NAPZA / HIV


@pytest.mark.parametrize(
    "needs",
    [
        None,
        {"summary": "x", "health": None},
        {"summary": "x", "health": {"napza_history": None, "hiv_positive": None}},
        {"summary": "x", "health": {"napza_history": False, "hiv_positive": False}},
    ],
    ids=["no-needs", "no-health", "both-null", "both-false"],
)
def test_napza_hiv_detail_required(needs: dict[str, Any] | None) -> None:
    d = base()
    d["needs"] = needs
    assert pairs(run(d)) == [("PAS_NAPZA_HIV_DETAIL_REQUIRED", "/needs/health")]


@pytest.mark.parametrize(
    ("napza", "hiv"), [(True, None), (None, True), (False, True), (True, False)]
)
def test_napza_hiv_detail_given(napza: bool | None, hiv: bool | None) -> None:
    d = base()
    d["needs"]["health"] = {"napza_history": napza, "hiv_positive": hiv, "disability_types": []}
    assert run(d).errors == []


# Disability


def test_disability_detail_required() -> None:
    d = base()
    d["pas_categories"] = ["warga_binaan", "korban_napza_hiv", "penyandang_disabilitas"]
    assert pairs(run(d)) == [("PAS_DISABILITY_DETAIL_REQUIRED", "/needs/health/disability_types")]


def test_disability_detail_required_without_needs() -> None:
    d = base()
    d["pas_categories"] = ["warga_binaan", "penyandang_disabilitas"]
    d["needs"] = None
    assert pairs(run(d)) == [("PAS_DISABILITY_DETAIL_REQUIRED", "/needs/health/disability_types")]


def test_disability_detail_given() -> None:
    d = base()
    d["pas_categories"] = ["warga_binaan", "korban_napza_hiv", "penyandang_disabilitas"]
    d["needs"]["health"]["disability_types"] = ["fisik", "sensorik"]
    assert run(d).errors == []


# ---------------------------------------------------------------------------------------
# NIK


@pytest.mark.parametrize(
    "nik",
    [
        "31710112038500a1",  # non-digit
        "317101120385000",  # 15 digits
        "31710112038500011",  # 17 digits
        "",  # empty
        "".join(chr(0xFF10 + int(c)) for c in "3171011203850001"),  # fullwidth digits
        "3171013203850001",  # day 32
        "3171010003850001",  # day 0
        "3171014003850001",  # day 40 (female day 0)
        "3171017203850001",  # day 72 (female day 32)
        "3171011213850001",  # month 13
        "3171011200850001",  # month 0
        "3171013102850001",  # 31 February
        "3171012902010001",  # 29 February 1901/2001
        "9971011203850001",  # province 99 not in the 2025 table
        "0071011203850001",  # province 00
        "5471011203850001",  # province 54 not in the 2025 table
    ],
)
def test_invalid_nik(nik: str) -> None:
    d = base()
    d["person"]["nik"] = nik
    result = run(d)
    assert pairs(result) == [("INVALID_NIK", "/person/nik")]
    assert result.warnings == []


def test_female_nik_day_plus_forty_is_valid() -> None:
    d = base()
    d["person"]["sex"] = "female"
    d["person"]["nik"] = "3171015203850001"  # 52 → 12th
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


def test_parse_nik_female(regions: Regions) -> None:
    assert parse_nik("3171015203850001", regions) == NikParts("31", 12, 3, 85, True)


def test_parse_nik_male(regions: Regions) -> None:
    assert parse_nik("3171011203850001", regions) == NikParts("31", 12, 3, 85, False)


def test_parse_nik_female_day_71(regions: Regions) -> None:
    assert parse_nik("3171017101900001", regions) == NikParts("31", 31, 1, 90, True)


@pytest.mark.parametrize(
    "nik", ["3171013203850001", "1234", "9971011203850001", "3171011213850001"]
)
def test_parse_nik_invalid(nik: str, regions: Regions) -> None:
    assert parse_nik(nik, regions) is None


def test_leap_day_2000_nik_is_valid() -> None:
    d = base()
    set_person(d, birth="2000-02-29")
    assert d["person"]["nik"] == "3171012902000001"
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


# Provinces python-stdnum rejects; prefixes are real 2025 regency codes + a district pair.
@pytest.mark.parametrize(
    "prefix",
    ["650101", "920201", "930101", "940101", "950101", "960101"],
    ids=[
        "65-kaltara",
        "92-papua-barat",
        "93-papua-selatan",
        "94-papua-tengah",
        "95-papua-pegunungan",
        "96-papua-barat-daya",
    ],
)
@pytest.mark.parametrize("sex", ["male", "female"])
def test_nik_from_new_provinces_is_valid(prefix: str, sex: str, regions: Regions) -> None:
    assert prefix[:4] in regions.regencies
    d = base()
    set_person(d, birth="1990-07-04", sex=sex, prefix=prefix)
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


@pytest.mark.parametrize("prefix", ["910101", "319901"], ids=["old-merauke-9101", "unknown-3199"])
def test_nik_digits_three_to_six_not_checked(prefix: str) -> None:
    d = base()
    set_person(d, birth="1985-03-12", prefix=prefix)
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


def test_nik_birthdate_mismatch_is_a_warning() -> None:
    d = base()
    d["person"]["birth_date"] = "1985-03-13"
    result = run(d)
    assert result.errors == []
    assert warning_pairs(result) == [("NIK_BIRTHDATE_MISMATCH", "/person/nik")]


def test_nik_birthdate_century_mismatch_is_a_warning() -> None:
    d = base()
    set_person(d, birth="1985-03-12")
    d["person"]["birth_date"] = "1986-03-12"
    result = run(d)
    assert result.errors == []
    assert warning_pairs(result) == [("NIK_BIRTHDATE_MISMATCH", "/person/nik")]


def test_nik_sex_mismatch_is_a_warning() -> None:
    d = base()
    d["person"]["sex"] = "female"  # NIK day 12: male
    result = run(d)
    assert result.errors == []
    assert warning_pairs(result) == [("NIK_SEX_MISMATCH", "/person/nik")]


def test_nik_female_digits_on_male_is_a_sex_warning() -> None:
    d = base()
    d["person"]["nik"] = "3171015203850001"
    result = run(d)
    assert result.errors == []
    assert warning_pairs(result) == [("NIK_SEX_MISMATCH", "/person/nik")]


def test_nik_both_mismatches_warn_together() -> None:
    d = base()
    d["person"]["sex"] = "female"
    d["person"]["birth_date"] = "1985-04-12"
    result = run(d)
    assert result.errors == []
    assert sorted(warning_pairs(result)) == [
        ("NIK_BIRTHDATE_MISMATCH", "/person/nik"),
        ("NIK_SEX_MISMATCH", "/person/nik"),
    ]


# No NIK


@pytest.mark.parametrize("reason", [None, "lost", "", "FOREIGN_NATIONAL"])
def test_nik_or_reason_required(reason: str | None) -> None:
    d = base()
    d["person"]["nik"] = None
    d["person"]["nik_unavailable_reason"] = reason
    assert pairs(run(d)) == [("NIK_OR_REASON_REQUIRED", "/person/nik_unavailable_reason")]


def test_nik_absent_and_reason_absent() -> None:
    d = base()
    del d["person"]["nik"]
    del d["person"]["nik_unavailable_reason"]
    assert pairs(run(d)) == [("NIK_OR_REASON_REQUIRED", "/person/nik_unavailable_reason")]


@pytest.mark.parametrize("reason", ["foreign_national", "not_registered", "unknown"])
def test_no_nik_with_reason_passes(reason: str) -> None:
    d = base()
    d["person"]["nik"] = None
    d["person"]["nik_unavailable_reason"] = reason
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


# ---------------------------------------------------------------------------------------
# Regions


def domicile(province: str, regency: str | None, district: str | None) -> Event:
    d = base()
    d["person"]["domicile"] = {
        "province_code": province,
        "regency_code": regency,
        "district_code": district,
        "address": "Jl. Contoh No. 1",
    }
    return d


P = "/person/domicile/"


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (("99", None, None), [("UNKNOWN_REGION", P + "province_code")]),
        (("31", "3199", None), [("UNKNOWN_REGION", P + "regency_code")]),
        (("31", "3171", "317199"), [("UNKNOWN_REGION", P + "district_code")]),
        (("31", "3273", None), [("REGION_MISMATCH", P + "regency_code")]),
        (("31", "3171", "317201"), [("REGION_MISMATCH", P + "district_code")]),
        (("65", "9301", "930101"), [("REGION_MISMATCH", P + "regency_code")]),
    ],
    ids=[
        "unknown-province",
        "unknown-regency",
        "unknown-district",
        "regency-outside-province",
        "district-outside-regency",
        "merauke-not-in-kaltara",
    ],
)
def test_region_errors(
    codes: tuple[str, str | None, str | None], expected: list[tuple[str, str]]
) -> None:
    assert pairs(run(domicile(*codes))) == expected


@pytest.mark.parametrize(
    "codes",
    [
        ("31", "3171", "317101"),
        ("31", None, None),
        ("31", "3171", None),
        ("65", "6501", "650101"),
        ("93", "9301", None),
        ("96", "9671", None),
    ],
)
def test_region_valid(codes: tuple[str, str | None, str | None]) -> None:
    assert run(domicile(*codes)).errors == []


def test_region_unknown_province_and_foreign_regency_both_reported() -> None:
    result = run(domicile("99", "3171", "317101"))
    assert pairs(result) == [
        ("UNKNOWN_REGION", P + "province_code"),
        ("REGION_MISMATCH", P + "regency_code"),
    ]


# ---------------------------------------------------------------------------------------
# Supervision


SUPERVISED = ["pembebasan_bersyarat", "cuti_bersyarat", "cuti_menjelang_bebas", "asimilasi"]
UNSUPERVISED = ["bebas_murni", "bebas_remisi", "amnesti", "grasi"]
SUP = "/release/supervision_end_date"


@pytest.mark.parametrize("release_type", SUPERVISED)
def test_supervision_end_required(release_type: str) -> None:
    d = base()
    d["release"]["type"] = release_type
    d["release"]["bapas_code"] = "BAPAS-JAKTIM"
    assert pairs(run(d)) == [("SUPERVISION_END_REQUIRED", SUP)]


@pytest.mark.parametrize("release_type", SUPERVISED)
def test_supervision_end_absent_key_required(release_type: str) -> None:
    d = base()
    d["release"]["type"] = release_type
    d["release"]["bapas_code"] = "BAPAS-JAKTIM"
    del d["release"]["supervision_end_date"]
    assert pairs(run(d)) == [("SUPERVISION_END_REQUIRED", SUP)]


@pytest.mark.parametrize("release_type", SUPERVISED)
def test_supervision_end_given_passes(release_type: str) -> None:
    d = base()
    d["release"]["type"] = release_type
    d["release"]["supervision_end_date"] = "2027-06-30"
    d["release"]["bapas_code"] = "BAPAS-JAKTIM"
    assert run(d).errors == []


@pytest.mark.parametrize("release_type", UNSUPERVISED)
def test_supervision_end_not_allowed(release_type: str) -> None:
    d = base()
    d["release"]["type"] = release_type
    d["release"]["supervision_end_date"] = "2027-06-30"
    assert pairs(run(d)) == [("SUPERVISION_END_NOT_ALLOWED", SUP)]


@pytest.mark.parametrize("release_type", UNSUPERVISED)
def test_unsupervised_without_end_passes(release_type: str) -> None:
    d = base()
    d["release"]["type"] = release_type
    del d["release"]["supervision_end_date"]
    assert run(d).errors == []


@pytest.mark.parametrize("end", ["2026-11-20", "2026-11-19", "2020-01-01"])
def test_supervision_end_must_be_after_release(end: str) -> None:
    d = base()
    d["release"]["type"] = "pembebasan_bersyarat"
    d["release"]["bapas_code"] = "BAPAS-JAKTIM"
    d["release"]["supervision_end_date"] = end
    assert pairs(run(d)) == [("INVALID_DATE", SUP)]


def test_supervision_end_day_after_release_passes() -> None:
    d = base()
    d["release"]["type"] = "pembebasan_bersyarat"
    d["release"]["bapas_code"] = "BAPAS-JAKTIM"
    d["release"]["supervision_end_date"] = "2026-11-21"
    assert run(d).errors == []


# ---------------------------------------------------------------------------------------
# Dates


def completed(release_date: str, occurred_at: str) -> Event:
    d = base()
    d["event_type"] = "release.completed"
    d["release"]["date"] = release_date
    d["occurred_at"] = occurred_at
    return d


def test_completed_release_dated_on_local_event_day_passes() -> None:
    # 20:00 UTC on 20 Nov is 03:00 on 21 Nov in Jakarta.
    assert run(completed("2026-11-21", "2026-11-20T20:00:00+00:00")).errors == []


def test_completed_release_after_local_event_day_fails() -> None:
    # 16:59 UTC is 23:59 on 20 Nov in Jakarta.
    result = run(completed("2026-11-21", "2026-11-20T16:59:00+00:00"))
    assert pairs(result) == [("INVALID_DATE", "/release/date")]


def test_completed_release_uses_local_date_not_offset_date() -> None:
    # The offset given (+14:00) says 21 Nov; in Jakarta it is still 20 Nov.
    result = run(completed("2026-11-21", "2026-11-21T01:00:00+14:00"))
    assert pairs(result) == [("INVALID_DATE", "/release/date")]


def test_completed_release_before_event_passes() -> None:
    assert run(completed("2026-11-01", "2026-11-20T08:00:00+07:00")).errors == []


@pytest.mark.parametrize(
    "event_type",
    ["release.scheduled", "release.rescheduled", "case.updated", "release.cancelled"],
)
def test_future_release_date_allowed_for_other_event_types(event_type: str) -> None:
    d = base()
    d["event_type"] = event_type
    d["release"]["date"] = "2027-01-15"
    assert run(d).errors == []


@pytest.mark.parametrize("birth", ["2026-12-01", "2026-11-30", "2030-01-01"])
def test_birth_date_not_in_the_past(birth: str) -> None:
    d = base()
    d["person"]["birth_date"] = birth
    assert pairs(run(d)) == [("INVALID_DATE", "/person/birth_date")]


def test_birth_date_yesterday_is_in_the_past() -> None:
    d = base()
    d["event_type"] = "release.scheduled"
    d["release"]["date"] = "2026-12-01"
    d["person"]["birth_date"] = "2026-11-29"
    d["person"]["nik"] = None
    d["person"]["nik_unavailable_reason"] = "not_registered"
    assert ("INVALID_DATE", "/person/birth_date") not in pairs(run(d))


def test_age_over_120_fails() -> None:
    d = base()
    set_person(d, birth="1905-11-19")  # 121 on 2026-11-20
    assert pairs(run(d)) == [("INVALID_DATE", "/person/birth_date")]


def test_age_121_from_day_after_birthday() -> None:
    d = base()
    set_person(d, birth="1905-11-20")  # exactly 121 on release day
    assert pairs(run(d)) == [("INVALID_DATE", "/person/birth_date")]


def test_age_120_passes() -> None:
    d = base()
    set_person(d, birth="1906-11-20")  # exactly 120
    result = run(d)
    assert result.errors == []
    assert result.warnings == []


@pytest.mark.parametrize(
    ("release_date", "event_type", "ok"),
    [
        ("2016-11-29", "release.completed", False),  # 10 y + 1 d back
        ("2016-11-30", "release.completed", True),  # exactly 10 y back
        ("2006-01-01", "release.completed", False),
        ("2027-11-30", "release.scheduled", True),  # exactly 1 y ahead
        ("2027-12-01", "release.scheduled", False),  # 1 y + 1 d ahead
        ("2030-01-01", "release.scheduled", False),
    ],
)
def test_release_date_window(release_date: str, event_type: str, ok: bool) -> None:
    d = base()
    d["event_type"] = event_type
    d["release"]["date"] = release_date
    d["in_custody_programmes"] = []
    result = run(d)
    if ok:
        assert result.errors == []
    else:
        assert pairs(result) == [("INVALID_DATE", "/release/date")]


def test_release_window_follows_local_today() -> None:
    # 2026-11-30T18:00Z is already 1 December in Jakarta: 2016-11-30 is out of range.
    clock = Clock(dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC), JAKARTA)
    d = base()
    d["release"]["date"] = "2016-11-30"
    assert pairs(run(d, clock)) == [("INVALID_DATE", "/release/date")]


def occurred(delta: dt.timedelta) -> Event:
    d = base()
    d["occurred_at"] = (NOW + delta).isoformat()
    return d


@pytest.mark.parametrize(
    "delta",
    [dt.timedelta(minutes=4), dt.timedelta(minutes=5), dt.timedelta(0), -dt.timedelta(days=3)],
)
def test_occurred_at_within_skew_passes(delta: dt.timedelta) -> None:
    assert run(occurred(delta)).errors == []


@pytest.mark.parametrize(
    "delta", [dt.timedelta(minutes=5, seconds=1), dt.timedelta(minutes=6), dt.timedelta(days=1)]
)
def test_occurred_at_in_the_future_fails(delta: dt.timedelta) -> None:
    assert pairs(run(occurred(delta))) == [("INVALID_DATE", "/occurred_at")]


def test_occurred_at_future_checked_across_offsets() -> None:
    d = base()
    d["occurred_at"] = "2026-11-30T10:06:00+07:00"  # = NOW + 6 min
    assert pairs(run(d)) == [("INVALID_DATE", "/occurred_at")]
    d["occurred_at"] = "2026-11-30T10:04:00+07:00"
    assert run(d).errors == []


def test_consent_recorded_in_the_future_fails() -> None:
    d = base()
    d["consent"]["recorded_at"] = "2026-11-30T10:06:00+07:00"
    assert pairs(run(d)) == [("INVALID_DATE", "/consent/recorded_at")]
    d["consent"]["recorded_at"] = "2026-11-30T10:04:00+07:00"
    assert run(d).errors == []


@pytest.mark.parametrize("missing", ["given_by", "method"])
def test_consent_basis_consent_needs_detail(missing: str) -> None:
    d = base()
    d["consent"][missing] = None
    assert pairs(run(d)) == [("CONSENT_DETAIL_REQUIRED", f"/consent/{missing}")]


# ---------------------------------------------------------------------------------------
# Several failures together


def test_several_failures_reported_together() -> None:
    d = base()
    d["pas_categories"] = ["korban_napza_hiv", "pengungsi", "korban_napza_hiv", "perempuan_rentan"]
    d["needs"] = None
    d["person"]["nik"] = "3171013203850001"
    d["person"]["domicile"]["regency_code"] = "3273"
    d["person"]["domicile"]["district_code"] = "327301"
    d["release"]["type"] = "pembebasan_bersyarat"
    d["occurred_at"] = "2026-12-25T08:00:00+07:00"
    result = run(d)
    assert sorted(pairs(result)) == sorted(
        [
            ("UNKNOWN_PAS_CATEGORY", "/pas_categories/1"),
            ("DUPLICATE_PAS_CATEGORY", "/pas_categories/2"),
            ("PAS_WARGA_BINAAN_REQUIRED", "/pas_categories"),
            ("PAS_PEREMPUAN_SEX", "/pas_categories/3"),
            ("PAS_NAPZA_HIV_DETAIL_REQUIRED", "/needs/health"),
            ("INVALID_NIK", "/person/nik"),
            ("REGION_MISMATCH", P + "regency_code"),
            ("SUPERVISION_END_REQUIRED", SUP),
            ("BAPAS_REQUIRED", "/release/bapas_code"),
            ("INVALID_DATE", "/occurred_at"),
        ]
    )
    assert result.warnings == []
    assert all(e.detail for e in result.errors)


def test_child_lansia_and_dates_together() -> None:
    d = base()
    make_child(d)
    d["pas_categories"] = ["warga_binaan", "lansia_terlantar"]
    d["person"]["guardian"] = None
    d["release"]["supervision_end_date"] = "2027-01-01"
    assert sorted(pairs(run(d))) == sorted(
        [
            ("PAS_CHILD_REQUIRES_ANAK_RENTAN", "/pas_categories"),
            ("GUARDIAN_REQUIRED", "/person/guardian"),
            ("PAS_LANSIA_AGE", "/pas_categories/1"),
            ("SUPERVISION_END_NOT_ALLOWED", SUP),
        ]
    )


# ---------------------------------------------------------------------------------------
# Age helpers


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        ("2008-02-29", "2026-02-28", 17),
        ("2008-02-29", "2026-03-01", 18),
        ("2008-02-29", "2028-02-28", 19),
        ("2008-02-29", "2028-02-29", 20),
        ("1985-03-12", "2026-03-11", 40),
        ("1985-03-12", "2026-03-12", 41),
        ("1985-03-12", "2026-11-20", 41),
        ("2026-11-20", "2026-11-20", 0),
        ("2026-11-21", "2026-11-20", -1),
        ("1966-11-20", "2026-11-20", 60),
        ("1966-11-21", "2026-11-20", 59),
    ],
)
def test_age_on(birth: str, day: str, age: int) -> None:
    assert age_on(dt.date.fromisoformat(birth), dt.date.fromisoformat(day)) == age


@pytest.mark.parametrize(("age", "child"), [(-1, False), (0, True), (17, True), (18, False)])
def test_is_child(age: int, child: bool) -> None:
    assert is_child(age) is child


def test_clock_today_is_local() -> None:
    assert CLOCK.today == dt.date(2026, 11, 30)
    late = Clock(dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC), JAKARTA)
    assert late.today == dt.date(2026, 12, 1)


# ---------------------------------------------------------------------------------------
# Text fields: a rule (INVALID_TEXT), reported with the event's other rule failures.


@pytest.mark.parametrize("bad", ["Budi\x00", "Budi\nSantoso", "Budi\x7f", "Budi\u2028", "B\x85"])
def test_control_characters_in_text_rejected(bad: str) -> None:
    d = base()
    d["person"]["full_name"] = bad
    assert pairs(run(d)) == [("INVALID_TEXT", "/person/full_name")]


def test_multiline_text_allows_newline_and_tab() -> None:
    d = base()
    d["needs"]["summary"] = "Baris satu\r\nBaris dua\tx"
    assert run(d).errors == []


@pytest.mark.parametrize("bad", ["Baris\rdua", "Baris\x0bdua", "Baris\u2029"])
def test_multiline_text_allows_crlf_lf_and_tab_only(bad: str) -> None:
    """A lone CR is no line break (as in every other free text: app/schemas.py)."""
    d = base()
    d["needs"]["summary"] = bad
    assert pairs(run(d)) == [("INVALID_TEXT", "/needs/summary")]


def test_multiline_text_rejects_nul() -> None:
    d = base()
    d["needs"]["summary"] = "Baris\x00"
    assert pairs(run(d)) == [("INVALID_TEXT", "/needs/summary")]


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        (("person", "full_name"), 200),
        (("person", "birth_place"), 100),
        (("person", "phone"), 32),
        (("person", "nik_unavailable_reason"), 32),
        (("person", "domicile", "address"), 500),
        (("facility", "name"), 200),
        (("case_ref",), 64),
        (("needs", "summary"), 2000),
    ],
)
def test_text_max_length_enforced(path: tuple[str, ...], limit: int) -> None:
    d = base()
    parent = d
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = "A" * limit
    assert run(d).errors == []
    parent[path[-1]] = "A" * (limit + 1)
    assert pairs(run(d)) == [("INVALID_TEXT", "/" + "/".join(path))]


def test_text_rule_is_reported_with_the_other_rules() -> None:
    """SPEC §3: every rule failure together; the text rule is one of them."""
    d = base()
    d["person"]["full_name"] = "Budi\x00"
    d["person"]["nik"] = "123"
    d["pas_categories"] = ["warga_binaan", "xyz"]
    assert pairs(run(d)) == [
        ("INVALID_TEXT", "/person/full_name"),
        ("UNKNOWN_PAS_CATEGORY", "/pas_categories/1"),
        ("INVALID_NIK", "/person/nik"),
    ]


def test_a_field_failing_the_text_rule_gets_that_error_alone() -> None:
    d = base()
    d["person"]["nik"] = "31710112\x0003850001"
    d["pas_categories"] = ["warga_binaan", "xyz\x00"]
    assert pairs(run(d)) == [
        ("INVALID_TEXT", "/person/nik"),
        ("INVALID_TEXT", "/pas_categories/1"),
    ]


def test_case_ref_may_hold_any_printable_character() -> None:
    d = base()
    d["case_ref"] = "B.I-123/2023 Ängka №5"
    assert run(d).errors == []
    d["case_ref"] = "B.I\u200b-123"  # zero-width space: a format character, not printable
    assert pairs(run(d)) == [("INVALID_TEXT", "/case_ref")]


def test_text_rules_cover_every_text_field_of_the_event() -> None:
    """Each string field of the event is either a checked text or an identifier, enum or
    date the schema checks: a new text field cannot slip past the rule unnoticed."""
    from app.intake import schemas
    from app.intake.rules import _text_rules

    texts = {
        (model.__name__, name)
        for model in (
            schemas.ReleaseEvent,
            schemas.Facility,
            schemas.Person,
            schemas.Domicile,
            schemas.Guardian,
            schemas.Health,
            schemas.Needs,
            schemas.Programme,
            schemas.Consent,
        )
        for name in _text_rules(model)
    }
    assert texts == {
        ("ReleaseEvent", "case_ref"),
        ("ReleaseEvent", "pas_categories"),
        ("Facility", "name"),
        ("Person", "full_name"),
        ("Person", "nik"),
        ("Person", "nik_unavailable_reason"),
        ("Person", "birth_place"),
        ("Person", "phone"),
        ("Domicile", "province_code"),
        ("Domicile", "regency_code"),
        ("Domicile", "district_code"),
        ("Domicile", "address"),
        ("Guardian", "full_name"),
        ("Guardian", "relationship"),
        ("Guardian", "phone"),
        ("Needs", "summary"),
        ("Programme", "name"),
        ("Consent", "evidence_ref"),
    }
