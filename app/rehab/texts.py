"""Free text of the rehabilitation record, sealed under the referral's key
(app/referrals/keys.py; texts written before it under the data key).

Each record keeps its texts as one ciphertext (a JSON object), bound to the record by
associated data (its table and id: a ciphertext copied onto another row does not
decrypt). Erasing them (retention, a consent withdrawal) clears that column; a reader
then sees null texts, and the record's structure stays for the statistics.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.referrals.keys import Sealer, TextErasedError


def associated(kind: str, record_id: uuid.UUID) -> bytes:
    return b"rujukan/rehab/" + kind.encode() + b"/" + record_id.bytes


def seal(cipher: Sealer, kind: str, record_id: uuid.UUID, texts: dict[str, Any]) -> str | None:
    """The ciphertext of `texts` without its null entries; None when nothing is left."""
    kept = {k: v for k, v in texts.items() if v is not None}
    if not kept:
        return None
    return cipher.encrypt_json(kept, associated(kind, record_id))


def open_(cipher: Sealer, kind: str, record_id: uuid.UUID, sealed: str | None) -> dict[str, Any]:
    if sealed is None:
        return {}
    try:
        return cipher.decrypt_json(sealed, associated(kind, record_id))
    except TextErasedError:
        return {}


def seal_text(cipher: Sealer, kind: str, record_id: uuid.UUID, text: str) -> str:
    return cipher.encrypt(text.encode(), associated(kind, record_id))


def open_text(cipher: Sealer, kind: str, record_id: uuid.UUID, sealed: str | None) -> str | None:
    if sealed is None:
        return None
    try:
        return cipher.decrypt(sealed, associated(kind, record_id)).decode()
    except TextErasedError:
        return None
