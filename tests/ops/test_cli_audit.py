"""Client changes made by the CLI are audited like those made over HTTP (SPEC §8), and a
bad `rujukan clients create` is a one-line usage error (exit 2), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops.server import ROOT, create_client, rujukan, serve, service_env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def audit_items(base_url: str, api_key: str, action: str) -> list[dict[str, Any]]:
    response = httpx.get(
        base_url + "/v1/audit-events",
        params={"action": action, "limit": 500},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize(
    ("args", "flag", "message"),
    [
        (["--role", "kemensos", "--facility", "LP-CLI"], "--facility", "has no facility_codes"),
        (
            ["--role", "prison", "--facility", "LP-CLI", "--sentra", "S-CLI"],
            "--sentra",
            "has no sentra_codes",
        ),
        (["--role", "prison", "--facility", "lp-lower"], "--facility", "pattern"),
        # SPEC §9: a client that could post or read nothing is refused.
        (["--role", "prison"], "--facility", "is bound to facility_codes"),
        (["--role", "sentra"], "--sentra", "is bound to sentra_codes"),
        (["--role", "sentra", "--sentra", "*"], "--sentra", "pattern"),
        (["--role", "bapas"], "--bapas", "is bound to bapas_codes"),
    ],
)
def test_clients_create_usage_errors_exit_2_with_one_line(
    tmp_path: Path, args: list[str], flag: str, message: str
) -> None:
    env = service_env(tmp_path)
    done = run_cli(env, "clients", "create", "--name", "mismatch", *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"rujukan clients create: error: {flag}: "), lines
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_clients_created_by_the_cli_are_audited(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    auditor = create_client(env, "auditor")
    prison = create_client(env, "prison", "LP-CLI")
    refused = run_cli(env, "clients", "create", "--name", "x", "--role", "admin", "--sentra", "S")
    assert refused.returncode == 2
    with serve(tmp_path, env) as live:
        rows = audit_items(live.base_url, auditor["api_key"], "client.create")
    assert [(r["target_id"], r["client_id"], r["actor"], r["outcome"]) for r in rows] == [
        (auditor["client_id"], None, None, "success"),
        (prison["client_id"], None, None, "success"),
    ]


def test_demo_audits_the_clients_and_sentra_it_creates(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    seeded = rujukan(env, "demo", timeout=120)
    clients = seeded["clients"]
    with serve(tmp_path, env) as live:
        created = audit_items(live.base_url, clients["auditor"]["api_key"], "client.create")
        sentra = audit_items(live.base_url, clients["auditor"]["api_key"], "sentra.create")
    assert sorted(r["target_id"] for r in created) == sorted(
        c["client_id"] for c in clients.values()
    )
    assert {(r["client_id"], r["outcome"]) for r in created} == {(None, "success")}
    assert len(sentra) == 10
