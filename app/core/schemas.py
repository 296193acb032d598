"""Shared Pydantic building blocks: strict bodies, text without control characters."""

from __future__ import annotations

import re
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

T = TypeVar("T")

# Control characters: C0 (NUL included), DEL, C1 and the Unicode line/paragraph separators.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control(value: str, *, multiline: bool = False) -> bool:
    """Whether `value` holds a control character. Free text (`multiline`: summaries,
    notes) may hold line breaks (CRLF or LF) and tabs, nothing else (a lone CR is one)."""
    if multiline:
        value = value.replace("\r\n", "").replace("\n", "").replace("\t", "")
    return CONTROL_CHARACTERS.search(value) is not None


def _no_control(value: str) -> str:
    if has_control(value):
        raise PydanticCustomError("INVALID_TEXT", "control characters are not allowed")
    return value


def _no_control_multiline(value: str) -> str:
    if has_control(value, multiline=True):
        raise PydanticCustomError("INVALID_TEXT", "control characters are not allowed")
    return value


# Unit codes: a prison facility's, a Bapas's, a sentra's. Upper-case letters, digits and `-`,
# 2 to 32 characters. `UNIT_CODE` is the bare pattern, to build variants from.
UNIT_CODE = r"[A-Z0-9][A-Z0-9-]{1,31}"
UnitCode = Annotated[str, Field(pattern=rf"^{UNIT_CODE}$")]

# Bounded strings without control characters (INVALID_TEXT otherwise).
Text32 = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_no_control)]
Text64 = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_control)]
Text100 = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_no_control)]
Text200 = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_control)]
Text500 = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_no_control)]
FreeText = Annotated[
    str, Field(min_length=1, max_length=2000), AfterValidator(_no_control_multiline)
]


class StrictBody(BaseModel):
    """Request bodies: unknown fields rejected, no silent type coercion.

    FastAPI validates parsed JSON in Python mode, where strict mode refuses a string for an
    enum or a date: give such fields `Field(strict=False)` in bodies FastAPI parses.
    Bodies validated with `model_validate_json`
    (the release event) need nothing: JSON mode accepts them strictly.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Items(BaseModel, Generic[T]):
    items: list[T]
