"""Shared Pydantic building blocks: strict bodies, text without control characters."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_STRICT = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _no_control(value: str) -> str:
    if _CONTROL_STRICT.search(value):
        raise PydanticCustomError("INVALID_TEXT", "control characters are not allowed")
    return value


def _no_control_multiline(value: str) -> str:
    # Free text (summaries, notes) may hold line breaks and tabs, nothing else.
    if _CONTROL.search(value.replace("\n", "").replace("\t", "")):
        raise PydanticCustomError("INVALID_TEXT", "control characters are not allowed")
    return value


def text(max_length: int, *, min_length: int = 1, multiline: bool = False) -> Any:
    """A string field: bounded length, no control characters (INVALID_TEXT otherwise)."""
    check = _no_control_multiline if multiline else _no_control
    return Annotated[
        str, Field(min_length=min_length, max_length=max_length), AfterValidator(check)
    ]


class StrictBody(BaseModel):
    """Request bodies: unknown fields rejected, no silent type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Items(BaseModel, Generic[T]):
    items: list[T]
