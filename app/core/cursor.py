"""Opaque, tamper-proof pagination cursors: JSON, HMAC-signed with a key derived from the
data key, base64url. A cursor names the query it belongs to (`scope`), so one from another
listing or sort order is refused like a forged one (400 INVALID_CURSOR)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from app.core.errors import FieldError, ProblemError


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

    def decode(self, scope: str, cursor: str, parameter: str = "cursor") -> Any:
        invalid = ProblemError(
            "INVALID_CURSOR",
            errors=[
                FieldError("INVALID_CURSOR", "not a cursor of this query", parameter=parameter)
            ],
        )
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise invalid from None
        tag, payload = raw[:16], raw[16:]
        if len(tag) != 16 or not any(
            hmac.compare_digest(tag, hmac.new(k, payload, hashlib.sha256).digest()[:16])
            for k in self._accepted
        ):
            raise invalid
        try:
            found_scope, position = json.loads(payload)
        except (ValueError, TypeError):
            raise invalid from None
        if found_scope != scope:
            raise invalid
        return position
