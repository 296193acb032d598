"""`rujukan db app-role NAME` (SPEC §8): the service runs as a role that reads and writes
rows and can neither rewrite the append-only tables nor change the schema."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.audit.seals import Sealer, signing_key, verify
from app.auth.roles import Role
from app.auth.service import create_client
from app.core.config import Settings
from app.main import create_app
from app.ops.app_role import APPEND_ONLY, AppRoleError, statements
from app.runtime import build_runtime
from tests.conftest import APP_ROLE, TEST_AUDIT_KEY, TEST_DATA_KEY, as_role
from tests.factories import make_event
from tests.ops.server import service_env
from tests.ops.test_cli_audit import run_cli
from tests.support.databases import drop_database, own_database_url


def test_role_names_are_checked_before_any_sql() -> None:
    for bad in ('x"; DROP TABLE referrals; --', "Upper", "pg_monitor", "1abc", "", "a" * 64):
        with pytest.raises(AppRoleError):
            statements(bad, "db")
    assert any("REVOKE UPDATE, DELETE, TRUNCATE" in s for s in statements("rujukan_app", "d"))


def test_app_role_is_refused_on_the_embedded_database_and_for_a_bad_name(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    sqlite = run_cli(env, "db", "app-role", "rujukan_app")
    assert sqlite.returncode == 1 and "only on PostgreSQL" in sqlite.stderr
    bad = run_cli(env, "db", "app-role", "Bad-Name")
    assert bad.returncode == 2 and "not a usable role name" in bad.stderr


@pytest.fixture
def owner_url(pg_available: bool, tmp_path: Path) -> Iterator[str]:
    if not pg_available:
        pytest.skip("PostgreSQL not reachable")
    url = own_database_url("postgres", tmp_path)
    try:
        yield url
    finally:
        drop_database(url)


async def test_the_service_runs_as_the_app_role_which_cannot_rewrite_history_or_the_schema(
    owner_url: str, tmp_path: Path
) -> None:
    env = service_env(tmp_path, RUJUKAN_DATABASE_URL=owner_url)
    for _ in range(2):  # idempotent
        done = run_cli(env, "db", "app-role", APP_ROLE)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["role"] == APP_ROLE and report["append_only"] == list(APPEND_ONLY)
    assert report["created"] is False

    settings = Settings(
        database_url=as_role(owner_url, APP_ROLE),
        data_key=TEST_DATA_KEY,  # type: ignore[arg-type]
        audit_signing_key=TEST_AUDIT_KEY,  # type: ignore[arg-type]
        run_worker_in_process=False,
    )
    services = build_runtime(settings)
    try:
        async with services.db.transaction() as session:
            prison = await create_client(
                session, name="p", role=Role.prison, facility_codes=["LP-ROLE"]
            )
            kemensos = await create_client(session, name="k", role=Role.kemensos)
            auditor = await create_client(session, name="a", role=Role.auditor)
        app = create_app(settings, runtime=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://role.test") as http:

            def auth(issued: object) -> dict[str, str]:
                return {"Authorization": f"Bearer {issued.api_key}"}  # type: ignore[attr-defined]

            posted = await http.post(
                "/v1/release-events", json=make_event("LP-ROLE"), headers=auth(prison)
            )
            assert posted.status_code == 201, posted.text
            rid = posted.json()["referral"]["id"]
            detail = await http.get(f"/v1/referrals/{rid}", headers=auth(kemensos))
            assert detail.status_code == 200
            accepted = await http.post(
                f"/v1/referrals/{rid}/transitions",
                json={"action": "accept"},
                headers={**auth(kemensos), "If-Match": detail.headers["ETag"]},
            )
            assert accepted.status_code == 200, accepted.text
            for path in (
                "/v1/referrals",
                f"/v1/referrals/{rid}/history",
                "/v1/referrals/export.csv",
                "/v1/referrals/stats?group_by=status",
                "/v1/referral-events",
            ):
                assert (await http.get(path, headers=auth(kemensos))).status_code == 200, path
            sub = await http.post(
                "/v1/webhook-subscriptions",
                json={"url": "https://example.org/hook", "event_types": ["referral.created"]},
                headers=auth(prison),
            )
            assert sub.status_code == 201, sub.text
            gone = await http.delete(
                f"/v1/webhook-subscriptions/{sub.json()['id']}", headers=auth(prison)
            )
            assert gone.status_code in (200, 204)
            for _ in range(100):
                if await Sealer(services.db, signing_key_of()).seal_pending():
                    break
                await asyncio.sleep(0.05)
            for path in ("/v1/audit-events", "/v1/audit-seals"):
                assert (await http.get(path, headers=auth(auditor))).status_code == 200
            assert (await verify(services.db, [signing_key_of().public_key()])).finding is None

        for statement in (
            "UPDATE audit_events SET outcome = 'x'",
            "UPDATE referral_history SET note = 'x'",
            "UPDATE audit_seals SET hash = 'x'",
            *(f"DELETE FROM {t}" for t in APPEND_ONLY),
            *(f"TRUNCATE {t}" for t in APPEND_ONLY),
            "CREATE TABLE sneaky (id int)",
            "ALTER TABLE referrals ADD COLUMN sneaky int",
            "DROP TABLE webhook_deliveries",
            "DROP TRIGGER audit_events_append_only ON audit_events",
            "UPDATE alembic_version SET version_num = 'x'",
        ):
            with pytest.raises(DBAPIError) as refused:
                async with services.db.transaction() as session:
                    await session.execute(text(statement))
            message = str(refused.value.orig)
            assert "permission denied" in message or "must be owner" in message, statement
    finally:
        await services.db.dispose()


def signing_key_of() -> object:
    import base64

    return signing_key(base64.b64decode(TEST_AUDIT_KEY))
