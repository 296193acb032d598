"""Fixtures: the API on the embedded SQLite and on a real PostgreSQL, migrated by Alembic.

API tests run once per backend. PostgreSQL comes from RUJUKAN_TEST_POSTGRES_URL (default:
the local server, trust auth); each run creates its own database and drops it afterwards.
When CI=true and no PostgreSQL test passed, the session fails: CI must not go green on
SQLite alone.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.auth.roles import Role
from app.auth.service import create_client
from app.core.config import Settings
from app.core.migrate import upgrade
from app.main import create_app
from app.ops.app_role import ensure_app_role
from app.reference.models import Sentra
from app.runtime import Runtime, build_runtime

PG_URL = os.environ.get(
    "RUJUKAN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
TEST_DATA_KEY = base64.b64encode(b"rujukan-test-data-key-0123456789").decode()
TEST_AUDIT_KEY = base64.b64encode(b"rujukan-test-audit-key-012345678").decode()
IN_CI = os.environ.get("CI", "").lower() == "true"
# RUJUKAN_TEST_AS_APP_ROLE=true: the PostgreSQL API tests run the service as the role
# `rujukan db app-role` makes (row access only), as production does.
AS_APP_ROLE = os.environ.get("RUJUKAN_TEST_AS_APP_ROLE", "").lower() == "true"
APP_ROLE = "rujukan_test_app"
_postgres_passed = 0


def _run(coro: Any) -> Any:
    """Run a coroutine to completion on a fresh loop in a thread (Alembic uses asyncio.run)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro) if asyncio.iscoroutine(coro) else coro()
        except BaseException as exc:  # re-raised in the caller
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


async def _pg_admin(sql: str) -> None:
    import asyncpg

    url = make_url(PG_URL)
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_available() -> bool:
    try:
        _run(_pg_admin("SELECT 1"))
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return postgres_available()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_available: bool
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "rujukan.db"
        url = f"sqlite+aiosqlite:///{path}"
        _run(lambda: upgrade(url))
        yield url
        return
    if not pg_available:
        if IN_CI:
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL} and CI=true")
        pytest.skip("PostgreSQL not reachable; set RUJUKAN_TEST_POSTGRES_URL")
    name = f"rujukan_test_{uuid.uuid4().hex[:8]}"
    _run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        _run(lambda: upgrade(url))
        if AS_APP_ROLE:
            _run(ensure_app_role(url, APP_ROLE))
            url = as_role(url, APP_ROLE)
        yield url
    finally:
        _run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def as_role(url: str, role: str) -> str:
    """The same database, logged in as `role` (trust authentication: no password)."""
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "postgres" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def own_settings(settings: Settings, backend: str, tmp_path: Any) -> Iterator[Settings]:
    """A database of this test alone: key rotation re-encrypts every row it holds."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
        _run(lambda: upgrade(url))
        yield settings.model_copy(update={"database_url": url})
        return
    name = f"rujukan_test_own_{uuid.uuid4().hex[:8]}"
    _run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(settings.database_url).set(database=name).render_as_string(hide_password=False)
    try:
        _run(lambda: upgrade(url))
        yield settings.model_copy(update={"database_url": url})
    finally:
        _run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        data_key=TEST_DATA_KEY,  # type: ignore[arg-type]
        audit_signing_key=TEST_AUDIT_KEY,  # type: ignore[arg-type]
        rate_limit_per_second=100_000,
        rate_limit_burst=100_000,
        # Tests share one process and one client address: their 401s must not add up.
        auth_failures_per_second=100_000,
        auth_failure_burst=100_000,
        db_pool_size=20,
        db_max_overflow=60,
        run_worker_in_process=False,  # webhook tests run their own relay when they want one
    )


@pytest.fixture(scope="session")
async def services(settings: Settings) -> AsyncIterator[Runtime]:
    services = build_runtime(settings)
    yield services
    await services.db.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, services: Runtime) -> Any:
    return create_app(settings, runtime=services)


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://rujukan.test") as client:
        yield client


@dataclass
class ApiClient:
    client_id: str
    api_key: str
    role: str
    facility_codes: list[str]
    sentra_codes: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


class Clients:
    """Creates API clients straight in the database (the admin API is tested on its own)."""

    def __init__(self, services: Runtime) -> None:
        self.services = services

    async def make(
        self,
        role: str,
        *,
        facilities: list[str] | None = None,
        sentra: list[str] | None = None,
        bapas: list[str] | None = None,
    ) -> ApiClient:
        # A client must be bound to something (SPEC §9): one made without bindings here is
        # bound to a code of its own, which no other test uses.
        unbound = f"UNBOUND-{uuid.uuid4().hex[:8].upper()}"
        if role == "prison" and not facilities:
            facilities = [unbound]
        if role == "sentra" and not sentra:
            sentra = [unbound]
        if role == "bapas" and not bapas:
            bapas = [unbound]
        async with self.services.db.transaction() as session:
            issued = await create_client(
                session,
                name=f"test {role}",
                role=Role(role),
                facility_codes=facilities or [],
                sentra_codes=sentra or [],
                bapas_codes=bapas or [],
            )
        return ApiClient(
            str(issued.client.id), issued.api_key, role, facilities or [], sentra or []
        )

    async def prison(self, *facilities: str) -> ApiClient:
        return await self.make("prison", facilities=list(facilities))

    async def kemensos(self) -> ApiClient:
        return await self.make("kemensos")

    async def sentra(self, *codes: str) -> ApiClient:
        return await self.make("sentra", sentra=list(codes))

    async def bapas(self, *codes: str) -> ApiClient:
        return await self.make("bapas", bapas=list(codes))

    async def add_sentra(
        self,
        code: str,
        *,
        province: str = "31",
        regency: str | None = None,
        coverage: list[str] | None = None,
        active: bool = True,
    ) -> None:
        async with self.services.db.transaction() as session:
            session.add(
                Sentra(
                    code=code,
                    name=f"Sentra {code}",
                    province_code=province,
                    regency_code=regency,
                    coverage_regency_codes=coverage or [],
                    active=active,
                )
            )
        self.services.sentra_coverage.forget()  # written past the API, which forgets itself


@pytest.fixture
def clients(services: Runtime) -> Clients:
    return Clients(services)


def facility_code() -> str:
    return f"LP-{uuid.uuid4().hex[:8].upper()}"


@pytest.fixture
def facility() -> str:
    """A facility code of this test alone: tests share a database, never their data."""
    return facility_code()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _postgres_passed
    if report.when == "call" and report.passed and "postgres" in report.nodeid.partition("[")[2]:
        _postgres_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    marker = Path(os.environ.get("RUJUKAN_PG_MARKER", "var/postgres-tests-passed"))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{_postgres_passed}\n")
    if IN_CI and _postgres_passed == 0 and exitstatus == 0:
        session.exitstatus = 1
        print("\nCI=true but no PostgreSQL test passed: failing the run.")
