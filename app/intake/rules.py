"""The PAS and intake rules of SPEC §3 as one pure function: no I/O, no database.

`check_event` returns every rule failure of an event at once (each a FieldError with the
code and JSON pointer the contract names) and the warnings that do not reject it.
"""

from __future__ import annotations

import datetime as dt
import functools
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.id import nik as stdnum_nik

from app.core.clock import Clock
from app.core.errors import FieldError
from app.core.i18n import Msg, msg
from app.core.schemas import TextRule
from app.intake.schemas import ReleaseEvent
from app.reference.catalogue import (
    CONVICTED_RELEASES,
    PAS_CODES,
    PPKS_CATEGORY,
    SUPERVISED_RELEASES,
)
from app.reference.regions import Regions
from app.referrals.case_events import ReleaseEventType
from app.referrals.domain import age_on, is_child

NIK_UNAVAILABLE_REASONS = frozenset({"foreign_national", "not_registered", "unknown"})
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_AGE = 120
MAX_SUPERVISION_YEARS = 20


@dataclass(slots=True)
class RuleResult:
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)

    def error(self, code: str, pointer: str, detail: Msg) -> None:
        self.errors.append(FieldError(code=code, pointer=pointer, detail=detail))

    def warn(self, code: str, pointer: str, detail: Msg) -> None:
        self.warnings.append(FieldError(code=code, pointer=pointer, detail=detail))


@dataclass(frozen=True, slots=True)
class NikParts:
    province: str
    day: int
    month: int
    yy: int
    female: bool


def parse_nik(nik: str, regions: Regions) -> NikParts | None:
    """Check a NIK the way DOMAIN.md asks; None when it is invalid.

    python-stdnum checks the digits and the embedded date (it tries both centuries, so
    29 Feb 2000 passes). Its place check uses an out-of-date province table, so instead
    the province is checked against the 2025 Kepmendagri table; digits 3-6 are not
    checked (district codes move; a NIK keeps the one it was issued with).
    """
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        return None
    day = int(nik[6:8])
    if not (1 <= day <= 31 or 41 <= day <= 71):
        return None
    try:
        stdnum_nik.get_birth_date(nik)
    except StdnumValidationError:
        return None
    if nik[:2] not in regions.provinces:
        return None
    return NikParts(nik[:2], day % 40, int(nik[8:10]), int(nik[10:12]), day > 40)


def _check_pas(event: ReleaseEvent, age: int | None, result: RuleResult) -> None:
    codes = event.pas_categories
    seen: set[str] = set()
    for i, code in enumerate(codes):
        if code not in PAS_CODES:
            result.error(
                "UNKNOWN_PAS_CATEGORY", f"/pas_categories/{i}", msg("not a PAS category code")
            )
        elif code in seen:
            result.error("DUPLICATE_PAS_CATEGORY", f"/pas_categories/{i}", msg("listed twice"))
        seen.add(code)
    if event.release.type in CONVICTED_RELEASES:
        if "warga_binaan" not in seen:
            result.error(
                "PAS_WARGA_BINAAN_REQUIRED",
                "/pas_categories",
                msg("a convicted person's release carries `warga_binaan`"),
            )
    else:
        for i, code in enumerate(codes):
            if code == "warga_binaan":
                result.error(
                    "PAS_WARGA_BINAAN_NOT_CONVICTED",
                    f"/pas_categories/{i}",
                    msg("never convicted: not a (former) warga binaan"),
                )
    _check_ppks(event.ppks_types, seen, result)
    child = age is not None and is_child(age)
    if child:
        if "anak_rentan" not in seen:
            result.error(
                "PAS_CHILD_REQUIRES_ANAK_RENTAN",
                "/pas_categories",
                msg("under 18 at release: `anak_rentan` is required"),
            )
        if event.person.guardian is None:
            result.error("GUARDIAN_REQUIRED", "/person/guardian", msg("under 18 at release"))
        if event.consent.basis == "consent" and event.consent.given_by != "guardian":
            result.error(
                "GUARDIAN_CONSENT_REQUIRED",
                "/consent/given_by",
                msg("a child's consent is given by the guardian"),
            )
    health = event.needs.health if event.needs else None
    for i, code in enumerate(codes):
        if code == "lansia_terlantar" and age is not None and age < 60:
            result.error("PAS_LANSIA_AGE", f"/pas_categories/{i}", msg("age at release under 60"))
        elif code == "perempuan_rentan" and event.person.sex != "female":
            result.error("PAS_PEREMPUAN_SEX", f"/pas_categories/{i}", msg("`sex` is not female"))
    if "korban_napza_hiv" in seen and not (
        health is not None and (health.napza_history is True or health.hiv_positive is True)
    ):
        result.error(
            "PAS_NAPZA_HIV_DETAIL_REQUIRED",
            "/needs/health",
            msg("`napza_history` or `hiv_positive` must be true"),
        )
    if "penyandang_disabilitas" in seen and not (health is not None and health.disability_types):
        result.error(
            "PAS_DISABILITY_DETAIL_REQUIRED",
            "/needs/health/disability_types",
            msg("list at least one disability type"),
        )


