"""Field-level encryption at rest (AES-256-GCM) and the keyed blind index for NIK lookup.

Ciphertexts read `v1.<key id>.<base64url(nonce || ciphertext+tag)>`: the key id (first 8
hex digits of SHA-256 of the key) says which key wrote a row, so a key rotation can find
and re-encrypt the rows still under an old key. The blind index is HMAC-SHA256 under a
subkey derived with HKDF, so it never equals a hash an attacker could compute from a NIK
alone, yet equal NIKs still match exactly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _subkey(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key)


class DataCipher:
    def __init__(self, key: bytes, old_keys: list[bytes] | None = None) -> None:
        if len(key) != 32:
            raise ValueError("data key must be 32 bytes")
        self.key_id = key_id(key)
        self._aead = {self.key_id: AESGCM(_subkey(key, b"rujukan/field-encryption/v1"))}
        for old in old_keys or []:
            self._aead.setdefault(key_id(old), AESGCM(_subkey(old, b"rujukan/field-encryption/v1")))
        self._index_key = _subkey(key, b"rujukan/blind-index/v1")
        self._old_index_keys = [_subkey(old, b"rujukan/blind-index/v1") for old in old_keys or []]
        self.cursor_key = _subkey(key, b"rujukan/cursor/v1")
        # Cursors signed before a key rotation stay valid while the old key is configured
        # (feed consumers keep theirs for a long time).
        self.cursor_keys = [self.cursor_key] + [
            _subkey(old, b"rujukan/cursor/v1") for old in old_keys or []
        ]

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> str:
        nonce = os.urandom(12)
        sealed = self._aead[self.key_id].encrypt(nonce, plaintext, associated)
        return f"v1.{self.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, associated: bytes = b"") -> bytes:
        version, kid, payload = token.split(".", 2)
        if version != "v1" or kid not in self._aead:
            raise ValueError("ciphertext under an unknown key")
        raw = base64.urlsafe_b64decode(payload)
        return self._aead[kid].decrypt(raw[:12], raw[12:], associated)

    def encrypt_json(self, value: dict[str, Any], associated: bytes = b"") -> str:
        return self.encrypt(orjson.dumps(value), associated)

    def decrypt_json(self, token: str, associated: bytes = b"") -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.decrypt(token, associated))
        return out

    def blind_index(self, value: str) -> str:
        return hmac.digest(self._index_key, value.encode(), "sha256").hex()

    def blind_indexes(self, value: str) -> list[str]:
        """The index under the current key and under every previous one: during a key
        rotation a row may still carry the old index, and an exact lookup must find it."""
        return [self.blind_index(value)] + [
            hmac.digest(k, value.encode(), "sha256").hex() for k in self._old_index_keys
        ]

    def is_current(self, token: str) -> bool:
        return token.startswith(f"v1.{self.key_id}.")
