"""The language of problem texts (SPEC §9): English, or Bahasa Indonesia when the caller's
`Accept-Language` prefers it.

A detail is a `Msg`: an English template (`str.format` fields) and its parameters,
rendered only when the problem body is written, in the language of the request being
answered. The Indonesian templates live in `app.core.details`, keyed by the English one;
tests/core/test_i18n.py fails when a template or a catalogue code lacks its Indonesian.
"""

from __future__ import annotations

import contextvars
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic_core import PydanticCustomError

from app.core.details import INDONESIAN

Lang = Literal["en", "id"]
DEFAULT_LANG: Lang = "en"

# The language of the request being answered; set by the request middleware. Outside a
# request (the CLI's import, the worker) texts are English.
language_var: contextvars.ContextVar[Lang] = contextvars.ContextVar(
    "language", default=DEFAULT_LANG
)

# Primary subtags we answer in. `in` is Indonesian's withdrawn ISO 639 code, still sent by
# some older Java clients.
_PRIMARY: dict[str, Lang] = {"en": "en", "id": "id", "in": "id"}


def negotiate(header: str | None) -> Lang:
    """The language to answer in, from an `Accept-Language` value (RFC 9110 §12.5.4).

    The range with the highest q-value that names a language we have wins (a tie goes to
    the one listed first); `id-ID` and the like match by their primary subtag; `*`, an
    absent or unreadable header, and q=0 for everything we have give English. Written
    here because it is 20 lines: no web library we depend on parses q-values for us.
    """
    if not header:
        return DEFAULT_LANG
    best: tuple[float, int] | None = None
    chosen: Lang = DEFAULT_LANG
    for position, item in enumerate(header.split(",")[:32]):
        parts = item.strip().split(";")
        tag = parts[0].strip().lower()
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:  # nan fails both comparisons
                    quality = 0.0
        lang = DEFAULT_LANG if tag == "*" else _PRIMARY.get(tag.split("-", 1)[0])
        if lang is None or quality <= 0.0:
            continue
        rank = (quality, -position)
        if best is None or rank > best:
            best, chosen = rank, lang
    return chosen


@dataclass(frozen=True, slots=True)
class Msg:
    """A text for a client: an English template and its parameters.

    `indonesian` is set only for texts that are not ours (pydantic's own messages, already
    rendered): ours are looked up in `app.core.details.INDONESIAN` by their template."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict)
    indonesian: str | None = None

    def render(self, lang: Lang | None = None) -> str:
        lang = lang or language_var.get()
        text = self.template
        if lang == "id":
            text = self.indonesian or INDONESIAN.get(self.template, self.template)
        return text.format_map(self.params) if self.params else text

    def __str__(self) -> str:
        return self.render("en")


def msg(template: str, /, **params: Any) -> Msg:
    """A detail text: `template` is English with `{name}` fields filled from `params`; its
    Indonesian is `INDONESIAN[template]` (app/core/details.py)."""
    return Msg(template, params)


def fields_of(template: str) -> set[str]:
    """The `{names}` a template formats (for the catalogue's tests)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def pydantic_error(error_type: str, text: Msg) -> PydanticCustomError:
    """A validation error of ours raised inside pydantic: `errors[].detail` is `text`, in
    the request's language (app/core/validation.py finds it in the error's context)."""
    # Pydantic fills `{name}` fields of the template from the context: none are left.
    return PydanticCustomError(error_type, text.render("en"), {MSG_CONTEXT_KEY: text})


MSG_CONTEXT_KEY = "rujukan_msg"
