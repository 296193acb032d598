"""Standard Webhooks signatures (the `standardwebhooks` package) and subscription secrets."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

from app.core.crypto import DataCipher

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
USER_AGENT = "Rujukan-Webhooks/1"


def new_secret() -> str:
    """`whsec_` + standard base64 of 32 random bytes; the HMAC key is the decoded bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def _associated(subscription_id: uuid.UUID) -> bytes:
    # Binds a ciphertext to its subscription: a secret copied to another row does not decrypt.
    return b"rujukan/webhook-secret/" + subscription_id.bytes


def seal_secret(cipher: DataCipher, subscription_id: uuid.UUID, secret: str) -> str:
    return cipher.encrypt(secret.encode(), _associated(subscription_id))


def open_secret(cipher: DataCipher, subscription_id: uuid.UUID, sealed: str) -> str:
    return cipher.decrypt(sealed, _associated(subscription_id)).decode()


def signed_headers(
    secrets: Sequence[str], webhook_id: str, body: str, at: datetime
) -> dict[str, str]:
    """The Standard Webhooks headers; one `v1,` signature per secret (two during rotation)."""
    at = at.astimezone(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(Webhook(s).sign(webhook_id, at, body) for s in secrets),
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
    }
