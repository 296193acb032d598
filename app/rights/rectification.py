"""Rectification at the source (SPEC §12), the pure part: which fields a request may name,
which fields an applied event changed, and what is still pending."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from app.core.errors import FieldError
from app.core.i18n import msg
from app.referrals.records import CASE_FIELDS

# A JSON pointer into the detail's case data: `/person/phone`, `/release/date`,
# `/in_custody_programmes/0/name`.
_POINTER = re.compile(r"(/[a-z0-9_]{1,64}){1,6}")


def pointer_errors(fields: Iterable[str]) -> list[FieldError]:
    errors = []
    for n, pointer in enumerate(fields):
        if not _POINTER.fullmatch(pointer) or pointer.split("/")[1] not in CASE_FIELDS:
            errors.append(
                FieldError(
                    "INVALID_VALUE",
                    msg(
                        "a JSON pointer into the case data: its first part one of {fields}",
                        fields=", ".join(CASE_FIELDS),
                    ),
                    pointer=f"/fields/{n}",
                )
            )
    return errors


def changed_pointers(old: Any, new: Any, at: str = "") -> set[str]:
    """Where `new` differs from `old`: the deepest pointers at which they differ (a list
    of another length, or a value of another type, is changed as a whole)."""
    if old == new:
        return set()
    if isinstance(old, dict) and isinstance(new, dict):
        out: set[str] = set()
        for key in old.keys() | new.keys():
            out |= changed_pointers(old.get(key), new.get(key), f"{at}/{key}")
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = set()
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            out |= changed_pointers(a, b, f"{at}/{index}")
        return out
    return {at}


def touches(requested: str, changed: Iterable[str]) -> bool:
    """A change at, inside or above the requested pointer changes that field."""
    return any(
        c == requested or c.startswith(requested + "/") or requested.startswith(c + "/")
        for c in changed
    )


def still_pending(pending: Iterable[str], changed: set[str]) -> list[str]:
    return [p for p in pending if not touches(p, changed)]
