"""Keyset positions of the referral list as opaque cursors (signed by `app.cursor`).

A cursor holds the last row's `(sort value, id)`. Its scope binds it to the caller, the
sort order and the filters it was issued for, as a digest: the filters themselves (a NIK
among them) never appear in the cursor. A cursor that was edited, forged, issued to
another client or replayed with another sort or other filters is a 400 `INVALID_CURSOR`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from app.core.cursor import CursorCodec
from app.core.errors import FieldError, ProblemError
from app.referrals.queries import ListSort, SortValue

MAX_CURSOR_LENGTH = 512


@dataclass(frozen=True, slots=True)
class Position:
    """The last row of a page: the next page starts strictly after it."""

    value: SortValue
    id: uuid.UUID


def invalid_cursor() -> ProblemError:
    return ProblemError(
        "INVALID_CURSOR",
        errors=[FieldError("INVALID_CURSOR", "not a cursor of this query", parameter="cursor")],
    )


def cursor_scope(client_id: uuid.UUID, sort: ListSort, canonical_filters: str) -> str:
    digest = hashlib.sha256(f"{client_id}\x1f{canonical_filters}".encode()).hexdigest()
    return f"referrals:{sort.value}:{digest[:32]}"


def encode_cursor(codec: CursorCodec, scope: str, position: Position) -> str:
    return codec.encode(scope, [position.value.isoformat(), str(position.id)])


def decode_cursor(codec: CursorCodec, scope: str, sort: ListSort, token: str) -> Position:
    if len(token) > MAX_CURSOR_LENGTH:
        raise invalid_cursor()
    raw = codec.decode(scope, token)
    try:
        value, ident = raw
        parsed: SortValue = (
            dt.date.fromisoformat(value)
            if sort.column_name == "release_date"
            else dt.datetime.fromisoformat(value)
        )
        return Position(parsed, uuid.UUID(ident))
    except (TypeError, ValueError):  # signed by us, so only a format change gets here
        raise invalid_cursor() from None
