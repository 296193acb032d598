"""The release event as prisons send it (SPEC §3). Strict: unknown fields are rejected.

Only the JSON shape is checked here (types, enums, formats, and the identifiers intake
needs before its rules: `event_id`, `facility.code`). The domain rules (PAS categories,
NIK, regions, dates, ages) and the text rule (no control characters, documented maximum
lengths: `TextRule.by_rules`) are in `rules.py`, so that every rule failure of an event is reported
together, after the facility binding and idempotency checks (SPEC §3's order).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    JsonValue,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic.json_schema import SkipJsonSchema

from app.core.i18n import msg, pydantic_error
from app.core.openapi import Problem
from app.core.schemas import (
    FREE_TEXT,
    NAME200,
    TEXT32,
    TEXT64,
    TEXT100,
    TEXT200,
    TEXT500,
    ResponseModel,
    StrictBody,
    TextRule,
    UnitCode,
    has_control,
)
from app.reference.catalogue import PAS_CODES, DisabilityType, ReleaseType
from app.referrals.case_events import ReleaseEventType

# Instants every time zone can convert (year 1 at +14:00 is not in UTC's calendar).
_EARLIEST = dt.datetime(2, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(9998, 12, 31, tzinfo=dt.UTC)


def _no_control_before(value: object) -> object:
    """Control characters (NUL included) are INVALID_TEXT, before any pattern or enum
    check could call them INVALID_VALUE (SPEC §3: text fields)."""
    if isinstance(value, str) and has_control(value):
        raise pydantic_error("INVALID_TEXT", msg("control characters are not allowed"))
    return value


def _representable(value: dt.datetime) -> dt.datetime:
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        utc = None
    if utc is None or not _EARLIEST <= utc <= _LATEST:
        raise pydantic_error("INVALID_DATE", msg("timestamp out of range"))
    return value


NoControl = BeforeValidator(_no_control_before)


def _whole_number(value: object) -> object:
    """JSON Schema's `integer` includes `9.0`; strict validation alone would refuse it."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


PpksNumber = Annotated[int, Field(ge=1, le=26), BeforeValidator(_whole_number)]
Timestamp = Annotated[AwareDatetime, AfterValidator(_representable)]
# NoControl comes after the constraints so that they stay on the string schema (with their
# own error types); as a "before" validator it still runs first.
EventId = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:/-]+$"), NoControl
]
FacilityCode = Annotated[UnitCode, NoControl]
# Texts of the kinds of app/core/schemas.py, checked by the rules (`TextRule.by_rules`): the
# schema only wants a non-empty string.
RuleText32 = Annotated[str, Field(min_length=1), TEXT32.by_rules]
RuleText64 = Annotated[str, Field(min_length=1), TEXT64.by_rules]
RuleText100 = Annotated[str, Field(min_length=1), TEXT100.by_rules]
RuleText200 = Annotated[str, Field(min_length=1), TEXT200.by_rules]
RuleName = Annotated[str, Field(min_length=1), NAME200.by_rules]
RuleText500 = Annotated[str, Field(min_length=1), TEXT500.by_rules]
RuleFreeText = Annotated[str, Field(min_length=1), FREE_TEXT.by_rules]
CaseRef = Annotated[str, Field(min_length=1), TextRule(64, printable=True).by_rules]
EvidenceRef = Annotated[str, Field(min_length=1), TextRule(128, printable=True).by_rules]
# Codes checked by the rules (NIK, regions, PAS categories).
Code = Annotated[str, Field(min_length=1), TextRule(16).by_rules]


_PAS_ENUM: list[JsonValue] = list(sorted(PAS_CODES))


class FacilityType(StrEnum):
    lapas = "lapas"
    lpp = "lpp"
    lpka = "lpka"
    rutan = "rutan"
    lpas = "lpas"
    bapas = "bapas"


class Facility(StrictBody):
    code: FacilityCode = Field(description="Unit code registered for the sending client.")
    name: RuleName = Field(description="Unit name, e.g. 'Lapas Kelas I Cipinang'.")
    type: FacilityType


