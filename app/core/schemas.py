"""Shared Pydantic building blocks: strict bodies, unit codes, text rules."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from app.core.i18n import Msg, msg, pydantic_error

T = TypeVar("T")

# Control characters: C0 (NUL included), DEL, C1 and the Unicode line/paragraph separators.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control(value: str, *, multiline: bool = False) -> bool:
    """Whether `value` holds a control character. Free text (`multiline`: summaries,
    notes) may hold line breaks (CRLF or LF) and tabs, nothing else (a lone CR is one)."""
    if multiline:
        value = value.replace("\r\n", "").replace("\n", "").replace("\t", "")
    return CONTROL_CHARACTERS.search(value) is not None


# The same rules as JSON Schema patterns (SPEC §1: a schema says exactly what is accepted).
# Python `re` syntax, which is also ECMA's for these classes; format characters are listed
# from this Python's Unicode database (astral ones as literal characters).
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_LINE_CONTROLS = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\r"  # tab and LF allowed


def _format_characters() -> str:
    """A character class body of every Unicode format character (category Cf)."""
    ranges: list[tuple[int, int]] = []
    for point in range(0x110000):
        if unicodedata.category(chr(point)) == "Cf":
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))

    def char(point: int) -> str:
        return f"\\u{point:04x}" if point <= 0xFFFF else chr(point)

    return "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges)


_FORMAT = _format_characters()


# Unit codes: a prison facility's, a Bapas's, a sentra's. Upper-case letters, digits and `-`,
# 2 to 32 characters. `UNIT_CODE` is the bare pattern, to build variants from.
UNIT_CODE = r"[A-Z0-9][A-Z0-9-]{1,31}"
UnitCode = Annotated[str, Field(pattern=rf"^{UNIT_CODE}$")]


@dataclass(frozen=True, slots=True)
class TextRule:
    """A text field's rule (SPEC §3 "text fields"): at most `max_length` characters and no
    control characters (NUL, C0/C1, U+2028/9); `multiline` text may hold line breaks and
    tabs, `printable` text only printable characters, a `name` no Unicode format
    characters (bidi controls, zero-width) and not only blanks: a name must read as what it
    is ("Budi \u202eosotnaS" displays as "Budi Santoso"). The schema documents `maxLength`.

    An `enforced` rule is pydantic's: a text that breaks it fails validation (INVALID_TEXT).
    One that is not (`by_rules`) is only documented, for a rules pass that reports it with
    the other failures of the same body (the release event's: app/intake/rules.py).
    """

    max_length: int
    multiline: bool = False
    printable: bool = False
    name: bool = False
    enforced: bool = True

    @property
    def by_rules(self) -> TextRule:
        return replace(self, enforced=False)

    def fault(self, value: str) -> Msg | None:
        """Why `value` breaks the rule, or None."""
        if len(value) > self.max_length:
            return msg("at most {max_length} characters", max_length=self.max_length)
        if self.printable and not value.isprintable():
            return msg("printable characters only")
        if has_control(value, multiline=self.multiline):
            return msg("control characters are not allowed")
        if self.name and (not value.strip() or any(unicodedata.category(c) == "Cf" for c in value)):
            return msg("a name of visible characters: no format characters, not blank")
        return None

    @property
    def pattern(self) -> str:
        """The rule's characters as a JSON Schema pattern (not its length: `maxLength`).
        Not the `printable` rule's (Unicode's printable set is no short class)."""
        if self.multiline:
            return rf"^([^{_LINE_CONTROLS}]|\r\n)*$"
        if self.name:
            # No control or format character, and one at least that is not a space.
            allowed = f"[^{_CONTROLS}{_FORMAT}]"
            return rf"^{allowed}*[^{_CONTROLS}{_FORMAT}\s]{allowed}*$"
        return rf"^[^{_CONTROLS}]*$"

    def _validate(self, value: str) -> str:
        fault = self.fault(value)
        if fault is not None:
            raise pydantic_error("INVALID_TEXT", fault)
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = handler(source)
        if not self.enforced:
            return schema
        return core_schema.no_info_after_validator_function(self._validate, schema)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out: dict[str, Any] = handler(schema)
        out["maxLength"] = self.max_length
        out["pattern"] = self.pattern
        return out


# The kinds of text in the API's bodies, one rule each.
TEXT32 = TextRule(32)
TEXT64 = TextRule(64)
TEXT100 = TextRule(100)
TEXT200 = TextRule(200)
NAME200 = TextRule(200, name=True)  # a person's, a guardian's, a facility's name
TEXT500 = TextRule(500)
FREE_TEXT = TextRule(2000, multiline=True)  # summaries, notes

# Non-empty texts of those kinds, enforced by pydantic (INVALID_TEXT). The release event has
# the same kinds left to its rules (app/intake/schemas.py `RuleText…`).
Text32 = Annotated[str, Field(min_length=1), TEXT32]
Text64 = Annotated[str, Field(min_length=1), TEXT64]
Text100 = Annotated[str, Field(min_length=1), TEXT100]
Text200 = Annotated[str, Field(min_length=1), TEXT200]
Text500 = Annotated[str, Field(min_length=1), TEXT500]
FreeText = Annotated[str, Field(min_length=1), FREE_TEXT]


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
