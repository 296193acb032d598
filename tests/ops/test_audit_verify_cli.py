"""`rujukan audit verify` (SPEC §8) and the seals `rujukan serve` makes in-process on the
embedded default, with the key file it generates beside the database."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from pathlib import Path

import httpx

from app.audit.seals import Sealer, public_key_text, signing_key
from app.auth.roles import Role
from app.auth.service import create_client
from app.core.audit import public_id
from app.core.config import Settings
from app.core.migrate import upgrade
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import TEST_DATA_KEY, _run
from tests.factories import make_event
from tests.ops.server import rujukan, service_env
from tests.ops.test_cli_audit import run_cli


async def test_serve_on_the_embedded_default_seals_in_process(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    _run(lambda: upgrade(url))
    settings = Settings(
        database_url=url,
        data_key=TEST_DATA_KEY,  # type: ignore[arg-type]
        audit_seal_interval_seconds=0.1,
    )
    services = build_runtime(settings)
    key_file = tmp_path / "serve.db.audit-key"
    async with services.db.transaction() as session:
        prison = await create_client(
            session, name="serve", role=Role.prison, facility_codes=["LP-SEAL"]
        )
        auditor = await create_client(session, name="auditor", role=Role.auditor)
    app = create_app(settings, runtime=services)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        # The in-process worker needs the key: generated beside the database at start.
        assert key_file.exists() and len(base64.b64decode(key_file.read_text())) == 32
        posted = await http.post(
            "/v1/release-events",
            json=make_event("LP-SEAL"),
            headers={"Authorization": f"Bearer {prison.api_key}"},
        )
        assert posted.status_code == 201

        async def sealed() -> list[dict[str, object]]:
            page = await http.get(
                "/v1/audit-seals", headers={"Authorization": f"Bearer {auditor.api_key}"}
            )
            items: list[dict[str, object]] = page.json()["items"]
            return items

        seals: list[dict[str, object]] = []
        for _ in range(150):
            seals = await sealed()
            if seals:
                break
            await asyncio.sleep(0.1)
        assert seals and seals[0]["count"] == 1  # the intake's row


def test_audit_verify_passes_then_names_the_changed_row_and_exits_3(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    rujukan(env, "db", "upgrade")
    rujukan(env, "clients", "create", "--name", "Lapas", "--role", "prison", "--facility", "LP-V")
    rujukan(env, "clients", "create", "--name", "Auditor", "--role", "auditor")
    db_file = tmp_path / "rujukan.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db_file}")
    seed = settings.resolve_audit_signing_key()  # the key file `serve` makes beside the database
    assert (tmp_path / "rujukan.db.audit-key").exists()
    services = build_runtime(settings)

    async def seal() -> int:
        try:
            return await Sealer(services.db, signing_key(seed)).seal_pending()
        finally:
            await services.db.dispose()

    assert _run(seal()) == 2
    rujukan(env, "clients", "create", "--name", "Later", "--role", "auditor")

    done = run_cli(env, "audit", "verify")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {
        "ok": True,
        "seals": 1,
        "sealed_rows": 2,
        "unsealed_rows": 1,
        "problem": None,
    }
    # With the public key the API shows, in a file, and an old key beside it.
    keys = tmp_path / "audit-public-keys.txt"
    other = public_key_text(signing_key(b"\x01" * 32).public_key())
    keys.write_text(f"{other}\n{public_key_text(signing_key(seed).public_key())}\n")
    assert run_cli(env, "audit", "verify", "--public-key", str(keys)).returncode == 0
    keys.write_text(other + "\n")
    wrong = run_cli(env, "audit", "verify", "--public-key", str(keys))
    assert wrong.returncode == 3
    assert "audit seal 1 was changed" in wrong.stderr
    not_keys = tmp_path / "nothing.txt"
    not_keys.write_text("not a key\n")
    unusable = run_cli(env, "audit", "verify", "--public-key", str(not_keys))
    assert unusable.returncode == 2 and "--public-key" in unusable.stderr

    with sqlite3.connect(db_file) as connection:
        connection.execute("DROP TRIGGER audit_events_no_update")
        connection.execute("UPDATE audit_events SET actor = 'someone else' WHERE id = 2")
    tampered = run_cli(env, "audit", "verify")
    assert tampered.returncode == 3
    problem = json.loads(tampered.stdout)["problem"]
    assert problem["kind"] == "row" and problem["change"] == "changed"
    assert problem["id"] == str(public_id(2)) and problem["seal"] == 1
    assert f"audit row {public_id(2)} was changed (seal 1)" in tampered.stderr
    assert "Traceback" not in tampered.stderr
