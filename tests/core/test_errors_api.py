"""SPEC §1 error conventions outside the intake rules: unknown routes, wrong methods, and
unexpected exceptions (a 500 problem, never a stack trace)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from app.runtime import Runtime, build_runtime
from tests.conftest import Clients
from tests.livesrv import live_server
from tests.support.checks import assert_problem

PROBLEM_JSON = "application/problem+json"
SECRET = "s3cr3t-detail-3171011203850001"


# -- 404 and 405 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/nope", "/v1/release-events/nope", "/nope", "/v2/release-events", "/v1/"]
)
@pytest.mark.parametrize("authenticated", [False, True])
async def test_unknown_route_is_404_problem(
    http: httpx.AsyncClient, clients: Clients, path: str, authenticated: bool
) -> None:
    headers = (await clients.kemensos()).headers if authenticated else {}
    response = await http.get(path, headers=headers)
    body = assert_problem(response, 404, "NOT_FOUND")
    assert "errors" not in body


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/release-events", {"POST"}),
        ("PUT", "/v1/release-events", {"POST"}),
        ("DELETE", "/v1/release-events", {"POST"}),
        ("PATCH", "/v1/release-events/batch", {"POST"}),
        ("GET", "/v1/release-events/batch", {"POST"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
async def test_wrong_method_is_405_with_allow(
    http: httpx.AsyncClient, clients: Clients, method: str, path: str, allowed: set[str]
) -> None:
    prison = await clients.prison("LP-ANY")
    response = await http.request(method, path, headers=prison.headers)
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allow - {"HEAD"} == allowed


async def test_wrong_method_needs_no_authentication(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/release-events")
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "POST"


async def test_request_id_is_echoed_on_404_and_405(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/nope", headers={"X-Request-ID": "trace-404"})
    assert assert_problem(response, 404, "NOT_FOUND")["request_id"] == "trace-404"
    response = await http.get("/v1/release-events", headers={"X-Request-ID": "trace-405"})
    assert assert_problem(response, 405, "METHOD_NOT_ALLOWED")["request_id"] == "trace-405"


# -- 500 -----------------------------------------------------------------------------------


def app_with_failing_routes(settings: Settings, services: Runtime) -> FastAPI:
    """A fresh app (never the shared one) with test-only routes that raise."""
    app = create_app(settings, runtime=services)

    @app.get("/test-only/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError(SECRET)

    @app.get("/test-only/boom-sync")
    def boom_sync() -> dict[str, str]:
        raise KeyError(SECRET)

    @app.post("/test-only/boom-after-body")
    async def boom_after_body(payload: dict[str, Any]) -> dict[str, str]:
        raise ZeroDivisionError(SECRET + str(payload))

    return app


@pytest.fixture
async def failing(settings: Settings, services: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = app_with_failing_routes(settings, services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://rujukan.test") as client:
        yield client


def assert_internal_error(response: httpx.Response) -> None:
    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert "errors" not in body
    text = response.text
    for leak in (SECRET, "Traceback", "RuntimeError", "KeyError", "ZeroDivisionError", ".py"):
        assert leak not in text
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/test-only/boom", "/test-only/boom-sync"])
async def test_unexpected_exception_is_500_problem_without_traceback(
    failing: httpx.AsyncClient, path: str
) -> None:
    response = await failing.get(path, headers={"X-Request-ID": "trace-500"})
    assert_internal_error(response)
    assert response.headers["X-Request-ID"] == "trace-500"


async def test_unexpected_exception_after_reading_the_body(failing: httpx.AsyncClient) -> None:
    response = await failing.post("/test-only/boom-after-body", json={"nik": "3171011203850001"})
    assert_internal_error(response)
    assert "3171011203850001" not in response.text


async def test_the_shared_app_has_no_test_routes(http: httpx.AsyncClient) -> None:
    assert_problem(await http.get("/test-only/boom"), 404, "NOT_FOUND")


async def test_unexpected_exception_over_real_http(settings: Settings, services: Runtime) -> None:
    """Through uvicorn: the 500 problem is what goes on the wire, and the server lives on."""
    async with (
        live_server(
            settings,
            app_factory=lambda: app_with_failing_routes(settings, services_for_thread(settings)),
        ) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
    ):
        assert_internal_error(await client.get("/test-only/boom"))
        assert_internal_error(await client.get("/test-only/boom-sync"))
        healthy = await client.get("/healthz")
        assert healthy.status_code == 200


def services_for_thread(settings: Settings) -> Runtime:
    """The server thread has its own event loop, so it needs its own engine."""
    return build_runtime(settings)
