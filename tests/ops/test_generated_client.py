"""A Python client generated from the checked-in openapi/openapi.json works end to end.

At test time `openapi-python-client` generates a client into a temp directory; against a
live `rujukan serve` (embedded SQLite) it posts a release event as a prison, reads the
referral and its ETag as Kemensos, accepts it with `If-Match`, and reads its history;
problems (409, 412) come back parsed as `Problem` with their codes.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.factories import make_event, unique
from tests.ops.server import ROOT, Served, create_client

SPEC = ROOT / "openapi" / "openapi.json"
PACKAGE = "rujukan_generated_client"


def _generator() -> str:
    beside = Path(sys.executable).parent / "openapi-python-client"
    found = str(beside) if beside.exists() else shutil.which("openapi-python-client")
    assert found, "openapi-python-client is missing: it is a dev dependency (pyproject.toml)"
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    out = tmp_path_factory.mktemp("client")
    env = dict(os.environ)
    # Its post-generation hooks run `ruff`: the project's own.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [
            _generator(),
            "generate",
            "--path",
            str(SPEC),
            "--meta",
            "none",
            "--output-path",
            str(out / PACKAGE),
            "--fail-on-warning",
        ],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"generation failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_generated_client_follows_a_referral(generated: ModuleType, served: Served) -> None:
    post_event = _module("api.release_events.post_event")
    get_referral = _module("api.referrals.get_referral")
    post_transition = _module("api.referrals.post_transition")
    get_history = _module("api.referrals.get_history")
    models = _module("models")

    facility = unique("LP")
    prison_key = create_client(served.env, "prison", facility)["api_key"]
    kemensos_key = create_client(served.env, "kemensos")["api_key"]
    prison = generated.AuthenticatedClient(base_url=served.base_url, token=prison_key, timeout=30)
    kemensos = generated.AuthenticatedClient(
        base_url=served.base_url, token=kemensos_key, timeout=30
    )

    raw = make_event(facility)
    event = models.ReleaseEvent.from_dict(raw)
    assert event.to_dict()["person"]["nik"] == raw["person"]["nik"]  # the model round-trips

    created = post_event.sync_detailed(client=prison, body=event)
    assert created.status_code == 201, created.content
    accepted = created.parsed
    assert isinstance(accepted, models.EventAccepted)
    assert accepted.outcome == models.EventAcceptedOutcome.CREATED
    referral_id = accepted.referral.id

    replayed = post_event.sync_detailed(client=prison, body=event)
    assert replayed.status_code == 201
    assert replayed.headers.get("Idempotent-Replayed") == "true"

    changed = models.ReleaseEvent.from_dict({**raw, "case_ref": unique("CASE")})
    conflict = post_event.sync_detailed(client=prison, body=changed)
    assert conflict.status_code == 409
    assert isinstance(conflict.parsed, models.Problem)
    assert conflict.parsed.code == "EVENT_ID_CONFLICT"

    read = get_referral.sync_detailed(referral_id, client=kemensos)
    assert read.status_code == 200, read.content
    detail = read.parsed
    assert isinstance(detail, models.ReferralDetail)
    assert detail.status == "received"
    assert "accept" in detail.allowed_actions
    etag = read.headers["ETag"]

    stale = post_transition.sync_detailed(
        referral_id,
        client=kemensos,
        body=models.TransitionRequest(action=models.Action.ACCEPT),
        if_match='"0"',
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.Problem)
    assert stale.parsed.code == "VERSION_MISMATCH"

    moved = post_transition.sync_detailed(
        referral_id,
        client=kemensos,
        body=models.TransitionRequest(action=models.Action.ACCEPT),
        if_match=etag,
    )
    assert moved.status_code == 200, moved.content
    assert isinstance(moved.parsed, models.ReferralDetail)
    assert moved.parsed.status == "accepted"
    assert moved.headers["ETag"] != etag

    history = get_history.sync(referral_id, client=kemensos)
    assert history is not None and not isinstance(history, models.Problem)
    steps = [(h.event_type, h.action, h.to_status) for h in history.items]
    assert steps == [("release.completed", None, "received"), (None, "accept", "accepted")]
