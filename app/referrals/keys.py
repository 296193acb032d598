"""Each referral's own key for the free text about the person (SPEC §12).

Free text — transition notes, the rehabilitation record's notes, summaries and
descriptions, follow-up notes, rectification details — is sealed under a key of its
referral, itself wrapped by the data key. Erasure (a consent withdrawal, retention)
deletes that key: every text sealed under it is unreadable wherever it lies, append-only
rows included, without touching them.

Texts written before this key existed were sealed under the data key (`v1.` tokens), or
were plain text (transition notes, rectification details: migration 0008 marked them
`p0.` and moved the notes here); they still open, erasure removes them like every other,
and `rujukan keys rotate` seals the plain ones under their referral's key.
"""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any, Protocol

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.crypto import DataCipher
from app.core.db import insert_or_skip
from app.core.errors import ProblemError
from app.core.i18n import msg
from app.referrals.models import Referral, ReferralKey, ReferralText

PREFIX = "r1."
PLAIN = "p0."  # legacy plain text (written before migration 0008), sealed by `keys rotate`


class TextErasedError(Exception):
    """The text was sealed under a referral key that erasure destroyed."""


class Sealer(Protocol):
    """What seals and opens free text: the data key (legacy texts) or a referral's key."""

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> str: ...

    def decrypt(self, token: str, associated: bytes = b"") -> bytes: ...

    def encrypt_json(self, value: dict[str, Any], associated: bytes = b"") -> str: ...

    def decrypt_json(self, token: str, associated: bytes = b"") -> dict[str, Any]: ...


def _wrap_associated(referral_id: uuid.UUID) -> bytes:
    return b"rujukan/referral-key/" + referral_id.bytes


class TextCipher:
    """Seals under the referral's key (`r1.` tokens); opens those and the data key's.
    Without a key (erased) it seals nothing and opens no `r1.` token."""

    def __init__(self, data: DataCipher, key: bytes | None) -> None:
        self._data = data
        self._aead = AESGCM(key) if key is not None else None

    @property
    def erased(self) -> bool:
        return self._aead is None

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> str:
        if self._aead is None:
            raise TextErasedError
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, associated)
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, associated: bytes = b"") -> bytes:
        if token.startswith(PLAIN):
            return token[len(PLAIN) :].encode()
        if not token.startswith(PREFIX):
            return self._data.decrypt(token, associated)
        if self._aead is None:
            raise TextErasedError
        raw = base64.urlsafe_b64decode(token[len(PREFIX) :])
        return self._aead.decrypt(raw[:12], raw[12:], associated)

    def encrypt_json(self, value: dict[str, Any], associated: bytes = b"") -> str:
        return self.encrypt(orjson.dumps(value), associated)

    def decrypt_json(self, token: str, associated: bytes = b"") -> dict[str, Any]:
        out: dict[str, Any] = orjson.loads(self.decrypt(token, associated))
        return out


def refuse_if_erased(referral: Referral) -> None:
    """Nothing more is written about a person who withdrew consent, nor about an
    anonymised referral: 409 `REFERRAL_ENDED`."""
    if referral.consent_withdrawn_at is not None:
        raise ProblemError(
            "REFERRAL_ENDED",
            msg("The person withdrew consent: nothing more is recorded about them here."),
        )
    if referral.anonymised_at is not None:
        raise ProblemError(
            "REFERRAL_ENDED",
            msg("The referral was anonymised: nothing more is recorded about the person here."),
        )


def cipher_of(data: DataCipher, referral_id: uuid.UUID, wrapped: str | None) -> TextCipher:
    """The cipher of a referral whose wrapped key the caller has read (null: none)."""
    key = data.decrypt(wrapped, _wrap_associated(referral_id)) if wrapped is not None else None
    return TextCipher(data, key)


