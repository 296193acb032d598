"""RFC 9457 problem details: one exception type, one catalogue of stable codes.

Every `code` the service can answer is listed in `CATALOGUE` (status, title, meaning);
the OpenAPI description renders it as the error catalogue and a test checks that no code
is used in the source without an entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    status: int | None  # None: a code used inside `errors[]` / `warnings[]`, not as a problem
    title: str
    meaning: str


CATALOGUE: dict[str, CatalogueEntry] = {
    # Problems (top-level `code`)
    "VALIDATION_FAILED": CatalogueEntry(
        422, "Validation failed", "The request broke one or more rules; see `errors[]`."
    ),
    "MALFORMED_JSON": CatalogueEntry(
        422,
        "Malformed JSON",
        "The body is not a JSON document in UTF-8 (truncated, wrong encoding, NaN, or nested "
        "deeper than 64 levels).",
    ),
    "BATCH_SIZE": CatalogueEntry(None, "Batch size", "A batch holds 1 to 500 events."),
    "UNAUTHENTICATED": CatalogueEntry(
        401, "Authentication required", "No API key, or one that is unknown, revoked or expired."
    ),
    "ROLE_NOT_PERMITTED": CatalogueEntry(
        403, "Not permitted", "The caller's role may never take this action."
    ),
    "FACILITY_NOT_PERMITTED": CatalogueEntry(
        403, "Facility not permitted", "The event's `facility.code` is not bound to the caller."
    ),
    "NOT_FOUND": CatalogueEntry(404, "Not found", "No such route."),
    "REFERRAL_NOT_FOUND": CatalogueEntry(
        404, "Referral not found", "No referral with this id is visible to the caller."
    ),
    "UNKNOWN_CASE": CatalogueEntry(
        404,
        "Unknown case",
        "The event needs an existing referral for (`facility.code`, `case_ref`) and there is none.",
    ),
    "SENTRA_NOT_FOUND": CatalogueEntry(404, "Sentra not found", "No sentra with this code."),
    "CLIENT_NOT_FOUND": CatalogueEntry(404, "Client not found", "No client with this id."),
    "SUBSCRIPTION_NOT_FOUND": CatalogueEntry(
        404, "Subscription not found", "None of the caller's webhook subscriptions has this id."
    ),
    "DELIVERY_NOT_FOUND": CatalogueEntry(
        404, "Delivery not found", "No delivery with this id belongs to the caller's subscriptions."
    ),
    "SUBSCRIPTION_DISABLED": CatalogueEntry(
        409,
        "Subscription disabled",
        "The subscription was disabled (410 from the endpoint, or retries exhausted); create "
        "a new one.",
    ),
    "CLIENT_INACTIVE": CatalogueEntry(
        409, "Client inactive", "The client is deactivated; its key cannot be rotated."
    ),
    "METHOD_NOT_ALLOWED": CatalogueEntry(
        405, "Method not allowed", "The route exists but not for this method; see `Allow`."
    ),
    "PAYLOAD_TOO_LARGE": CatalogueEntry(
        413, "Payload too large", "Bodies are limited to 1 MiB (10 MiB for a batch)."
    ),
    "UNSUPPORTED_MEDIA_TYPE": CatalogueEntry(
        415, "Unsupported media type", "Send `Content-Type: application/json`."
    ),
    "RATE_LIMITED": CatalogueEntry(
        429, "Too many requests", "The client's rate limit is spent; retry after `Retry-After`."
    ),
    "EVENT_ID_CONFLICT": CatalogueEntry(
        409,
        "Event id conflict",
        "This `event_id` was already answered for a different body; a new event needs a new id.",
    ),
    "ALREADY_RELEASED": CatalogueEntry(
        409, "Already released", "The person is already released; the event no longer applies."
    ),
    "NOT_SUPERVISED": CatalogueEntry(
        409, "Not supervised", "Only a supervised release (Bapas) can be revoked."
    ),
    "INVALID_TRANSITION": CatalogueEntry(
        409,
        "Invalid transition",
        "The action is not allowed from the referral's current status; see `allowed_actions`.",
    ),
    "NOT_YET_RELEASED": CatalogueEntry(
        409,
        "Not yet released",
        "`supervision.ended` for a person still inside: supervision starts at release.",
    ),
    "SENTRA_EXISTS": CatalogueEntry(409, "Sentra exists", "A sentra with this code exists."),
    # The rehabilitation record (SPEC §10)
    "REFERRAL_ENDED": CatalogueEntry(
        409,
        "Referral ended",
        "The referral is closed, rejected or cancelled: its record takes notes only.",
    ),
    "INVALID_STATE": CatalogueEntry(
        409,
        "Invalid state",
        "Not recorded in the referral's current status (assessments, plan and appointments: "
        "accepted, assigned, in_service, on_hold; services: in_service).",
    ),
    "ATTENDANCE_RECORDED": CatalogueEntry(
        409, "Attendance recorded", "The appointment's attendance was recorded already (once)."
    ),
    "APPOINTMENT_NOT_DUE": CatalogueEntry(
        409,
        "Appointment not due",
        "The appointment has not started: only `cancelled` is recorded before `starts_at`.",
    ),
    "NO_PLAN": CatalogueEntry(404, "No plan", "The referral has no service plan yet."),
    "NO_REPORT": CatalogueEntry(
        404, "No report", "The referral has not been closed: no end-of-service report yet."
    ),
    "APPOINTMENT_NOT_FOUND": CatalogueEntry(
        404, "Appointment not found", "The referral has no appointment with this id."
    ),
    "PRECONDITION_REQUIRED": CatalogueEntry(
        428, "Precondition required", "Send `If-Match` with the referral's current ETag."
    ),
    "VERSION_MISMATCH": CatalogueEntry(
        412, "Version mismatch", "The referral changed since that ETag; read it again."
    ),
    "INVALID_CURSOR": CatalogueEntry(
        400, "Invalid cursor", "The cursor is unknown, tampered with or from another query."
    ),
    "INTERNAL_ERROR": CatalogueEntry(
        500, "Internal error", "An unexpected fault; nothing was written. Retry later."
    ),
    "SERVICE_UNAVAILABLE": CatalogueEntry(
        503, "Service unavailable", "The database is unreachable or not migrated."
    ),
    # Codes inside errors[] (pointer or parameter) and warnings[]
    "FIELD_REQUIRED": CatalogueEntry(None, "Field required", "A required field is missing."),
    "UNKNOWN_FIELD": CatalogueEntry(
        None,
        "Unknown field",
        "Request bodies are strict; so are the referral list, stats and export parameters.",
    ),
    "INVALID_TYPE": CatalogueEntry(None, "Invalid type", "The JSON type is wrong."),
    "INVALID_VALUE": CatalogueEntry(
        None, "Invalid value", "Not one of the allowed values, or not of the required form."
    ),
    "INVALID_DATE": CatalogueEntry(
        None, "Invalid date", "A date or timestamp that is malformed or out of its allowed range."
    ),
    "INVALID_TEXT": CatalogueEntry(
        None, "Invalid text", "Control characters (NUL included) or longer than documented."
    ),
    "UNKNOWN_PAS_CATEGORY": CatalogueEntry(
        None, "Unknown PAS category", "Not one of the 12 PAS category codes."
    ),
    "DUPLICATE_PAS_CATEGORY": CatalogueEntry(
        None, "Duplicate PAS category", "A PAS category is listed twice."
    ),
    "PAS_WARGA_BINAAN_REQUIRED": CatalogueEntry(
        None,
        "warga_binaan required",
        "A release of the convicted or supervised group carries `warga_binaan`.",
    ),
    "PAS_WARGA_BINAAN_NOT_CONVICTED": CatalogueEntry(
        None,
        "warga_binaan not for the never convicted",
        "A `not_convicted` release (a detainee, an acquittal, a diversion) never carries "
        "`warga_binaan`: it would label the person an ex-inmate.",
    ),
    "DUPLICATE_PPKS_TYPE": CatalogueEntry(
        None, "Duplicate PPKS type", "A PPKS-26 type is listed twice."
    ),
    "PPKS_TYPE_MISMATCH": CatalogueEntry(
        None,
        "PPKS type outside the categories",
        "A PPKS-26 type that belongs to none of the event's `pas_categories` (SPEC §6).",
    ),
    "BAPAS_REQUIRED": CatalogueEntry(
        None, "Bapas required", "A supervised release names its supervising Bapas."
    ),
    "BAPAS_NOT_ALLOWED": CatalogueEntry(
        None, "Bapas not allowed", "An unsupervised release has no supervising Bapas."
    ),
    "CONSENT_NOT_RECORDED": CatalogueEntry(
        None,
        "Consent not recorded",
        "Consent must be written or recorded (UU 27/2022 art. 22): `verbal_witnessed` is refused.",
    ),
    "CONSENT_EVIDENCE_REQUIRED": CatalogueEntry(
        None,
        "Consent evidence required",
        "With `basis = consent`, `evidence_ref` names the signed form or the recording "
        "(UU 27/2022 art. 24).",
    ),
    "PAS_CHILD_REQUIRES_ANAK_RENTAN": CatalogueEntry(
        None, "anak_rentan required", "A person under 18 at release carries `anak_rentan`."
    ),
    "GUARDIAN_REQUIRED": CatalogueEntry(
        None, "Guardian required", "A person under 18 at release needs `person.guardian`."
    ),
    "GUARDIAN_CONSENT_REQUIRED": CatalogueEntry(
        None, "Guardian consent required", "A child's consent is given by the guardian."
    ),
    "CONSENT_DETAIL_REQUIRED": CatalogueEntry(
        None,
        "Consent detail required",
        "With `basis = consent`, `given_by` and `method` are required.",
    ),
    "PAS_LANSIA_AGE": CatalogueEntry(
        None, "Not lansia", "`lansia_terlantar` needs an age at release of 60 or more."
    ),
    "PAS_PEREMPUAN_SEX": CatalogueEntry(
        None, "Not perempuan", "`perempuan_rentan` needs `sex = female`."
    ),
    "PAS_NAPZA_HIV_DETAIL_REQUIRED": CatalogueEntry(
        None,
        "NAPZA/HIV detail required",
        "`korban_napza_hiv` needs `needs.health.napza_history` or `hiv_positive` true.",
    ),
    "PAS_DISABILITY_DETAIL_REQUIRED": CatalogueEntry(
        None,
        "Disability detail required",
        "`penyandang_disabilitas` needs `needs.health.disability_types`.",
    ),
    "INVALID_NIK": CatalogueEntry(
        None,
        "Invalid NIK",
        "Not 16 digits, no real DDMMYY date (day + 40 for women), or an unknown province.",
    ),
    "NIK_OR_REASON_REQUIRED": CatalogueEntry(
        None,
        "NIK or reason required",
        "Without a NIK, `nik_unavailable_reason` is one of foreign_national, not_registered, "
        "unknown.",
    ),
    "UNKNOWN_REGION": CatalogueEntry(
        None, "Unknown region", "Not a code of the Kepmendagri 2025 region table."
    ),
    "REGION_MISMATCH": CatalogueEntry(
        None, "Region mismatch", "The code does not lie inside the enclosing region."
    ),
    "SUPERVISION_END_REQUIRED": CatalogueEntry(
        None, "Supervision end required", "A supervised release needs `supervision_end_date`."
    ),
    "SUPERVISION_END_NOT_ALLOWED": CatalogueEntry(
        None, "Supervision end not allowed", "An unsupervised release has no supervision end."
    ),
    "URL_NOT_ALLOWED": CatalogueEntry(
        None,
        "URL not allowed",
        "A webhook target on a loopback, private, link-local or otherwise non-public address.",
    ),
    "UNKNOWN_SENTRA": CatalogueEntry(
        None, "Unknown sentra", "Not an active sentra of the registry."
    ),
    "UNKNOWN_GOAL": CatalogueEntry(
        None, "Unknown goal", "Not the id of a goal of the referral's service plan."
    ),
    "REPORT_REQUIRED": CatalogueEntry(
        None,
        "Report required",
        "`close` with outcome `completed` or `ended_early` carries the end-of-service `report`.",
    ),
    "REPORT_INCOMPLETE": CatalogueEntry(
        None,
        "Report incomplete",
        "The report gives a `result` for every goal of the plan (`completed`, `ended_early`).",
    ),
    "NIK_BIRTHDATE_MISMATCH": CatalogueEntry(
        None, "NIK birth date mismatch", "Warning: the NIK's DDMMYY differs from `birth_date`."
    ),
    "NIK_SEX_MISMATCH": CatalogueEntry(
        None, "NIK sex mismatch", "Warning: the NIK's day (+40 for women) differs from `sex`."
    ),
    "LEGACY_CONSENT": CatalogueEntry(
        None,
        "Legacy consent",
        "Flag: a referral stored before consent evidence was required whose consent has no "
        "`evidence_ref`.",
    ),
    "OPEN_REFERRAL_EXISTS_FOR_NIK": CatalogueEntry(
        None,
        "Open referral for NIK",
        "Warning: another non-terminal referral exists for the same NIK.",
    ),
}


@dataclass(slots=True)
class FieldError:
    """One entry of `errors[]`: a JSON pointer into the body, or a query `parameter`."""

    code: str
    detail: str
    pointer: str | None = None
    parameter: str | None = None

    def as_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.parameter is not None:
            out["parameter"] = self.parameter
        else:
            out["pointer"] = self.pointer or ""
        out["code"] = self.code
        out["detail"] = self.detail
        return out


@dataclass(slots=True)
class ProblemError(Exception):
    """Raised anywhere; rendered as application/problem+json by the app's handler."""

    code: str
    detail: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)
    status: int = 0

    def __post_init__(self) -> None:
        entry = CATALOGUE[self.code]
        if not self.status:
            if entry.status is None:
                raise ValueError(f"{self.code} is not a problem code")
            self.status = entry.status

    def body(self, request_id: str | None) -> dict[str, Any]:
        return problem_body(
            self.code,
            self.status,
            self.detail,
            request_id,
            errors=self.errors,
            extensions=self.extensions,
        )


def problem_body(
    code: str,
    status: int,
    detail: str | None,
    request_id: str | None,
    *,
    errors: list[FieldError] | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    entry = CATALOGUE[code]
    body: dict[str, Any] = {
        "type": f"urn:rujukan:problem:{code.lower().replace('_', '-')}",
        "title": entry.title,
        "status": status,
        "detail": detail or entry.meaning,
        "code": code,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    if extensions:
        body.update(extensions)
    return body


def validation_failed(errors: list[FieldError], detail: str | None = None) -> ProblemError:
    return ProblemError(
        "VALIDATION_FAILED",
        detail or f"{len(errors)} validation error(s); see errors[].",
        errors=errors,
    )


def json_pointer(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """RFC 6901 pointer from a location path (`~` and `/` escaped)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)