class Domicile(StrictBody):
    # The patterns are the schema's; the rules refuse a code that breaks one with its §3
    # code (UNKNOWN_REGION, INVALID_NIK), like one that matches but does not exist.
    province_code: Code = Field(
        description="2-digit province code (Kepmendagri 2025).",
        json_schema_extra={"pattern": "^[0-9]{2}$"},
    )
    regency_code: Code | None = Field(
        default=None,
        description="4-digit regency/city code, inside the province.",
        json_schema_extra={"pattern": "^[0-9]{4}$"},
    )
    district_code: Code | None = Field(
        default=None,
        description="6-digit district (kecamatan) code, inside the regency.",
        json_schema_extra={"pattern": "^[0-9]{6}$"},
    )
    address: RuleText500 | None = None


class Guardian(StrictBody):
    full_name: RuleName
    relationship: RuleText64 = Field(description="e.g. 'ibu', 'ayah', 'wali'.")
    phone: RuleText32 | None = None


class Person(StrictBody):
    full_name: RuleName
    nik: Annotated[str, TEXT32.by_rules] | None = Field(
        default=None,
        description="16-digit NIK; null when unavailable (give the reason).",
        json_schema_extra={"pattern": "^[0-9]{16}$"},
    )
    nik_unavailable_reason: Annotated[str, TEXT32.by_rules] | None = Field(
        default=None,
        description="When there is no NIK: `foreign_national`, `not_registered` or `unknown`.",
        json_schema_extra={"enum": ["foreign_national", "not_registered", "unknown", None]},
    )
    birth_date: dt.date
    birth_place: RuleText100 | None = None
    sex: Literal["male", "female"]
    domicile: Domicile
    phone: RuleText32 | None = None
    guardian: Guardian | None = Field(default=None, description="Required under 18 at release.")


class Release(StrictBody):
    type: ReleaseType
    date: dt.date
    supervision_end_date: dt.date | None = Field(
        default=None,
        description="Required for supervised releases, absent otherwise; after `date` and at "
        "most 20 years after it.",
    )
    bapas_code: FacilityCode | None = Field(
        default=None,
        description="The supervising Bapas: required for a supervised release "
        "(BAPAS_REQUIRED), absent otherwise (BAPAS_NOT_ALLOWED).",
    )


class Health(StrictBody):
    napza_history: bool | None = None
    hiv_positive: bool | None = None
    disability_types: Annotated[list[DisabilityType], Field(max_length=4)] = Field(
        default_factory=list
    )


class Needs(StrictBody):
    summary: RuleFreeText | None = None
    health: Health | None = None


class ProgrammeKind(StrEnum):
    rehabilitasi_sosial = "rehabilitasi_sosial"
    rehabilitasi_medis = "rehabilitasi_medis"
    pelatihan_kerja = "pelatihan_kerja"
    pendidikan = "pendidikan"
    pembinaan_kepribadian = "pembinaan_kepribadian"


class Programme(StrictBody):
    kind: ProgrammeKind
    name: RuleText200
    completed_on: dt.date | None = None


ConsentScope = Literal["health", "contact"]


