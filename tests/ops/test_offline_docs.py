"""/docs (Swagger UI) and /redoc render in a real browser with no network but 127.0.0.1.

Headless Chromium loads each page with every host name but 127.0.0.1 mapped to "not
found", runs its scripts for up to 15 s of virtual time and dumps the DOM; the page must
show rendered operations (a summary and a path from the OpenAPI document).

The net log then shows two things:
- every request the page made (initiated by the page's origin: scripts, styles, fonts, the
  OpenAPI document, workers) went to 127.0.0.1 or localhost: the docs need nothing from
  the internet;
- no TCP connection was opened to any address but 127.0.0.1. Chromium's own background
  calls (component updates, account checks, autofill) are attempted whatever the flags
  say; no page initiates them, and the resolver rule stops them before any connection.

Skipped when Chromium is not installed, except with CI=true (.ci/run installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.ops.server import IN_CI, Served

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
CHROMIUM_TIMEOUT = 90


def _chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    if found is None:
        if IN_CI:
            pytest.fail("chromium is not installed and CI=true (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    return found


def _browse(url: str, workdir: Path) -> tuple[str, dict[str, Any]]:
    """The rendered DOM of `url` and Chromium's net log of the visit."""
    net_log = workdir / "net.json"
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-pings",
        "--disable-features=AutofillServerCommunication,NetworkTimeServiceQuerying",
        f"--user-data-dir={workdir / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
        f"--log-net-log={net_log}",
        "--dump-dom",
        url,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its renderer and helpers share its process group
    )
    try:
        dom, _ = process.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"chromium did not finish {url} within {CHROMIUM_TIMEOUT}s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, f"chromium exited {process.returncode} on {url}"
    return dom.decode("utf-8", errors="replace"), json.loads(net_log.read_text())


def _events(log: dict[str, Any], name: str) -> list[dict[str, Any]]:
    type_id = log["constants"]["logEventTypes"][name]
    return [e.get("params") or {} for e in log["events"] if e["type"] == type_id]


def _is_page_request(params: dict[str, Any], origin: str) -> bool:
    """The page itself, or a request its document or workers initiated."""
    return params.get("request_type") == "main frame" or params.get("initiator") == origin


def _remote_hosts(address_list: list[str]) -> set[str]:
    hosts = set()
    for address in address_list:
        host = re.sub(r":\d+$", "", address).strip("[]")
        hosts.add(host)
    return hosts


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_render_offline(page: str, served: Served, tmp_path: Path) -> None:
    dom, log = _browse(served.base_url + page, tmp_path)

    # Rendered by the page's scripts from /openapi.json, not present in the HTML shell.
    assert "Post one release event" in dom, f"{page}: operations did not render"
    assert "/v1/release-events" in dom
    assert "List referrals" in dom
    # The guides this server serves, linked from the top; the catalogue after the operations.
    assert 'href="/guides/integration-guide"' in dom
    assert 0 < dom.index("Post one release event") < dom.index("Error catalogue")
    if page == "/docs":
        assert 0 < dom.index("Authorize") < dom.index("Post one release event")

    requests = [p for p in _events(log, "URL_REQUEST_START_JOB") if "url" in p]
    page_requests = [p["url"] for p in requests if _is_page_request(p, served.base_url)]
    assert any(url.endswith("/openapi.json") for url in page_requests)
    outside = [url for url in page_requests if urlsplit(url).hostname not in LOCAL_HOSTS]
    assert outside == [], f"{page} fetched from outside 127.0.0.1: {outside}"

    connected: set[str] = set()
    for params in _events(log, "TCP_CONNECT"):
        connected |= _remote_hosts(params.get("address_list", []))
    assert connected, "the net log shows no connection at all"
    assert connected <= {"127.0.0.1"}, f"connections beyond 127.0.0.1: {connected}"
