"""Pydantic validation errors as `errors[]` entries with stable codes and JSON pointers,
their detail in English (pydantic's) and in Indonesian (app/core/details.py)."""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, WrapValidator

from app.core.details import PYDANTIC
from app.core.errors import CATALOGUE, MAX_ERRORS, FieldError, json_pointer
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


# -- bounded validation -------------------------------------------------------------------
#
# Pydantic reports every unknown member of a strict body, and building those reports is
# the dear part: a 0.9 MB body of 85,000 unknown members cost ~1 s of the event loop. A
# problem lists at most MAX_ERRORS entries (SPEC §1), so at most that many unknown members
# are kept for the validator; the others are only counted (`errors_omitted`).


@dataclass(frozen=True, slots=True)
class _Shape:
    known: frozenset[str]
    # Member name -> (the model its value is, whether the value is a list of them).
    nested: dict[str, tuple[type[BaseModel], bool]]


def _model_of(annotation: Any, metadata: Sequence[Any] = ()) -> tuple[type[BaseModel], bool] | None:
    """The model a field holds (itself, optional, or a list of it); None when the value is
    handed over as received (a WrapValidator) or holds no model."""
    if any(isinstance(m, WrapValidator) for m in metadata):
        return None
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return _model_of(inner, extra)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if origin in (list, tuple, Sequence):
        args = get_args(annotation)
        found = _model_of(args[0]) if args else None
        return (found[0], True) if found is not None else None
    if origin in (Union, UnionType):
        for arg in get_args(annotation):
            if arg is not type(None):
                found = _model_of(arg)
                if found is not None:
                    return found
    return None


@functools.cache
def _shape(model: type[BaseModel]) -> _Shape | None:
    if model.model_config.get("extra") != "forbid":
        return None
    known: set[str] = set()
    nested: dict[str, tuple[type[BaseModel], bool]] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        known.add(key)
        found = _model_of(info.annotation, info.metadata)
        if found is not None:
            nested[key] = found
    return _Shape(frozenset(known), nested)


def body_model(annotation: Any, metadata: Sequence[Any] = ()) -> type[BaseModel] | None:
    """The strict model a route's body is validated as, if its unknown members can be
    pruned before validation (not a body handed over as received)."""
    found = _model_of(annotation, metadata)
    return found[0] if found is not None and not found[1] else None


def prune_unknown(value: Any, model: type[BaseModel], budget: int = 0) -> tuple[Any, int]:
    """`value` with at most MAX_ERRORS unknown members in all (the first ones, in document
    order), and how many were dropped. Known members are left as they are; a value with
    few unknown members is returned itself, not copied."""
    state = [budget or MAX_ERRORS, 0]  # unknown members still kept, members dropped
    return _prune(value, model, state), state[1]


def _prune(value: Any, model: type[BaseModel], state: list[int]) -> Any:
    if type(value) is not dict:
        return value
    shape = _shape(model)
    if shape is None:
        return value
    out = value
    # Set operations and an early stop, not a Python loop over every member: a body of
    # 85,000 members costs what a small one does beyond its parsing.
    unknown = len(value.keys() - shape.known)
    if unknown:
        if unknown <= state[0]:
            state[0] -= unknown
        else:
            kept = list(itertools.islice((k for k in value if k not in shape.known), state[0]))
            state[1] += unknown - len(kept)
            state[0] = 0
            out = {k: value[k] for k in shape.known if k in value}
            out.update((k, value[k]) for k in kept)
    for key in [k for k in shape.nested if k in out]:  # in the model's order
        inner, many = shape.nested[key]
        child = out[key]
        if many and type(child) is list:
            pruned: Any = [_prune(item, inner, state) for item in child]
            changed = any(a is not b for a, b in zip(pruned, child, strict=True))
        else:
            pruned = _prune(child, inner, state)
            changed = pruned is not child
        if changed:
            if out is value:
                out = dict(value)
            out[key] = pruned
    return out
