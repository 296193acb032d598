"""Opaque, tamper-proof pagination cursors: JSON, HMAC-signed with a key derived from the
data key, base64url. A cursor names the query it belongs to (`scope`), so one from another
listing or sort order is refused like a forged one (400 INVALID_CURSOR), and so is one
longer than any we issue."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, TypeVar

from app.core.errors import FieldError, ProblemError
from app.core.i18n import msg

T = TypeVar("T")


MAX_CURSOR_LENGTH = 512  # characters; a longer one is no cursor of ours
# What every cursor the service issues looks like (unpadded base64url), for the OpenAPI
# schema of the parameters that carry one; anything else is a 400 `INVALID_CURSOR`.
CURSOR_SCHEMA: dict[str, object] = {
    "minLength": 22,  # the 16-byte tag alone
    "maxLength": MAX_CURSOR_LENGTH,
    "pattern": "^[A-Za-z0-9_-]+$",
}


def _as_is(position: Any) -> Any:
    return position


def invalid_cursor(parameter: str = "cursor") -> ProblemError:
    return ProblemError(
        "INVALID_CURSOR",
        errors=[
            FieldError("INVALID_CURSOR", msg("not a cursor of this query"), parameter=parameter)
        ],
    )


class CursorCodec:
    def __init__(self, key: bytes, *previous: bytes) -> None:
        """Signs with `key`; also accepts cursors signed with a `previous` key."""
        self._key = hashlib.sha256(b"rujukan/cursor/v1" + key).digest()
        self._accepted = [self._key] + [
            hashlib.sha256(b"rujukan/cursor/v1" + k).digest() for k in previous
        ]

    def encode(self, scope: str, position: Any) -> str:
        payload = json.dumps([scope, position], separators=(",", ":")).encode()
        tag = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(tag + payload).decode().rstrip("=")

    def decode(
        self,
        scope: str,
        cursor: str,
        parameter: str = "cursor",
        *,
        read: Callable[[Any], T] = _as_is,
    ) -> T:
        """The position `cursor` holds, as `read` makes it out (TypeError or ValueError:
        it cannot). A cursor longer than `MAX_CURSOR_LENGTH`, not signed with an accepted
        key, of another `scope`, or whose position `read` cannot make out is a 400
        `INVALID_CURSOR` naming the query `parameter` that carried it."""
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise invalid_cursor(parameter)
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise invalid_cursor(parameter) from None
        tag, payload = raw[:16], raw[16:]
        if len(tag) != 16 or not any(
            hmac.compare_digest(tag, hmac.new(k, payload, hashlib.sha256).digest()[:16])
            for k in self._accepted
        ):
            raise invalid_cursor(parameter)
        try:
            found_scope, position = json.loads(payload)
            if found_scope != scope:
                raise ValueError(found_scope)
            # Signed by us: only a change of the position's format fails here.
            return read(position)
        except (ValueError, TypeError):
            raise invalid_cursor(parameter) from None
