"""The 503 mapping through the whole app: a database that refuses connections, errors that
must stay 500, and recovery from terminated connections, pinged (idle) or not (in use)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from app.core import db as db_module
from app.core.config import Settings
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import TEST_AUDIT_KEY, TEST_DATA_KEY, Clients
from tests.factories import make_event
from tests.faults.conftest import FaultDatabase
from tests.faults.support import FACILITY
from tests.ops.server import free_port


def pg_settings(url: str) -> Settings:
    return Settings(
        database_url=url,
        data_key=TEST_DATA_KEY,
        audit_signing_key=TEST_AUDIT_KEY,
        rate_limit_per_second=100_000,
        rate_limit_burst=100_000,
        run_worker_in_process=False,
    )


async def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://rujukan.test")


def assert_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["x-request-id"]
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE" and body["status"] == 503
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text and "asyncpg" not in response.text


@pytest.fixture
async def refused_app() -> AsyncIterator[FastAPI]:
    """The app on a PostgreSQL URL where nothing listens (connection refused)."""
    services = build_runtime(
        pg_settings(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x")
    )
    app = create_app(services.settings, runtime=services)

    def raising(error: Exception) -> Callable[[], Coroutine[Any, Any, None]]:
        async def endpoint() -> None:
            raise error

        return endpoint

    # Routes of this test's own app instance: what a handler may raise, mapped.
    app.add_api_route("/test/reset", raising(ConnectionResetError()))
    app.add_api_route(
        "/test/integrity", raising(sa_exc.IntegrityError("INSERT", {}, Exception("duplicate")))
    )
    app.add_api_route("/test/bug", raising(ValueError("bug")))
    yield app
    await services.db.dispose()


async def test_a_refused_database_answers_503_with_retry_after(refused_app: FastAPI) -> None:
    async with await asgi_client(refused_app) as http:
        headers = {"Authorization": "Bearer rjk_" + "x" * 40}
        assert_503(await http.get("/v1/reference/pas-categories", headers=headers))
        assert_503(await http.post("/v1/release-events", json=make_event(), headers=headers))
        assert_503(await http.get("/readyz"))
        assert (await http.get("/healthz")).status_code == 200
        assert_503(await http.get("/test/reset"))


async def test_other_errors_stay_500_without_retry_after(refused_app: FastAPI) -> None:
    async with await asgi_client(refused_app) as http:
        for path in ("/test/integrity", "/test/bug"):
            response = await http.get(path)
            assert response.status_code == 500, response.text
            assert response.json()["code"] == "INTERNAL_ERROR"
            assert "retry-after" not in response.headers


@pytest.mark.parametrize("idle_ping_seconds", [3600.0, 0.0])
async def test_terminated_connections_recover(
    fault_db: FaultDatabase, monkeypatch: pytest.MonkeyPatch, idle_ping_seconds: float
) -> None:
    """Backends terminated between bursts. Connections in steady use (no ping) are found
    dead by their first use (a 503), dropped with the pool's older ones, and replaced;
    connections idle past the threshold are pinged, so the dead ones are replaced unseen."""
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", idle_ping_seconds)
    services = build_runtime(pg_settings(fault_db.url))
    app = create_app(services.settings, runtime=services)
    try:
        prison = await Clients(services).prison(FACILITY)
        async with await asgi_client(app) as http:

            async def burst() -> list[int]:
                statuses = []
                for _ in range(3):
                    responses = [
                        await http.post(
                            "/v1/release-events", json=make_event(FACILITY), headers=prison.headers
                        )
                        for _ in range(4)
                    ]
                    for response in responses:
                        if response.status_code != 201:
                            assert_503(response)
                    statuses += [r.status_code for r in responses]
                return statuses

            assert set(await burst()) == {201}
            for _ in range(3):
                assert await fault_db.cluster.terminate_backends(fault_db.name) > 0
                after = await burst()
                if idle_ping_seconds:
                    # The first use of a dead connection fails (no ping found it), then no more.
                    assert 1 <= Counter(after)[503] <= 2, after
                else:
                    assert Counter(after)[503] == 0, after
                assert after[-6:] == [201] * 6, after
    finally:
        await services.db.dispose()
