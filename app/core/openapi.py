"""OpenAPI helpers: the problem+json schema and the problem responses of every route."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.core.errors import PROBLEM_JSON


class ProblemItem(BaseModel):
    pointer: str | None = Field(default=None, description="JSON Pointer into the request body.")
    parameter: str | None = Field(default=None, description="Query parameter or header name.")
    code: str
    detail: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable UPPER_SNAKE_CASE reason; see the error catalogue.")
    request_id: str | None
    errors: list[ProblemItem] | None = Field(
        default=None, max_length=50, description="At most 50 entries (then `errors_omitted`)."
    )
    errors_omitted: int | None = Field(
        default=None, ge=1, description="How many errors past the first 50 are not listed."
    )
    allowed_actions: list[str] | None = Field(
        default=None, description="With INVALID_TRANSITION: the actions open to the caller now."
    )


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("Bad request (e.g. INVALID_CURSOR)"),
    401: _problem("UNAUTHENTICATED"),
    403: _problem("ROLE_NOT_PERMITTED / FACILITY_NOT_PERMITTED"),
    404: _problem("Not found or not visible to the caller"),
    409: _problem("Conflict with the referral's state"),
    413: _problem("PAYLOAD_TOO_LARGE"),
    422: _problem("VALIDATION_FAILED / MALFORMED_JSON, with `errors[]`"),
    429: _problem("RATE_LIMITED, with `Retry-After`"),
}
