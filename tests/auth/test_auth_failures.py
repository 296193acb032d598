"""Failed authentications are rate-limited per source address (SPEC §1): past the burst an
address gets 429 with `Retry-After` before its key costs a database lookup; keys this
process already knows still pass; other addresses are not affected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event as sqlalchemy_event

from app.auth.service import principal_cache
from app.core.config import Settings
from app.core.ratelimit import RateLimiter
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import Clients
from tests.support.checks import assert_problem

PATH = "/v1/reference/release-types"
BAD = {"Authorization": "Bearer rjk_not-a-key-of-anyone"}


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Any]:
    own = Settings.model_validate(
        settings.model_dump() | {"auth_failures_per_second": 0.001, "auth_failure_burst": 3}
    )
    app = create_app(own, runtime=build_runtime(own))
    yield app
    await app.state.db.dispose()


def client_from(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://limited.test")


async def test_an_address_that_keeps_failing_gets_429_without_a_lookup(
    limited: Any, clients: Clients
) -> None:
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    engine = limited.state.db.engine.sync_engine
    async with client_from(limited, "203.0.113.7") as client:
        for headers in (BAD, {}, {"Authorization": "Basic eDp5"}):
            assert_problem(await client.get(PATH, headers=headers), 401, "UNAUTHENTICATED")
        sqlalchemy_event.listen(engine, "before_cursor_execute", count)
        try:
            for _ in range(20):
                refused = await client.get(PATH, headers=BAD)
                assert_problem(refused, 429, "RATE_LIMITED")
                assert int(refused.headers["Retry-After"]) >= 1
        finally:
            sqlalchemy_event.remove(engine, "before_cursor_execute", count)
        assert statements == 0
        # A key not yet known here waits too: telling it apart would cost the lookup.
        fresh = await clients.kemensos()
        principal_cache.clear()
        assert (await client.get(PATH, headers=fresh.headers)).status_code == 429
    async with client_from(limited, "198.51.100.9") as elsewhere:
        assert (await elsewhere.get(PATH, headers=fresh.headers)).status_code == 200
        assert_problem(await elsewhere.get(PATH, headers=BAD), 401, "UNAUTHENTICATED")
    async with client_from(limited, "203.0.113.7") as client:
        # Now known (cached) to this process: it passes from the blocked address too.
        assert (await client.get(PATH, headers=fresh.headers)).status_code == 200


async def test_successful_authentications_cost_no_failure_budget(
    limited: Any, clients: Clients
) -> None:
    kemensos = await clients.kemensos()
    async with client_from(limited, "192.0.2.1") as client:
        for _ in range(10):
            assert (await client.get(PATH, headers=kemensos.headers)).status_code == 200
        for _ in range(3):
            assert (await client.get(PATH, headers=BAD)).status_code == 401
        assert (await client.get(PATH, headers=BAD)).status_code == 429


def test_buckets_forget_addresses_once_full_again() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=2, clock=lambda: now[0])
    for address in range(1000):
        limiter.acquire(address)
    assert limiter.wait(5) is None
    now[0] = 10.0
    limiter.acquire("late")
    assert len(limiter._buckets) == 1  # the others expired: full buckets are not kept
