"""The `rujukan` command as a new operator meets it (SPEC §9): configuration mistakes are
one line and exit 1, every option explains itself, `openapi` writes nothing, `demo` can
run twice, `sentra import` loads the registry all or nothing, `bin/demo` says when it
cannot listen."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import build_parser
from tests.conftest import PG_URL
from tests.ops.server import ROOT, rujukan, serve, service_env
from tests.ops.test_cli_audit import run_cli

GOOD_KEY = "cnVqdWthbi10ZXN0LWRhdGEta2V5LTAxMjM0NTY3ODk="


@pytest.mark.parametrize(
    ("variables", "command", "names"),
    [
        ({"RUJUKAN_DATABASE_URL": PG_URL}, ["serve"], "RUJUKAN_DATA_KEY: required with PostgreSQL"),
        ({"RUJUKAN_DATA_KEY": "c2hvcnQ="}, ["serve"], "RUJUKAN_DATA_KEY: decodes to 5 bytes"),
        ({"RUJUKAN_DATA_KEY": "not base64!"}, ["worker"], "RUJUKAN_DATA_KEY: not standard base64"),
        ({"RUJUKAN_TIMEZONE": "Asia/Bandung"}, ["serve"], "RUJUKAN_TIMEZONE: unknown time zone"),
        (
            {"RUJUKAN_DATABASE_URL": "postgres://u@127.0.0.1/db"},
            ["db", "upgrade"],
            "RUJUKAN_DATABASE_URL: `postgres://…` names no asynchronous driver",
        ),
        (
            {"RUJUKAN_DATABASE_URL": "postgresql://u@127.0.0.1/db"},
            ["worker"],
            "RUJUKAN_DATABASE_URL: `postgresql://…`",
        ),
        (
            {
                "RUJUKAN_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/nothing",
                "RUJUKAN_DATA_KEY": GOOD_KEY,
                "RUJUKAN_AUDIT_SIGNING_KEY": GOOD_KEY,
            },
            ["serve"],
            "RUJUKAN_DATABASE_URL: cannot connect to the database at 127.0.0.1:1/nothing",
        ),
        ({"RUJUKAN_RETENTION_DAYS": "0"}, ["retention"], "RUJUKAN_RETENTION_DAYS: "),
        ({"RUJUKAN_PORT": "eighty"}, ["serve"], "RUJUKAN_PORT: "),
        ({"RUJUKAN_PREVIOUS_DATA_KEYS": "abc"}, ["keys", "rotate"], "RUJUKAN_PREVIOUS_DATA_KEYS"),
    ],
)
def test_a_configuration_mistake_is_one_line_and_exit_1(
    tmp_path: Path, variables: dict[str, str], command: list[str], names: str
) -> None:
    env = service_env(tmp_path, **variables)
    done = run_cli(env, *command)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rujukan: "), lines
    assert names in lines[0]
    # Never the value of a secret.
    for name, value in variables.items():
        if "KEY" in name:
            assert value not in done.stderr


def test_a_busy_port_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = run_cli(service_env(tmp_path), "serve", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"rujukan: RUJUKAN_PORT / --port: cannot listen on 127.0.0.1:{port} (Address already "
        "in use); another process uses it — stop it or choose another port"
    ]


def _actions(parser: argparse.ArgumentParser, path: str = "rujukan") -> list[tuple[str, Any]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _actions(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            found.append((f"{path} {'/'.join(action.option_strings) or action.dest}", action))
    return found


def test_every_option_has_help_text() -> None:
    actions = _actions(build_parser())
    assert len(actions) > 10
    assert [name for name, action in actions if not (action.help or "").strip()] == []


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "--version"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.startswith("rujukan ")


def test_openapi_writes_no_files(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    env["RUJUKAN_DATABASE_URL"] = "sqlite+aiosqlite:///./var/rujukan.db"  # the default
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "openapi"],
        env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["openapi"].startswith("3.")
    assert list(tmp_path.iterdir()) == []
    assert done.stderr == ""


def test_db_upgrade_says_what_it_did(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    first = rujukan(env, "db", "upgrade")
    assert first["upgraded"] is True and first["from"] is None and first["to"]
    assert rujukan(env, "db", "upgrade") == {
        "upgraded": False,
        "from": first["to"],
        "to": first["to"],
    }


def test_demo_twice_adds_nothing_and_renews_the_keys(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    first = rujukan(env, "demo", timeout=120)
    second = rujukan(env, "demo", timeout=120)
    assert second["referral_ids"] == first["referral_ids"]
    assert {r: c["client_id"] for r, c in second["clients"].items()} == {
        r: c["client_id"] for r, c in first["clients"].items()
    }
    assert set(first["clients"]) == {"prison", "bapas", "kemensos", "sentra", "auditor", "admin"}
    with serve(tmp_path, env) as live:

        def get(path: str, key: str) -> httpx.Response:
            return httpx.get(live.base_url + path, headers={"Authorization": f"Bearer {key}"})

        admin = second["clients"]["admin"]["api_key"]
        assert len(get("/v1/clients", admin).json()["items"]) == 6
        assert get("/v1/clients", first["clients"]["admin"]["api_key"]).status_code == 401
        kemensos = second["clients"]["kemensos"]["api_key"]
        listed = get("/v1/referrals?limit=100", kemensos).json()["items"]
        assert len(listed) == 8
        walked = get(f"/v1/referrals/{first['referral_ids'][0]}/history", kemensos).json()
        assert [e.get("action") for e in walked["items"] if e.get("action")] == ["accept", "assign"]
        # The bapas key sees the supervised releases of its Bapas, and only those.
        bapas = get("/v1/referrals?limit=100", second["clients"]["bapas"]["api_key"]).json()
        assert bapas["items"] and {i["release"]["bapas_code"] for i in bapas["items"]} == {
            "BAPAS-JAKTIM"
        }


# -- sentra import -------------------------------------------------------------------------

HEADER = "code,name,province_code,regency_code,coverage_regency_codes,active\n"


def test_sentra_import_loads_the_registry_and_assign_can_use_it(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    registry = tmp_path / "sentra.csv"
    registry.write_bytes(
        "\ufeff".encode()
        + (
            HEADER
            + "HANDAYANI,Sentra Handayani,31,3175,3175,true\n"
            + 'MULYA-JAYA,"Sentra Mulya Jaya, Jakarta",31,3175,3171 3172  3173,1\n'
            + "NIPOTOWE,Sentra Nipotowe,72,,7271,false\n"
        ).encode()
    )
    assert rujukan(env, "sentra", "import", str(registry)) == {
        "loaded": True, "rows": 3, "created": 3, "updated": 0, "unchanged": 0,
    }  # fmt: skip
    registry.write_text(
        HEADER
        + "HANDAYANI,Sentra Handayani,31,3175,3175,true\n"
        + "NIPOTOWE,Sentra Nipotowe,72,7271,7271,true\n"
    )
    assert rujukan(env, "sentra", "import", str(registry)) == {
        "loaded": True, "rows": 2, "created": 0, "updated": 1, "unchanged": 1,
    }  # fmt: skip
    admin = json.loads(run_cli(env, "clients", "create", "--name", "a", "--role", "admin").stdout)
    with serve(tmp_path, env) as live:
        listed = httpx.get(
            live.base_url + "/v1/sentra",
            headers={"Authorization": f"Bearer {admin['api_key']}"},
        ).json()["items"]
    assert [(s["code"], s["active"], s["coverage_regency_codes"]) for s in listed] == [
        ("HANDAYANI", True, ["3175"]),
        ("MULYA-JAYA", True, ["3171", "3172", "3173"]),
        ("NIPOTOWE", True, ["7271"]),
    ]


def test_sentra_import_refuses_the_whole_file_for_one_bad_row(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    registry = tmp_path / "sentra.csv"
    registry.write_text(
        HEADER
        + "HANDAYANI,Sentra Handayani,31,3175,3175,true\n"
        + "bad code,Sentra X,31,3175,,true\n"
        + "KARTINI,Sentra Kartini,33,3175,9999,maybe\n"
        + "HANDAYANI,Sentra Handayani lagi,31,3175,,true\n"
    )
    done = run_cli(env, "sentra", "import", str(registry))
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["loaded"] is False
    assert [(r["line"], sorted(e["pointer"] for e in r["errors"])) for r in report["refused"]] == [
        (3, ["/code"]),
        (4, ["/active"]),
        (5, ["/code"]),
    ]
    assert done.stderr.strip().splitlines() == [
        "rujukan sentra import: 3 row(s) refused; nothing was loaded"
    ]
    # Fixed, the regions are checked too (a regency outside its province, an unknown one).
    registry.write_text(HEADER + "KARTINI,Sentra Kartini,33,3175,9999,true\n")
    report = json.loads(run_cli(env, "sentra", "import", str(registry)).stdout)
    assert [(e["pointer"], e["code"]) for e in report["refused"][0]["errors"]] == [
        ("/regency_code", "REGION_MISMATCH"),
        ("/coverage_regency_codes/0", "UNKNOWN_REGION"),
    ]
    admin = json.loads(run_cli(env, "clients", "create", "--name", "a", "--role", "admin").stdout)
    with serve(tmp_path, env) as live:
        listed = httpx.get(
            live.base_url + "/v1/sentra",
            headers={"Authorization": f"Bearer {admin['api_key']}"},
        ).json()["items"]
    assert listed == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"code,name\nX,Y\n", "the header must name the columns"),
        (b"\xff\xfe" + HEADER.encode("utf-16-le"), "not UTF-8"),
    ],
)
def test_sentra_import_an_unusable_file_is_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    registry = tmp_path / "sentra.csv"
    registry.write_bytes(content)
    done = run_cli(service_env(tmp_path), "sentra", "import", str(registry))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("rujukan: sentra import: ") and message in line


# -- bin/demo ------------------------------------------------------------------------------


def test_bin_demo_on_a_busy_port_says_so_before_seeding(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / ".rujukan-installed").exists():
        pytest.skip("bin/demo's virtualenv is not installed here (bin/test installs it)")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {**service_env(tmp_path), "RUJUKAN_PORT": str(port)}
        done = subprocess.run(
            [str(ROOT / "bin" / "demo")], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""  # no keys, no "Try:"
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert f"RUJUKAN_PORT={port + 1} bin/demo" in done.stderr
    assert "Traceback" not in done.stderr
