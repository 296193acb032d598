"""`rujukan serve` on the embedded SQLite default runs the relay inside the API process."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.auth.roles import Role
from app.auth.service import create_client
from app.core.config import Settings
from app.core.migrate import upgrade
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import TEST_DATA_KEY, _run
from tests.factories import make_event
from tests.webhooks.receiver import Receiver, eventually
from tests.webhooks.support import FAST


def test_the_relay_runs_in_process_by_default_only_on_sqlite() -> None:
    assert Settings(database_url="sqlite+aiosqlite:///x.db").worker_in_process is True
    assert Settings(database_url="postgresql+asyncpg://h/db").worker_in_process is False
    assert (
        Settings(
            database_url="postgresql+asyncpg://h/db", run_worker_in_process=True
        ).worker_in_process
        is True
    )
    assert (
        Settings(
            database_url="sqlite+aiosqlite:///x.db", run_worker_in_process=False
        ).worker_in_process
        is False
    )


async def test_serve_on_sqlite_delivers_without_a_worker(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    _run(lambda: upgrade(url))
    settings = Settings(database_url=url, data_key=TEST_DATA_KEY, **FAST)  # type: ignore[arg-type]
    assert settings.worker_in_process
    services = build_runtime(settings)
    async with services.db.transaction() as session:
        issued = await create_client(
            session, name="serve", role=Role.prison, facility_codes=["LP-SERVE"]
        )
    headers = {"Authorization": f"Bearer {issued.api_key}"}
    app = create_app(settings, runtime=services)
    with Receiver() as receiver:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://serve.test"
            ) as http,
        ):
            created = await http.post(
                "/v1/webhook-subscriptions",
                json={"url": receiver.url("/serve"), "event_types": ["referral.created"]},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            receiver.secrets["/serve"] = [created.json()["secret"]]
            posted = await http.post(
                "/v1/release-events", json=make_event("LP-SERVE"), headers=headers
            )
            assert posted.status_code == 201
            assert await eventually(lambda: len(receiver.accepted("/serve")) == 1, within=15)
        # The lifespan stopped the relay and closed the database: nothing left running.
        (delivery,) = receiver.snapshot("/serve")
        assert delivery.verified and delivery.event is not None
        assert delivery.event["subject"] == posted.json()["referral"]["id"]
