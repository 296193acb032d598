"""The 1 MiB body limit on every route besides intake (SPEC §1): 413 `PAYLOAD_TOO_LARGE`,
announced or streamed, before anything is read into a model or written. Intake enforces
its own limits after authentication (tests/core/test_malformed_input.py, test_intake_batch).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.models import Client
from app.core.middleware import SECURITY_HEADERS
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.support.checks import assert_problem
from tests.support.referrals import etag, new_referral

MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


def padded(body: Any, size: int) -> bytes:
    """`body` as JSON followed by whitespace up to exactly `size` bytes (still valid JSON)."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


async def chunked(data: bytes) -> AsyncIterator[bytes]:
    """No Content-Length: the body arrives in 64 KiB pieces."""
    for start in range(0, len(data), 64 * 1024):
        yield data[start : start + 64 * 1024]


def sentra_body(code: str | None = None) -> dict[str, Any]:
    return {
        "code": code or f"SZ-{uuid.uuid4().hex[:6].upper()}",
        "name": "Sentra Uji",
        "province_code": "31",
        "regency_code": "3171",
        "coverage_regency_codes": ["3171"],
        "active": True,
    }


def assert_too_large(response: httpx.Response, request_id: str) -> None:
    body = assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["request_id"] == request_id
    assert body["detail"] == "The body is limited to 1 MiB."
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "Content-Security-Policy" in response.headers


async def client_count(services: Runtime) -> int:
    async with services.db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(Client)) or 0)


@pytest.fixture
async def admin(clients: Clients) -> ApiClient:
    return await clients.make("admin")


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_oversized_client_create_is_413_and_creates_nothing(
    http: httpx.AsyncClient, services: Runtime, admin: ApiClient, streamed: bool
) -> None:
    before = await client_count(services)
    data = padded({"name": "besar", "role": "kemensos"}, 2 * MIB)
    response = await http.post(
        "/v1/clients",
        content=chunked(data) if streamed else data,
        headers={**admin.headers, **JSON, "X-Request-ID": "big-client-1"},
    )
    assert_too_large(response, "big-client-1")
    assert await client_count(services) == before


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_oversized_transition_is_413_and_changes_nothing(
    http: httpx.AsyncClient, clients: Clients, facility: str, streamed: bool
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    referral_id = await new_referral(http, prison, facility)
    tag = await etag(http, kemensos, referral_id)
    data = padded({"action": "accept"}, MIB + 1)
    response = await http.post(
        f"/v1/referrals/{referral_id}/transitions",
        content=chunked(data) if streamed else data,
        headers={**kemensos.headers, **JSON, "If-Match": tag, "X-Request-ID": "big-move"},
    )
    assert_too_large(response, "big-move")
    assert await etag(http, kemensos, referral_id) == tag  # not moved


async def test_transition_body_of_exactly_one_mib_is_read(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    referral_id = await new_referral(http, prison, facility)
    tag = await etag(http, kemensos, referral_id)
    response = await http.post(
        f"/v1/referrals/{referral_id}/transitions",
        content=padded({"action": "accept"}, MIB),
        headers={**kemensos.headers, **JSON, "If-Match": tag},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_oversized_webhook_subscription_is_413(
    http: httpx.AsyncClient, clients: Clients, facility: str, streamed: bool
) -> None:
    prison = await clients.prison(facility)
    data = padded(
        {"url": "https://hooks.rujukan.test/big", "event_types": ["referral.created"]}, 2 * MIB
    )
    response = await http.post(
        "/v1/webhook-subscriptions",
        content=chunked(data) if streamed else data,
        headers={**prison.headers, **JSON, "X-Request-ID": "big-sub"},
    )
    assert_too_large(response, "big-sub")
    listed = await http.get("/v1/webhook-subscriptions", headers=prison.headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_oversized_sentra_post_and_put_are_413(
    http: httpx.AsyncClient, clients: Clients, streamed: bool
) -> None:
    kemensos = await clients.kemensos()
    body = sentra_body()
    data = padded(body, 2 * MIB)
    created = await http.post(
        "/v1/sentra",
        content=chunked(data) if streamed else data,
        headers={**kemensos.headers, **JSON, "X-Request-ID": "big-sentra"},
    )
    assert_too_large(created, "big-sentra")
    code = body["code"]
    assert (await http.get(f"/v1/sentra/{code}", headers=kemensos.headers)).status_code == 404
    ok = await http.post("/v1/sentra", json=body, headers=kemensos.headers)
    assert ok.status_code == 201, ok.text
    replaced = await http.put(
        f"/v1/sentra/{code}",
        content=chunked(data) if streamed else data,
        headers={**kemensos.headers, **JSON, "X-Request-ID": "big-put"},
    )
    assert_too_large(replaced, "big-put")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/clients/{uuid}/rotate-key"),
        ("DELETE", "/v1/clients/{uuid}"),
        ("POST", "/v1/webhook-deliveries/{uuid}/redeliver"),
        ("POST", "/v1/webhook-subscriptions/{uuid}/rotate-secret"),
        ("GET", "/v1/referrals"),
        ("POST", "/v1/nowhere"),
    ],
)
async def test_an_announced_oversized_body_is_413_on_any_route(
    http: httpx.AsyncClient, admin: ApiClient, method: str, path: str
) -> None:
    """Even where the route reads no body: the Content-Length alone is refused, at once."""
    response = await http.request(
        method,
        path.format(uuid=uuid.uuid4()),
        content=b" " * (2 * MIB),
        headers={**admin.headers, **JSON, "X-Request-ID": "big-any"},
    )
    assert_too_large(response, "big-any")


async def test_an_announced_oversized_body_is_413_before_authentication(
    http: httpx.AsyncClient,
) -> None:
    """Outside intake the size is checked first: nothing of the body is read to find out."""
    response = await http.post(
        "/v1/clients", content=b" " * (MIB + 1), headers={**JSON, "X-Request-ID": "anon-big"}
    )
    assert_too_large(response, "anon-big")


async def test_a_lying_content_length_is_not_trusted(
    http: httpx.AsyncClient, services: Runtime, admin: ApiClient
) -> None:
    before = await client_count(services)
    data = padded({"name": "lying", "role": "kemensos"}, 2 * MIB)

    async def once() -> AsyncIterator[bytes]:
        yield data

    response = await http.post(
        "/v1/clients",
        content=once(),
        headers={**admin.headers, **JSON, "Content-Length": "100", "X-Request-ID": "liar"},
    )
    assert_too_large(response, "liar")
    assert await client_count(services) == before


async def test_intake_keeps_its_own_limits_and_order(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """401 before 413 on intake; the batch still takes more than 1 MiB."""
    unauthenticated = await http.post("/v1/release-events", content=b" " * (2 * MIB), headers=JSON)
    assert_problem(unauthenticated, 401, "UNAUTHENTICATED")
    prison = await clients.prison(facility)
    batch = await http.post(
        "/v1/release-events/batch",
        content=padded({"events": []}, 2 * MIB),
        headers={**prison.headers, **JSON},
    )
    assert_problem(batch, 422, "VALIDATION_FAILED")
