"""The dashboard samples of docs/portal-guide.md §9 work as printed.

Each ```http block marked `<!-- dashboard-sample: STATUS -->` is sent, as Kemensos, to a
server holding sample data (a database of this test alone, the real clock); it must answer
STATUS with at least the fields of the ```json response printed after it. `{referral_id}`
and `{today}` in a sample stand for a completed referral and today's local date."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import update

from app.core.config import Settings
from app.referrals.models import Referral
from app.runtime import build_runtime
from tests.conftest import Clients
from tests.support.clock import http_with_clock
from tests.support.referrals import drive, new_referral

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "portal-guide.md"
SAMPLE = re.compile(
    r"<!-- dashboard-sample: (\d{3}) -->\n```http\n(.*?)\n```\n\n```json\n(.*?)\n```", re.S
)


def samples() -> list[tuple[int, str, str, Any, Any]]:
    """(status, method, path, body or None, printed response) of each marked sample."""
    out = []
    for status, request, response in SAMPLE.findall(GUIDE.read_text(encoding="utf-8")):
        head, _, body = request.partition("\n\n")
        method, path = head.split(" ", 1)
        out.append((int(status), method, path, body or None, json.loads(response)))
    return out


def has_fields(printed: Any, got: Any, where: str = "") -> None:
    """Every field the guide prints is in the answer (the guide shortens lists)."""
    if isinstance(printed, dict):
        assert isinstance(got, dict), where
        for key, value in printed.items():
            assert key in got, f"{where}/{key} missing"
            has_fields(value, got[key], f"{where}/{key}")
    elif isinstance(printed, list) and printed:
        assert isinstance(got, list) and got, f"{where} empty"
        has_fields(printed[0], got[0], f"{where}/0")


def test_the_guide_has_its_dashboard_samples() -> None:
    paths = [path for _, _, path, _, _ in samples()]
    assert len(paths) == 4
    assert any(p.startswith("/v1/referrals/durations") for p in paths)
    assert any("/forecast" in p for p in paths)


async def test_the_dashboard_samples_answer_as_printed(own_settings: Settings) -> None:
    services = build_runtime(own_settings)
    try:
        clients = Clients(services)
        await clients.add_sentra("HANDAYANI", regency="3175", coverage=["3171", "3175"])
        prison = await clients.prison("LP-CIPINANG")
        kemensos = await clients.kemensos()
        async with http_with_clock(own_settings, services) as (http, clock):
            done = await new_referral(http, prison, "LP-CIPINANG", release_days=-2)
            await drive(
                http, kemensos, done, ["accept", "assign", "start_service", "close"], "HANDAYANI"
            )
            await new_referral(
                http, prison, "LP-CIPINANG", release_days=10, event_type="release.scheduled"
            )
            today = clock().today
            async with services.db.transaction() as session:  # its first follow-up is due
                await session.execute(
                    update(Referral)
                    .where(Referral.id == uuid.UUID(done))
                    .values(next_follow_up_due=today - dt.timedelta(days=3))
                )
            for status, method, path, body, printed in samples():
                url = path.replace("{referral_id}", done)
                content = body.replace("{today}", today.isoformat()) if body else None
                response = await http.request(
                    method,
                    url,
                    content=content,
                    headers={**kemensos.headers, "Content-Type": "application/json"},
                )
                assert response.status_code == status, (path, response.text)
                has_fields(printed, response.json(), path)
    finally:
        await services.db.dispose()
