"""/healthz and /readyz: liveness without the database, readiness = reachable and at head."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings
from app.core.migrate import head_revision
from app.main import create_app
from app.runtime import Runtime, build_runtime
from tests.conftest import TEST_AUDIT_KEY, TEST_DATA_KEY


async def test_healthz_answers_without_auth(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_at_head(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "schema": head_revision()}


AppOn = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def app_on() -> AsyncIterator[AppOn]:
    """An app (no lifespan: ASGITransport) on a database URL of the test's choosing."""
    made: list[Runtime] = []

    def make(url: str) -> httpx.AsyncClient:
        settings = Settings(
            database_url=url,
            data_key=SecretStr(TEST_DATA_KEY),
            audit_signing_key=SecretStr(TEST_AUDIT_KEY),
        )
        services = build_runtime(settings)
        made.append(services)
        app = create_app(settings, runtime=services)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://rujukan.test")

    yield make
    for services in made:
        await services.db.dispose()


async def _problem(client: httpx.AsyncClient) -> dict[str, object]:
    async with client:
        response = await client.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["status"] == 503
    return body


async def test_readyz_503_on_a_database_never_migrated(app_on: AppOn, tmp_path: Path) -> None:
    body = await _problem(app_on(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"))
    assert "not at head" in str(body["detail"])
    assert "rujukan db upgrade" in str(body["detail"])


async def test_readyz_503_when_the_schema_is_behind(app_on: AppOn, tmp_path: Path) -> None:
    path = tmp_path / "behind.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('0000_older')")
    body = await _problem(app_on(f"sqlite+aiosqlite:///{path}"))
    assert "0000_older" in str(body["detail"])


async def test_readyz_503_when_the_database_is_unreachable(app_on: AppOn) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    body = await _problem(app_on("postgresql+asyncpg://rujukan@127.0.0.1:1/rujukan"))
    assert "unreachable" in str(body["detail"])
