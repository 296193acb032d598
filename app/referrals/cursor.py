"""Keyset positions of the referral list as opaque cursors (signed by `app.core.cursor`).

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
from typing import Any

from app.core.cursor import CursorCodec
from app.referrals.queries import ListSort, SortValue


@dataclass(frozen=True, slots=True)
class Position:
    """The last row of a page: the next page starts strictly after it."""

    value: SortValue
    id: uuid.UUID


def cursor_scope(client_id: uuid.UUID, sort: ListSort, canonical_filters: str) -> str:
    digest = hashlib.sha256(f"{client_id}\x1f{canonical_filters}".encode()).hexdigest()
    return f"referrals:{sort.value}:{digest[:32]}"


def encode_cursor(codec: CursorCodec, scope: str, position: Position) -> str:
    return codec.encode(scope, [position.value.isoformat(), str(position.id)])


def decode_cursor(codec: CursorCodec, scope: str, sort: ListSort, token: str) -> Position:
    def read(raw: Any) -> Position:
        value, ident = raw
        parsed: SortValue = (
            dt.date.fromisoformat(value)
            if sort.column_name == "release_date"
            else dt.datetime.fromisoformat(value)
        )
        return Position(parsed, uuid.UUID(ident))

    return codec.decode(scope, token, read=read)