def _check_nik(event: ReleaseEvent, regions: Regions, result: RuleResult) -> None:
    person = event.person
    if person.nik is None:
        if person.nik_unavailable_reason not in NIK_UNAVAILABLE_REASONS:
            result.error(
                "NIK_OR_REASON_REQUIRED",
                "/person/nik_unavailable_reason",
                msg("without a NIK give foreign_national, not_registered or unknown"),
            )
        return
    parts = parse_nik(person.nik, regions)
    if parts is None:
        result.error(
            "INVALID_NIK",
            "/person/nik",
            msg(
                "16 digits with a real DDMMYY birth date (day + 40 for women) and a known province"
            ),
        )
        return
    birth = person.birth_date
    if (parts.day, parts.month, parts.yy) != (birth.day, birth.month, birth.year % 100):
        result.warn(
            "NIK_BIRTHDATE_MISMATCH",
            "/person/nik",
            msg("the birth date embedded in the NIK differs from `birth_date`"),
        )
    if parts.female != (person.sex == "female"):
        result.warn(
            "NIK_SEX_MISMATCH", "/person/nik", msg("the sex embedded in the NIK differs from `sex`")
        )


def _check_regions(event: ReleaseEvent, regions: Regions, result: RuleResult) -> None:
    dom = event.person.domicile
    base = "/person/domicile/"
    if dom.province_code not in regions.provinces:
        result.error("UNKNOWN_REGION", base + "province_code", msg("not a 2025 province code"))
    regency = regions.regencies.get(dom.regency_code) if dom.regency_code else None
    if dom.regency_code is not None:
        if regency is None:
            result.error("UNKNOWN_REGION", base + "regency_code", msg("not a 2025 regency code"))
        elif regency.parent_code != dom.province_code:
            result.error(
                "REGION_MISMATCH", base + "regency_code", msg("regency is not in the province")
            )
    if dom.district_code is not None:
        district = regions.districts.get(dom.district_code)
        if district is None:
            result.error("UNKNOWN_REGION", base + "district_code", msg("not a 2025 district code"))
        elif dom.regency_code is None or district.parent_code != dom.regency_code:
            result.error(
                "REGION_MISMATCH", base + "district_code", msg("district is not in the regency")
            )


def _check_dates(event: ReleaseEvent, age: int | None, clock: Clock, result: RuleResult) -> None:
    today = clock.today
    release = event.release
    person = event.person
    if person.birth_date >= today:
        result.error("INVALID_DATE", "/person/birth_date", msg("birth date must be in the past"))
    elif age is not None and age > MAX_AGE:
        result.error(
            "INVALID_DATE",
            "/person/birth_date",
            msg("age at release over {max_age}", max_age=MAX_AGE),
        )
    elif age is not None and age < 0:
        result.error("INVALID_DATE", "/person/birth_date", msg("birth date after the release date"))
    earliest = _add_years(today, -10)
    latest = _add_years(today, 1)
    if not earliest <= release.date <= latest:
        result.error(
            "INVALID_DATE",
            "/release/date",
            msg("release date must be within 10 years back, 1 ahead"),
        )
    elif (
        event.event_type is ReleaseEventType.completed
        and release.date > event.occurred_at.astimezone(clock.tz).date()
    ):
        result.error(
            "INVALID_DATE",
            "/release/date",
            msg("a completed release cannot be dated after the event"),
        )
    supervised = release.type in SUPERVISED_RELEASES
    if supervised and release.bapas_code is None:
        result.error(
            "BAPAS_REQUIRED", "/release/bapas_code", msg("a supervised release names its Bapas")
        )
    elif not supervised and release.bapas_code is not None:
        result.error(
            "BAPAS_NOT_ALLOWED", "/release/bapas_code", msg("only a supervised release has a Bapas")
        )
    if supervised and release.supervision_end_date is None:
        result.error(
            "SUPERVISION_END_REQUIRED",
            "/release/supervision_end_date",
            msg("a supervised release needs its supervision end date"),
        )
    elif not supervised and release.supervision_end_date is not None:
        result.error(
            "SUPERVISION_END_NOT_ALLOWED",
            "/release/supervision_end_date",
            msg("an unsupervised release has no supervision end date"),
        )
    elif release.supervision_end_date is not None and release.supervision_end_date <= release.date:
        result.error(
            "INVALID_DATE",
            "/release/supervision_end_date",
            msg("supervision must end after the release date"),
        )
    elif release.supervision_end_date is not None and release.supervision_end_date > _add_years(
        release.date, MAX_SUPERVISION_YEARS
    ):
        # A sentinel such as 9999-12-31 is no date: the handover date and triage deadline
        # derived from it would be meaningless (or not representable at all).
        result.error(
            "INVALID_DATE",
            "/release/supervision_end_date",
            msg(
                "supervision must end within {years} years of the release date",
                years=MAX_SUPERVISION_YEARS,
            ),
        )
    if event.occurred_at > clock.now + CLOCK_SKEW:
        result.error("INVALID_DATE", "/occurred_at", msg("`occurred_at` is in the future"))
    if event.consent.recorded_at > clock.now + CLOCK_SKEW:
        result.error("INVALID_DATE", "/consent/recorded_at", msg("consent recorded in the future"))