async def text_cipher(
    session: AsyncSession, data: DataCipher, referral_id: uuid.UUID, *, create: bool = False
) -> TextCipher:
    """The cipher of the referral's free text; `create` makes its key when it has none (a
    writer: the caller has checked that the referral may still take free text)."""
    wrapped = await session.scalar(
        select(ReferralKey.wrapped).where(ReferralKey.referral_id == referral_id)
    )
    if wrapped is None and create:
        fresh = data.encrypt(os.urandom(32), _wrap_associated(referral_id))
        # Two writers of one referral may race to make its key: one wins, both use it.
        await session.execute(
            insert_or_skip(session, ReferralKey.__table__, "referral_id"),  # type: ignore[arg-type]
            {"referral_id": referral_id, "wrapped": fresh},
        )
        wrapped = await session.scalar(
            select(ReferralKey.wrapped).where(ReferralKey.referral_id == referral_id)
        )
    return cipher_of(data, referral_id, wrapped)


def _text_associated(text_id: uuid.UUID) -> bytes:
    return b"rujukan/referral-text/" + text_id.bytes


async def put_text(
    session: AsyncSession, cipher: TextCipher, referral_id: uuid.UUID, text: str
) -> uuid.UUID:
    """Keep `text` in `referral_texts`, sealed: the id an append-only row refers to it by."""
    text_id = uuid.uuid4()
    sealed = cipher.encrypt(text.encode(), _text_associated(text_id))
    session.add(ReferralText(id=text_id, referral_id=referral_id, sealed=sealed))
    return text_id


async def open_texts(
    session: AsyncSession, data: DataCipher, referral_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Every kept text of these referrals that can still be opened, by id."""
    if not referral_ids:
        return {}
    rows = (
        await session.execute(
            select(ReferralText.id, ReferralText.referral_id, ReferralText.sealed).where(
                ReferralText.referral_id.in_(referral_ids)
            )
        )
    ).all()
    ciphers: dict[uuid.UUID, TextCipher] = {}
    out: dict[uuid.UUID, str] = {}
    for text_id, referral_id, sealed in rows:
        if referral_id not in ciphers:
            ciphers[referral_id] = await text_cipher(session, data, referral_id)
        try:
            out[text_id] = ciphers[referral_id].decrypt(sealed, _text_associated(text_id)).decode()
        except TextErasedError:
            continue
    return out


async def rewrap(session: AsyncSession, data: DataCipher, batch: int) -> int:
    """Re-wrap up to `batch` referral keys still under a previous data key (`rujukan keys
    rotate`); how many (0: none left, bar rows a request held)."""
    rows = (
        await session.execute(
            select(ReferralKey)
            .where(ReferralKey.wrapped.not_like(f"v1.{data.key_id}.%"))
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    ).scalars()
    changed = 0
    for row in rows:
        associated = _wrap_associated(row.referral_id)
        row.wrapped = data.encrypt(data.decrypt(row.wrapped, associated), associated)
        changed += 1
    return changed


async def seal_plain(session: AsyncSession, data: DataCipher, batch: int) -> int:
    """Seal up to `batch` kept texts still plain (`p0.`, from before migration 0008) under
    their referral's key (`rujukan keys rotate`); how many."""
    rows = (
        await session.execute(
            select(ReferralText)
            .where(ReferralText.sealed.like(PLAIN + "%"))
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    ).scalars()
    changed = 0
    for row in rows:
        cipher = await text_cipher(session, data, row.referral_id, create=True)
        row.sealed = cipher.encrypt(cipher.decrypt(row.sealed), _text_associated(row.id))
        changed += 1
    return changed


async def destroy(session: AsyncSession, referral_ids: list[uuid.UUID]) -> None:
    """Delete the keys, and the kept texts with them: what was sealed under the keys can
    no longer be opened, and the ciphertexts of append-only rows' texts are gone too."""
    if referral_ids:
        await session.execute(
            delete(ReferralText).where(ReferralText.referral_id.in_(referral_ids))
        )
        await session.execute(delete(ReferralKey).where(ReferralKey.referral_id.in_(referral_ids)))
