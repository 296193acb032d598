"""The portal guide's worked example of the rehabilitation record (docs/portal-guide.md §8)
runs end to end, as printed, against a live server.

Each ```json block marked `<!-- portal-step: METHOD PATH as=ROLE status=NNN [bind=...]
[if-match=referral] -->` is one request on the example's referral, in order: for a
write, the block is the body; for a GET, an excerpt the answer must contain. `{name}`
placeholders are ids bound by earlier steps (`bind=name:/json/pointer`). The server's
clock stands where the example's dates need it: at the referral's creation, then at
GUIDE_NOW.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from app.core.clock import Clock
from app.core.config import Settings
from app.core.deps import get_clock
from app.main import create_app
from app.referrals.models import OutboxEvent
from tests.conftest import Clients
from tests.factories import make_event, supervised
from tests.livesrv import live_server

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "portal-guide.md"
CREATED_AT = dt.datetime(2027, 1, 4, 3, 0, tzinfo=dt.UTC)
GUIDE_NOW = dt.datetime(2027, 2, 1, 3, 0, tzinfo=dt.UTC)
_STEP = re.compile(r"<!-- portal-step: (.*?) -->\s*```json\n(.*?)\n```", re.DOTALL)


def steps() -> list[tuple[dict[str, str], str]]:
    out = []
    for header, body in _STEP.findall(GUIDE.read_text(encoding="utf-8")):
        method, path, *options = header.split()
        fields = dict(option.split("=", 1) for option in options)
        out.append(({"method": method, "path": path, **fields}, body))
    return out


def contains(answer: Any, excerpt: Any) -> bool:
    """`answer` holds `excerpt`: the same keys' values, lists of the same length."""
    if isinstance(excerpt, dict):
        return isinstance(answer, dict) and all(
            k in answer and contains(answer[k], v) for k, v in excerpt.items()
        )
    if isinstance(excerpt, list):
        return (
            isinstance(answer, list)
            and len(answer) == len(excerpt)
            and all(contains(a, e) for a, e in zip(answer, excerpt, strict=True))
        )
    return bool(answer == excerpt)


def pointer(document: Any, path: str) -> Any:
    for part in path.strip("/").split("/"):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def test_the_guide_has_the_whole_example() -> None:
    paths = [(s["method"], s["path"].split("/")[0]) for s, _ in steps()]
    for step in (
        ("POST", "assessments"),
        ("PUT", "plan"),
        ("POST", "appointments"),
        ("POST", "services"),
        ("POST", "notes"),
        ("POST", "transitions"),
        ("GET", "report"),
    ):
        assert step in paths, step


async def test_the_worked_example_runs_against_a_live_server(
    settings: Settings, clients: Clients, facility: str
) -> None:
    clock = {"now": CREATED_AT}

    def app() -> Any:
        served = create_app(settings)
        served.dependency_overrides[get_clock] = lambda: Clock(now=clock["now"], tz=settings.tz)
        return served

    sentra_code = f"S-{uuid.uuid4().hex[:6].upper()}"
    bapas_code = f"BAPAS-{uuid.uuid4().hex[:6].upper()}"
    await clients.add_sentra(sentra_code)
    parties = {
        "prison": await clients.prison(facility),
        "kemensos": await clients.kemensos(),
        "sentra": await clients.sentra(sentra_code),
        "bapas": await clients.bapas(bapas_code),
    }
    event = supervised(
        make_event(
            facility, occurred_at=CREATED_AT - dt.timedelta(hours=1), release__date="2027-01-02"
        )
    )
    event["release"]["bapas_code"] = bapas_code
    async with (
        live_server(settings, app_factory=app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        posted = await http.post(
            "/v1/release-events", json=event, headers=parties["prison"].headers
        )
        assert posted.status_code == 201, posted.text
        rid = posted.json()["referral"]["id"]

        async def transition(role: str, body: dict[str, Any]) -> httpx.Response:
            headers = parties[role].headers
            tag = (await http.get(f"/v1/referrals/{rid}", headers=headers)).headers["ETag"]
            return await http.post(
                f"/v1/referrals/{rid}/transitions", json=body, headers={**headers, "If-Match": tag}
            )

        for role, body in (
            ("kemensos", {"action": "accept"}),
            ("kemensos", {"action": "assign", "sentra_code": sentra_code}),
            ("sentra", {"action": "start_service"}),
        ):
            moved = await transition(role, body)
            assert moved.status_code == 200, moved.text
        clock["now"] = GUIDE_NOW

        bound: dict[str, str] = {}
        plan_tag: str | None = None
        for i, (step, text) in enumerate(steps()):
            clock["now"] = GUIDE_NOW + dt.timedelta(seconds=i)  # one request after another
            for name, value in bound.items():
                text = text.replace("{" + name + "}", value)
            path = step["path"]
            for name, value in bound.items():
                path = path.replace("{" + name + "}", value)
            url = f"/v1/referrals/{rid}/{path}"
            role = step["as"]
            body = json.loads(text)
            where = f"{step['method']} {path} as {role}"
            if step["method"] == "GET":
                got = await http.get(url, headers=parties[role].headers)
                assert got.status_code == int(step["status"]), (where, got.text)
                assert contains(got.json(), body), (where, got.json())
                continue
            if step.get("if-match") == "referral":
                got = await transition(role, body)
            else:
                headers = dict(parties[role].headers)
                if path == "plan" and plan_tag is not None:
                    headers["If-Match"] = plan_tag
                got = await http.request(step["method"], url, json=body, headers=headers)
            assert got.status_code == int(step["status"]), (where, got.text)
            if path == "plan":
                plan_tag = got.headers["ETag"]
            for binding in filter(None, step.get("bind", "").split(",")):
                name, at = binding.split(":", 1)
                bound[name] = str(pointer(got.json(), at))

        # what the example says along the way
        detail = (await http.get(f"/v1/referrals/{rid}", headers=parties["bapas"].headers)).json()
        assert detail["status"] == "closed" and detail["outcome"] == "completed"
        assert detail["next_appointment"]["purpose"] == "Evaluasi pelatihan"
        assert detail["assessment"] is None  # the Bapas reads no assessment
        # The events in commit order (the outbox the feed and the webhooks read).
        async with clients.services.db.read_session() as session:
            types = list(
                (
                    await session.execute(
                        select(OutboxEvent.type)
                        .where(OutboxEvent.referral_id == uuid.UUID(rid))
                        .order_by(OutboxEvent.id)
                    )
                ).scalars()
            )
        close_at = types.index("referral.report_published")
        assert types[close_at - 1] == "referral.status_changed"
        assert {"referral.appointment_scheduled", "referral.note_added"} <= set(types)
