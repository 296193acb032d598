"""Pydantic validation errors as `errors[]` entries with stable codes and JSON pointers,
their detail in English (pydantic's) and in Indonesian (app/core/details.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.core.details import PYDANTIC
from app.core.errors import CATALOGUE, FieldError, json_pointer
from app.core.i18n import MSG_CONTEXT_KEY, Msg, msg

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


def _indonesian_ctx(ctx: Mapping[str, Any]) -> dict[str, Any]:
    # Pydantic joins the last of the expected values with " or " ("'a', 'b' or 'c'").
    return {
        key: value.replace(" or ", " atau ") if isinstance(value, str) else value
        for key, value in ctx.items()
    }


def detail_of(err: Mapping[str, Any], code: str) -> Msg:
    """The detail of one pydantic error: ours (raised with `pydantic_error`) as it was
    given; pydantic's own with its Indonesian by type, else the code's Indonesian meaning."""
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    ours = ctx.get(MSG_CONTEXT_KEY)
    if isinstance(ours, Msg):
        return ours
    english = str(err.get("msg", "invalid"))
    template = PYDANTIC.get(str(err.get("type", "")))
    indonesian = CATALOGUE[code].meaning_id
    if template is not None:
        # A context without the fields the template names keeps the code's meaning.
        with contextlib.suppress(KeyError, IndexError, ValueError):
            indonesian = template.format_map(_indonesian_ctx(ctx))
    return Msg(english, indonesian=indonesian)


def body_errors(errors: Iterable[Any], prefix: Sequence[str | int] = ()) -> list[FieldError]:
    """From `ValidationError.errors()` of a body model: pointers into the body."""
    out: list[FieldError] = []
    for err in errors:
        loc = tuple(prefix) + tuple(err["loc"])
        code = code_for(err["type"])
        out.append(FieldError(code, detail_of(err, code), pointer=json_pointer(loc)))
    return out


def request_errors(errors: Iterable[Any]) -> list[FieldError]:
    """From FastAPI's RequestValidationError: body → pointer, query/path/header → parameter."""
    out: list[FieldError] = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        code = code_for(str(err.get("type", "")))
        detail = detail_of(err, code)
        if loc and loc[0] == "body":
            out.append(FieldError(code, detail, pointer=json_pointer(loc[1:])))
        elif loc and loc[0] in ("query", "path", "header", "cookie"):
            name = str(loc[1]) if len(loc) > 1 else str(loc[0])
            if code == "UNKNOWN_FIELD":  # an extra key of a query parameter model
                detail = msg("not a parameter of this query")
            out.append(FieldError(code, detail, parameter=name))
        else:
            out.append(FieldError(code, detail, pointer=json_pointer(loc)))
    return out
