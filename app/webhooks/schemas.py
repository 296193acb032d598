"""Webhook subscriptions, deliveries and the change feed: requests and representations."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from app.core.schemas import ResponseModel, StrictBody, Text500
from app.referrals.domain import ChangeType
from app.webhooks.models import DeliveryStatus, SubscriptionStatus

SUBSCRIPTION_EXAMPLES: dict[str, Any] = {
    "status changes": {
        "summary": "Status changes of the caller's referrals",
        "value": {
            "url": "https://sdp.lapas-cipinang.example/hooks/rujukan",
            "event_types": ["referral.status_changed"],
            "description": "SDP Cipinang",
        },
    }
}

ENABLED_EXAMPLE: dict[str, Any] = {
    "id": "6f1c2f1e-3d0b-4c55-9a51-0d6f3b1f8e2a",
    "url": "https://portal.kemensos.example/hooks/rujukan",
    "event_types": ["referral.created", "referral.status_changed"],
    "description": "Portal Kemensos",
    "status": "active",
    "disabled_reason": None,
    "disabled_at": None,
    "previous_secret_expires_at": None,
    "created_at": "2026-11-20T01:00:00Z",
    "updated_at": "2026-12-03T02:00:00Z",
}

# The webhook target URLs the service accepts, as a pattern clients (and fuzzers) can read:
# http(s), an ASCII host name, IPv4 or bracketed IPv6 address, a port up to 65535, a path of
# printable ASCII, no credentials and no fragment. Whether the host is public is checked
# when subscribing and again at every delivery (app/webhooks/targets.py).
_HEX = "[0-9A-Fa-f]{1,4}"
_BYTE = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"({_BYTE}\.){{3}}{_BYTE}"
_IPV6 = (
    f"(({_HEX}:){{7}}{_HEX}|({_HEX}:){{1,7}}:|({_HEX}:){{1,6}}:{_HEX}"
    f"|({_HEX}:){{1,5}}(:{_HEX}){{1,2}}|({_HEX}:){{1,4}}(:{_HEX}){{1,3}}"
    f"|({_HEX}:){{1,3}}(:{_HEX}){{1,4}}|({_HEX}:){{1,2}}(:{_HEX}){{1,5}}"
    f"|{_HEX}:(:{_HEX}){{1,6}}|:((:{_HEX}){{1,7}}|:)|::([Ff]{{4}}(:0{{1,4}})?:)?{_IPV4}"
    f"|({_HEX}:){{1,4}}:{_IPV4})"
)
_PORT = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
TARGET_URL = rf"^https?://([A-Za-z0-9.-]+|\[{_IPV6}\])(:{_PORT})?(/[!\"$-~]*)?$"


class SubscriptionCreate(StrictBody):
    url: str = Field(
        min_length=1,
        max_length=2048,
        pattern=TARGET_URL,
        description="https (or http) endpoint on a public address; loopback, private and "
        "link-local targets are refused unless `RUJUKAN_WEBHOOK_ALLOW_PRIVATE=true`. "
        "The host is an ASCII name (IDNA-encoded) or an IP address; no credentials, no "
        "fragment.",
    )
    # strict=False: FastAPI validates parsed JSON in Python mode (see StrictBody).
    event_types: list[Annotated[ChangeType, Field(strict=False)]] = Field(
        min_length=1,
        max_length=len(ChangeType),
        json_schema_extra={"uniqueItems": True},
        description="The event types to receive (SPEC §7), each at most once.",
    )
    description: Text500 | None = None


class SubscriptionOut(ResponseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    status: Literal[SubscriptionStatus.active, SubscriptionStatus.disabled] = Field(
        description="`disabled` after a 410 from the endpoint (`disabled_reason = gone`) or "
        "when a delivery kept failing for the whole retry window (`retries_exhausted`)."
    )
    disabled_reason: str | None
    disabled_at: dt.datetime | None
    previous_secret_expires_at: dt.datetime | None = Field(
        description="While set and in the future, deliveries carry a second signature made "
        "with the previous secret."
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="`whsec_` + standard base64 of 32 random bytes; the HMAC key is the "
        "decoded bytes. Shown only in this response."
    )


class SecretRotated(ResponseModel):
    id: uuid.UUID
    secret: str = Field(description="The new secret, shown only in this response.")
    previous_secret_expires_at: dt.datetime | None = Field(
        description="Until then deliveries are signed with both the new and the old secret."
    )


class DeliveryOut(ResponseModel):
    id: uuid.UUID
    subscription_id: uuid.UUID
    webhook_id: uuid.UUID = Field(description="The CloudEvent id; `webhook-id` on every attempt.")
    event_type: str
    referral_id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None = Field(description="Set while `pending`.")
    last_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None = Field(
        description="`http_status`, `timeout`, `connect_error`, `network_error`, "
        "`private_address`, `gone`, `retries_exhausted`, `subscription_disabled` or "
        "`not_readable` (the subscriber may no longer read the referral: `cancelled`)."
    )
    delivered_at: dt.datetime | None
    created_at: dt.datetime


class DeliveryPage(ResponseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class EventData(ResponseModel):
    """Thin: ids and statuses, never personal data. An event about a record also carries
    that record's id (`appointment_id`, `note_id`, `follow_up_id`, ...)."""

    model_config = ConfigDict(from_attributes=True, extra="allow")

    referral_id: uuid.UUID
    status: str
    previous_status: str | None
    # Defaults: events written before these two fields existed (kept for the retention
    # period) lack them, and the feed must still serve them.
    outcome: str | None = Field(
        default=None, description="The referral's outcome: null unless `closed`."
    )
    custody_status: str
    responsible_agency: Literal["imipas", "kemensos"] | None = Field(
        default=None,
        description="`imipas` or `kemensos` on the local day of the event (RUJUKAN_TIMEZONE), "
        "as the referral's detail showed it then; null only in events written before this "
        "field was added.",
    )
    version: int
    occurred_at: str


class CloudEvent(ResponseModel):
    """A structured CloudEvent 1.0; the same document is the webhook body."""

    specversion: Literal["1.0"]
    id: str
    source: str = Field(description="`/v1/referrals`; `source` + `/` + `subject` is the path.")
    type: ChangeType
    time: str = Field(description="RFC 3339")
    subject: str = Field(description="The referral id.")
    datacontenttype: Literal["application/json"]
    data: EventData


class FeedPage(ResponseModel):
    items: list[CloudEvent]
    next_cursor: str = Field(
        description="Never null: pass it back as `after`. An empty page means no newer "
        "committed event yet; poll again later with the same cursor."
    )
