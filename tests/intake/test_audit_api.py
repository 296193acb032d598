"""SPEC §8: every event intake writes an audit row, including a request refused as a whole
(a key of another role, a body that is too large, not JSON, or not a batch)."""

from __future__ import annotations

import json

import httpx
import pytest

from app.core.http import MIB
from tests.conftest import ApiClient, Clients
from tests.factories import make_event

ACTION = "release_event.receive"


async def intake_outcomes(
    http: httpx.AsyncClient, auditor: ApiClient, client: ApiClient
) -> list[str]:
    page = await http.get(
        "/v1/audit-events",
        params={"client_id": client.client_id, "action": ACTION},
        headers=auditor.headers,
    )
    assert page.status_code == 200, page.text
    return [item["outcome"] for item in page.json()["items"]]


@pytest.mark.parametrize(
    ("path", "content", "headers", "status", "code"),
    [
        ("/v1/release-events", b'{"event_id": ', {}, 422, "MALFORMED_JSON"),
        ("/v1/release-events", b"x" * (MIB + 1), {}, 413, "PAYLOAD_TOO_LARGE"),
        (
            "/v1/release-events",
            b"{}",
            {"content-type": "text/plain"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        ("/v1/release-events/batch", b'{"events": []}', {}, 422, "VALIDATION_FAILED"),
        ("/v1/release-events/batch", b'{"events": {}}', {}, 422, "VALIDATION_FAILED"),
        ("/v1/release-events/batch", b"[1]", {}, 422, "VALIDATION_FAILED"),
    ],
)
async def test_a_request_refused_as_a_whole_is_audited(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    prison = await clients.prison(facility)
    auditor = await clients.make("auditor")
    response = await http.post(
        path,
        content=content,
        headers={"content-type": "application/json", **prison.headers, **headers},
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert await intake_outcomes(http, auditor, prison) == [code]


async def test_a_key_of_another_role_is_audited(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    kemensos = await clients.make("kemensos")
    auditor = await clients.make("auditor")
    response = await http.post(
        "/v1/release-events",
        content=json.dumps(make_event(facility)),
        headers={"content-type": "application/json", **kemensos.headers},
    )
    assert response.status_code == 403, response.text
    assert await intake_outcomes(http, auditor, kemensos) == ["ROLE_NOT_PERMITTED"]


async def test_an_event_is_audited_once(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """A refused event is audited by intake itself, not a second time as a refused request."""
    prison = await clients.prison(facility)
    auditor = await clients.make("auditor")
    response = await http.post(
        "/v1/release-events",
        json=make_event(facility, pas_categories=[]),
        headers=prison.headers,
    )
    assert response.status_code == 422, response.text
    assert await intake_outcomes(http, auditor, prison) == ["VALIDATION_FAILED"]
