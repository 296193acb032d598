"""Helpers for referral tests through HTTP: post events, read ETags, drive the lifecycle."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import ApiClient
from tests.factories import make_event

# What each action needs to be valid (SPEC §4), besides `sentra_code` for assign.
VALID_BODY: dict[str, dict[str, Any]] = {
    "accept": {},
    "reject": {"reason_code": "not_eligible"},
    "assign": {},
    "return": {"reason_code": "no_capacity"},
    "start_service": {},
    "hold": {"reason_code": "hospitalised"},
    "resume": {},
    # `completed` needs the end-of-service report (SPEC §10); no plan: a summary will do.
    "close": {"outcome": "completed", "report": {"summary": "Layanan selesai."}},
    "cancel": {"reason_code": "entered_in_error"},
}


def sentra_code() -> str:
    return f"S-{uuid.uuid4().hex[:6].upper()}"


async def post_event(http: httpx.AsyncClient, prison: ApiClient, event: dict[str, Any]) -> str:
    response = await http.post("/v1/release-events", json=event, headers=prison.headers)
    assert response.status_code in (200, 201), response.text
    referral_id: str = response.json()["referral"]["id"]
    return referral_id


async def new_referral(
    http: httpx.AsyncClient, prison: ApiClient, facility: str, **event: Any
) -> str:
    return await post_event(http, prison, make_event(facility, **event))


async def etag(http: httpx.AsyncClient, client: ApiClient, referral_id: str) -> str:
    response = await http.get(f"/v1/referrals/{referral_id}", headers=client.headers)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


async def act(
    http: httpx.AsyncClient,
    client: ApiClient,
    referral_id: str,
    action: str,
    *,
    if_match: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    """POST a transition with a valid body for `action` (plus `fields`), If-Match current."""
    tag = if_match if if_match is not None else await etag(http, client, referral_id)
    body = {"action": action, **VALID_BODY[action], **fields}
    return await http.post(
        f"/v1/referrals/{referral_id}/transitions",
        json=body,
        headers={**client.headers, "If-Match": tag, **(headers or {})},
    )


async def drive(
    http: httpx.AsyncClient,
    kemensos: ApiClient,
    referral_id: str,
    steps: list[str],
    sentra: str | None = None,
) -> dict[str, Any]:
    """Take `steps` as Kemensos; each must succeed. Returns the last detail."""
    body: dict[str, Any] = {}
    for step in steps:
        fields = {"sentra_code": sentra} if step == "assign" else {}
        response = await act(http, kemensos, referral_id, step, **fields)
        assert response.status_code == 200, (step, response.text)
        body = response.json()
    return body


# A path from `received` to each state (Kemensos acting; `assign` uses the sentra given).
PATHS: dict[str, list[str]] = {
    "received": [],
    "accepted": ["accept"],
    "assigned": ["accept", "assign"],
    "in_service": ["accept", "assign", "start_service"],
    "on_hold": ["accept", "assign", "start_service", "hold"],
    "closed": ["accept", "assign", "start_service", "close"],
    "rejected": ["reject"],
    "cancelled": ["cancel"],
}


async def referral_in(
    http: httpx.AsyncClient,
    prison: ApiClient,
    kemensos: ApiClient,
    facility: str,
    state: str,
    sentra: str,
    **event: Any,
) -> str:
    referral_id = await new_referral(http, prison, facility, **event)
    await drive(http, kemensos, referral_id, PATHS[state], sentra)
    return referral_id