def _check_ppks(numbers: list[int], categories: set[str], result: RuleResult) -> None:
    """Each PPKS-26 type refines one of the event's PAS categories, once."""
    seen: set[int] = set()
    for i, number in enumerate(numbers):
        if number in seen:
            result.error("DUPLICATE_PPKS_TYPE", f"/ppks_types/{i}", msg("listed twice"))
        elif PPKS_CATEGORY.get(number) not in categories:
            result.error(
                "PPKS_TYPE_MISMATCH",
                f"/ppks_types/{i}",
                msg(
                    "type {number} belongs to `{category}`, not among `pas_categories`",
                    number=number,
                    category=PPKS_CATEGORY.get(number),
                ),
            )
        seen.add(number)


def _check_consent(event: ReleaseEvent, result: RuleResult) -> None:
    consent = event.consent
    if consent.basis == "consent":
        if consent.given_by is None:
            result.error("CONSENT_DETAIL_REQUIRED", "/consent/given_by", msg("who gave consent"))
        if consent.method is None:
            result.error("CONSENT_DETAIL_REQUIRED", "/consent/method", msg("how consent was given"))
        elif consent.method == "verbal_witnessed":
            result.error(
                "CONSENT_NOT_RECORDED",
                "/consent/method",
                msg("consent is written or recorded (UU 27/2022 art. 22)"),
            )
        if consent.evidence_ref is None:
            result.error(
                "CONSENT_EVIDENCE_REQUIRED",
                "/consent/evidence_ref",
                msg("the reference of the signed form or the recording (UU 27/2022 art. 24)"),
            )


def _rule_in(annotation: Any) -> TextRule | None:
    """The TextRule in a field's type, looking through Optional, list and Annotated."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, TextRule):
            return meta
    for arg in typing.get_args(annotation):
        rule = _rule_in(arg)
        if rule is not None:
            return rule
    return None


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in typing.get_args(annotation))


@functools.cache
def _text_rules(model: type[BaseModel]) -> dict[str, TextRule]:
    """Each text field of `model` (a str, or a list of them) with its rule."""
    rules: dict[str, TextRule] = {}
    for name, info in model.model_fields.items():
        rule = next((m for m in info.metadata if isinstance(m, TextRule)), None)
        rule = rule or _rule_in(info.annotation)
        if rule is not None:
            rules[name] = rule
    return rules


@functools.cache
def _text_plan(model: type[BaseModel]) -> tuple[tuple[str, TextRule | None], ...]:
    """The fields `check_text` visits: texts with their rule, sub-models with None."""
    rules = _text_rules(model)
    return tuple(
        (name, rules.get(name))
        for name, info in model.model_fields.items()
        if name in rules or _holds_models(info.annotation)
    )


def check_text(model: BaseModel, result: RuleResult, base: str = "") -> None:
    """The text rule (INVALID_TEXT) on every text field of `model` and its sub-models."""
    for name, rule in _text_plan(type(model)):
        value = getattr(model, name)
        if value is None:
            continue
        if rule is None:  # a sub-model, or a list of them
            if isinstance(value, list):
                for i, item in enumerate(value):
                    check_text(item, result, f"{base}/{name}/{i}")
            else:
                check_text(value, result, f"{base}/{name}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                fault = rule.fault(item)
                if fault is not None:
                    result.error("INVALID_TEXT", f"{base}/{name}/{i}", fault)
        else:
            fault = rule.fault(value)
            if fault is not None:
                result.error("INVALID_TEXT", f"{base}/{name}", fault)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


def check_event(event: ReleaseEvent, *, clock: Clock, regions: Regions) -> RuleResult:
    """Every rule failure of `event` and its warnings. A field that breaks the text rule
    gets that error alone: what the other rules would say of its value adds nothing."""
    text = RuleResult()
    check_text(event, text)
    result = RuleResult()
    age = age_on(event.person.birth_date, event.release.date)
    _check_pas(event, age if age >= 0 else None, result)
    _check_nik(event, regions, result)
    _check_regions(event, regions, result)
    _check_dates(event, age, clock, result)
    _check_consent(event, result)
    if text.errors:
        flagged = {e.pointer for e in text.errors}
        result.errors = text.errors + [e for e in result.errors if e.pointer not in flagged]
        result.warnings = [w for w in result.warnings if w.pointer not in flagged]
    return result
