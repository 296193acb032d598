"""An unmigrated database answers 503 SERVICE_UNAVAILABLE on /v1, never 500 (SPEC §9)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import IN_CI, PG_URL, TEST_DATA_KEY, _pg_admin, _run
from tests.support.checks import assert_problem


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    if not pg_available:
        if IN_CI:
            pytest.fail("PostgreSQL is not reachable and CI=true")
        pytest.skip("PostgreSQL not reachable")
    name = f"rujukan_empty_{uuid.uuid4().hex[:8]}"
    _run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def unmigrated(empty_database: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=empty_database,
        data_key=TEST_DATA_KEY,  # type: ignore[arg-type]
        run_worker_in_process=False,
    )
    runtime = build_runtime(settings)
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://rujukan.test") as http:
            yield http
    finally:
        await runtime.db.dispose()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/referrals"),
        ("POST", "/v1/release-events"),
        ("GET", "/v1/reference/ppks-types"),
        ("GET", "/v1/referral-events"),
    ],
)
async def test_v1_answers_503_not_500(
    unmigrated: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await unmigrated.request(
        method, path, headers={"Authorization": "Bearer rjk_not-a-real-key"}, json={}
    )
    body = assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert "rujukan db upgrade" in body["detail"]
    assert response.headers["Retry-After"]


async def test_readyz_says_not_ready(unmigrated: httpx.AsyncClient) -> None:
    response = await unmigrated.get("/readyz")
    assert response.status_code == 503