def _no_repeats(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise pydantic_error("INVALID_VALUE", msg("each value at most once"))
    return values


class Consent(StrictBody):
    basis: Literal["consent", "public_task"]
    given_by: Literal["person", "guardian"] | None = Field(
        default=None,
        description="Who consented; required when `basis` is `consent` "
        "(CONSENT_DETAIL_REQUIRED), and `guardian` for a child (GUARDIAN_CONSENT_REQUIRED).",
    )
    method: Literal["written", "electronic", "verbal_recorded", "verbal_witnessed"] | None = Field(
        default=None,
        description="How; required when `basis` is `consent` (CONSENT_DETAIL_REQUIRED). "
        "Consent is written or recorded (UU 27/2022 art. 22): `verbal_witnessed` is "
        "deprecated, kept for the stored referrals that carry it, and refused "
        "(CONSENT_NOT_RECORDED).",
    )
    evidence_ref: EvidenceRef | None = Field(
        default=None,
        description="The prison's reference to the signed form or the recording (UU 27/2022 "
        "art. 24): 1-128 printable characters; required when `basis` is `consent` "
        "(CONSENT_EVIDENCE_REQUIRED).",
    )
    scope: Annotated[list[ConsentScope], AfterValidator(_no_repeats)] = Field(
        default_factory=list,
        max_length=2,
        json_schema_extra={"uniqueItems": True},
        description="What the person agreed may be disclosed to the assigned sentra and the "
        "supervising Bapas beyond the referral itself: `health` (`needs.health`), `contact` "
        "(phone numbers). Absent: none. Kemensos and the originating prison read all.",
    )
    recorded_at: Timestamp = Field(
        description="When consent was recorded; not in the future (5 minutes of clock skew)."
    )


class ReleaseEvent(StrictBody):
    event_id: EventId = Field(
        description="Unique per sending client, forever; resending it replays the answer."
    )
    event_type: ReleaseEventType
    occurred_at: Timestamp = Field(description="When it happened, RFC 3339 with offset.")
    facility: Facility
    case_ref: CaseRef = Field(
        description="The custody episode's reference at the facility: 1-64 printable characters."
    )
    person: Person
    release: Release
    pas_categories: Annotated[list[Annotated[str, TEXT64.by_rules]], Field(max_length=50)] = Field(
        description="PAS target categories (SPEC §6). `warga_binaan` with a convicted or "
        "supervised release (PAS_WARGA_BINAAN_REQUIRED), never with a not_convicted one "
        "(PAS_WARGA_BINAAN_NOT_CONVICTED).",
        json_schema_extra={"items": {"type": "string", "enum": _PAS_ENUM}, "uniqueItems": True},
    )
    ppks_types: Annotated[list[PpksNumber], Field(max_length=26)] = Field(
        default_factory=list,
        json_schema_extra={"uniqueItems": True},
        description="PPKS-26 type numbers (1-26, `/v1/reference/ppks-types`) that refine "
        "`pas_categories`: each belongs to one of them (PPKS_TYPE_MISMATCH), none twice "
        "(DUPLICATE_PPKS_TYPE). 3 = anak berhadapan dengan hukum, 16 = ODHA, 17 = korban "
        "penyalahgunaan NAPZA.",
    )
    needs: Needs | None = None
    in_custody_programmes: Annotated[list[Programme], Field(max_length=50)] = Field(
        default_factory=list
    )
    consent: Consent


def _as_received(value: Any, _handler: ValidatorFunctionWrapHandler) -> Any:
    return value


# A release event as the request carried it: documented as a `ReleaseEvent`, handed over
# as the parsed JSON. Intake validates each event on its own (app/intake/service.py):
# a batch item that fails is that item's answer, not the batch's, and the idempotency
# hash is taken of what was sent.
RawReleaseEvent = Annotated[ReleaseEvent, WrapValidator(_as_received)]
MAX_BATCH = 500


def _not_null(value: Any) -> Any:
    if value is None:  # `"events": null` is a batch without its events
        raise pydantic_error("FIELD_REQUIRED", msg("a list of events"))
    return value


def _batch_size(events: list[Any]) -> list[Any]:
    if not 1 <= len(events) <= MAX_BATCH:
        raise pydantic_error("BATCH_SIZE", msg("1 to {max_batch} events", max_batch=MAX_BATCH))
    return events


# A batch item as received: any JSON. Each item is validated as a `ReleaseEvent` on its
# own, so an invalid one is answered in its own result (207), never refused with the batch.
# `Any`, not `JsonValue`: the body is parsed JSON already, and walking 500 events to
# check that was a tenth of a batch's CPU (docs/benchmarks.md).
BatchItem = Annotated[
    Any,
    WithJsonSchema(
        {
            "description": "A `ReleaseEvent` (see that schema); validated on its own, so an "
            "invalid item is answered in its own result."
        }
    ),
]


class ReleaseEventBatch(StrictBody):
    events: Annotated[
        list[BatchItem],
        BeforeValidator(_not_null),
        AfterValidator(_batch_size),
        Field(json_schema_extra={"minItems": 1, "maxItems": MAX_BATCH}),
    ] = Field(
        description="1 to 500 events, each validated and answered on its own (`results[index]`)."
    )


EXAMPLE_EVENT: dict[str, object] = {
    "event_id": "SDP-2026-000123",
    "event_type": "release.completed",
    "occurred_at": "2026-11-20T08:00:00+07:00",
    "facility": {"code": "LP-CIPINANG", "name": "Lapas Kelas I Cipinang", "type": "lapas"},
    "case_ref": "B.I-123/2023",
    "person": {
        "full_name": "Budi Santoso",
        "nik": "3171011203850001",
        "nik_unavailable_reason": None,
        "birth_date": "1985-03-12",
        "birth_place": "Jakarta",
        "sex": "male",
        "domicile": {
            "province_code": "31",
            "regency_code": "3171",
            "district_code": "317101",
            "address": "Jl. Kramat Raya No. 10",
        },
        "phone": "+6281234567890",
        "guardian": None,
    },
    "release": {
        "type": "bebas_murni",
        "date": "2026-11-20",
        "supervision_end_date": None,
        "bapas_code": None,
    },
    "pas_categories": ["warga_binaan", "korban_napza_hiv"],
    "ppks_types": [15, 17],
    "needs": {
        "summary": "Perlu pendampingan pasca rehabilitasi NAPZA",
        "health": {"napza_history": True, "hiv_positive": None, "disability_types": []},
    },
    "in_custody_programmes": [
        {"kind": "rehabilitasi_sosial", "name": "TC NAPZA", "completed_on": "2026-06-30"}
    ],
    "consent": {
        "basis": "consent",
        "given_by": "person",
        "method": "written",
        "evidence_ref": "SDP/PERSETUJUAN/2026/0456",
        "scope": ["health", "contact"],
        "recorded_at": "2026-11-19T10:00:00+07:00",
    },
}


class WarningOut(ResponseModel):
    code: str
    detail: str
    pointer: str | None = None


class ReferralRef(ResponseModel):
    id: str
    status: str
    custody_status: str
    version: int


Outcome = Literal[
    "created", "updated", "unchanged", "cancelled", "revoked", "stale", "consent_withdrawn"
]


class EventAccepted(ResponseModel):
    event_id: str
    outcome: Outcome
    referral: ReferralRef
    warnings: list[WarningOut]


class BatchResult(ResponseModel):
    """One event's answer in a batch: what it would have got on its own (SPEC §3). The
    members of the other kind of answer are absent, never null."""

    index: int = Field(description="The event's position in `events`.")
    event_id: str | None = Field(description="The event's `event_id`, null when it had none.")
    status: int = Field(
        description="The HTTP status the event would get on its own: 201, 200, or a 4xx "
        "with `problem`."
    )
    outcome: Outcome | SkipJsonSchema[None] = Field(
        default=None, description="With a 2xx, as `outcome`."
    )
    referral_id: str | SkipJsonSchema[None] = Field(default=None, description="With a 2xx.")
    warnings: list[WarningOut] | SkipJsonSchema[None] = Field(
        default=None, description="With a 2xx; pointers prefixed with `/events/<index>`."
    )
    replayed: bool | SkipJsonSchema[None] = Field(
        default=None,
        description="`true` when this answer is the replay of the first answer to the same "
        "`event_id` and body (sent before, or earlier in this batch): the batch's "
        "`Idempotent-Replayed: true`. Absent otherwise; never `false`.",
    )
    problem: Problem | SkipJsonSchema[None] = Field(
        default=None,
        description="With a 4xx: the problem the event would get on its own, pointers "
        "prefixed with `/events/<index>`.",
    )


class BatchResults(ResponseModel):
    results: list[BatchResult] = Field(description="One per event, in request order.")
