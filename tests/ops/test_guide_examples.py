"""The sample events of the integration guides are accepted exactly as the guides say.

Each ```json block marked `<!-- guide-event: status=… outcome=… -->` in
docs/integration-guide.md is posted in order, as one prison client, on an app whose clock
stands at GUIDE_NOW (the samples' dates are fixed; "today" must not overtake them); the
status and outcome must be the ones the guide announces. The Indonesian guide must carry
the same samples.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.clock import Clock
from app.core.config import Settings
from app.core.deps import get_clock
from app.main import create_app
from app.runtime import Runtime
from tests.conftest import Clients

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE_NOW = dt.datetime(2027, 2, 1, 3, 0, tzinfo=dt.UTC)
_MARKED = re.compile(
    r"<!-- guide-event: status=(\d+) outcome=(\w+) -->\s*```json\n(.*?)\n```", re.DOTALL
)


def samples(name: str) -> list[tuple[int, str, dict[str, Any]]]:
    text = (DOCS / name).read_text(encoding="utf-8")
    return [(int(s), outcome, json.loads(body)) for s, outcome, body in _MARKED.findall(text)]


def test_both_guides_carry_the_same_samples() -> None:
    english = samples("integration-guide.md")
    assert len(english) >= 7
    assert {body["event_type"] for _, _, body in english} >= {
        "release.scheduled",
        "release.rescheduled",
        "release.completed",
        "release.cancelled",
        "release.revoked",
        "case.updated",
    }
    assert samples("integration-guide.id.md") == english


@pytest.fixture
async def guide_http(settings: Settings, services: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=services)
    app.dependency_overrides[get_clock] = lambda: Clock(now=GUIDE_NOW, tz=settings.tz)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://rujukan.test") as client:
        yield client


async def test_the_guide_samples_do_what_the_guide_says(
    guide_http: httpx.AsyncClient, clients: Clients
) -> None:
    events = samples("integration-guide.md")
    facilities = sorted({body["facility"]["code"] for _, _, body in events})
    prison = await clients.prison(*facilities)
    for status, outcome, body in events:
        response = await guide_http.post("/v1/release-events", json=body, headers=prison.headers)
        assert response.status_code == status, (body["event_id"], response.text)
        assert response.json()["outcome"] == outcome, body["event_id"]
        assert response.json()["warnings"] == [], body["event_id"]
