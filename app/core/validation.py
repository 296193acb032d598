"""Pydantic validation errors as `errors[]` entries with stable codes and JSON pointers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from app.core.errors import CATALOGUE, FieldError, json_pointer

_TYPE_CODES: dict[str, str] = {
    "missing": "FIELD_REQUIRED",
    "extra_forbidden": "UNKNOWN_FIELD",
    "literal_error": "INVALID_VALUE",
    "enum": "INVALID_VALUE",
    "string_pattern_mismatch": "INVALID_VALUE",
    "string_too_long": "INVALID_TEXT",
    "string_too_short": "INVALID_TEXT",
    "string_unicode": "INVALID_TEXT",
    "timezone_aware": "INVALID_DATE",
    "uuid_parsing": "INVALID_VALUE",
    "uuid_type": "INVALID_VALUE",
    "json_invalid": "MALFORMED_JSON",
}


def code_for(error_type: str) -> str:
    if error_type in CATALOGUE:  # our own PydanticCustomError codes
        return error_type
    if error_type in _TYPE_CODES:
        return _TYPE_CODES[error_type]
    if error_type.startswith(("date", "datetime", "time")):
        return "INVALID_DATE"
    if error_type.endswith("_type") or error_type.endswith("_parsing"):
        return "INVALID_TYPE"
    return "INVALID_VALUE"


def body_errors(errors: Iterable[Any], prefix: Sequence[str | int] = ()) -> list[FieldError]:
    """From `ValidationError.errors()` of a body model: pointers into the body."""
    out: list[FieldError] = []
    for err in errors:
        loc = tuple(prefix) + tuple(err["loc"])
        out.append(FieldError(code_for(err["type"]), str(err["msg"]), pointer=json_pointer(loc)))
    return out


def request_errors(errors: Iterable[Any]) -> list[FieldError]:
    """From FastAPI's RequestValidationError: body → pointer, query/path/header → parameter."""
    out: list[FieldError] = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        code = code_for(str(err.get("type", "")))
        msg = str(err.get("msg", "invalid"))
        if loc and loc[0] == "body":
            out.append(FieldError(code, msg, pointer=json_pointer(loc[1:])))
        elif loc and loc[0] in ("query", "path", "header", "cookie"):
            name = str(loc[1]) if len(loc) > 1 else str(loc[0])
            if code == "UNKNOWN_FIELD":  # an extra key of a query parameter model
                msg = "not a parameter of this query"
            out.append(FieldError(code, msg, parameter=name))
        else:
            out.append(FieldError(code, msg, pointer=json_pointer(loc)))
    return out
