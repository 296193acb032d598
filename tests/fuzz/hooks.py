"""Schemathesis hooks for tests/fuzz (loaded by the CLI through SCHEMATHESIS_HOOKS).

`positive_data_acceptance` is the one check we wrap instead of taking as is: a schema cannot
say which region codes exist, that a date string names a real day, which NIKs are valid, or
which cursor the server issued, so a schema-valid request may still earn the 422/400 the
contract prescribes for those rules (SPEC §1, §3). The wrapper lets through only those
rejections, identified by their stable codes; any other rejection of schema-valid data
still fails the run. A stale `If-Match` (412) is a conflict with current state, like 409.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

# Rules a JSON Schema cannot express; a schema-valid request may break them and get its 422.
SEMANTIC_CODES = frozenset(
    {
        "UNKNOWN_REGION",
        "REGION_MISMATCH",
        "INVALID_DATE",
        "INVALID_NIK",
        "NIK_OR_REASON_REQUIRED",
        "UNKNOWN_PAS_CATEGORY",
        "DUPLICATE_PAS_CATEGORY",
        "PAS_WARGA_BINAAN_REQUIRED",
        "PAS_CHILD_REQUIRES_ANAK_RENTAN",
        "GUARDIAN_REQUIRED",
        "GUARDIAN_CONSENT_REQUIRED",
        "PAS_LANSIA_AGE",
        "PAS_PEREMPUAN_SEX",
        "PAS_NAPZA_HIV_DETAIL_REQUIRED",
        "PAS_DISABILITY_DETAIL_REQUIRED",
        "SUPERVISION_END_REQUIRED",
        "SUPERVISION_END_NOT_ALLOWED",
        "PAS_WARGA_BINAAN_NOT_CONVICTED",
        "DUPLICATE_PPKS_TYPE",
        "PPKS_TYPE_MISMATCH",
        "BAPAS_REQUIRED",
        "BAPAS_NOT_ALLOWED",
        "CONSENT_NOT_RECORDED",
        "CONSENT_EVIDENCE_REQUIRED",
        "INVALID_TEXT",
        "INVALID_CURSOR",
        "URL_NOT_ALLOWED",
        # The rehabilitation record (SPEC §10): goals the plan holds, the close's report.
        "UNKNOWN_GOAL",
        "REPORT_REQUIRED",
        "REPORT_INCOMPLETE",
    }
)
# Rules across fields or with the path, which no schema here says:
# `PUT /v1/sentra/{code}`: a `code` in the body equals the path's;
# `POST /v1/clients`: each role is bound to its own kind of code, and to at least one.
CROSS_FIELD = frozenset(
    {
        ("INVALID_VALUE", "/code"),
        ("INVALID_VALUE", "/facility_codes"),
        ("INVALID_VALUE", "/sentra_codes"),
        ("INVALID_VALUE", "/bapas_codes"),
        ("FIELD_REQUIRED", "/facility_codes"),
        ("FIELD_REQUIRED", "/sentra_codes"),
        ("FIELD_REQUIRED", "/bapas_codes"),
        # `POST …/notes`: only Kemensos and the sentra write `audience: kemensos` (SPEC §10).
        ("INVALID_VALUE", "/audience"),
    }
)
# Items listed once (`uniqueItems` cannot say "each component once"): SPEC §10's
# assessments (`/needs/<i>/component`), plan goals and report goals (`…/<i>/id`, `goal_id`).
REPEATED_ITEM = re.compile(r"^/(needs/\d+/component|goals/\d+/id|report/goals/\d+/goal_id)$")
# Answers about current state, not about the request's shape.
STATE_STATUSES = frozenset({409, 412})


def _semantic_rejection(status: int, body: Any) -> bool:
    if status in STATE_STATUSES:
        return True
    if status not in (400, 422) or not isinstance(body, dict):
        return False
    if body.get("code") in SEMANTIC_CODES:
        return True
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        return False
    return all(
        isinstance(e, dict)
        and (
            e.get("code") in SEMANTIC_CODES
            or (e.get("code"), e.get("pointer")) in CROSS_FIELD
            or (e.get("code") == "INVALID_VALUE" and REPEATED_ITEM.match(str(e.get("pointer"))))
        )
        for e in errors
    )


@schemathesis.check
def positive_data_acceptance_beyond_schema(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """`positive_data_acceptance`, except for the contract's semantic rejections."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        try:
            body = response.json()
        except ValueError:
            body = None
        if _semantic_rejection(response.status_code, body):
            return None
        raise
