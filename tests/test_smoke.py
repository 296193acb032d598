from __future__ import annotations

import httpx

from tests.conftest import Clients
from tests.factories import make_event


async def test_post_event_creates_referral_and_detail_reads_it(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = make_event(facility)
    response = await http.post("/v1/release-events", json=event, headers=prison.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["outcome"] == "created"
    referral_id = body["referral"]["id"]
    detail = await http.get(f"/v1/referrals/{referral_id}", headers=prison.headers)
    assert detail.status_code == 200, detail.text
    assert detail.headers["ETag"] == '"1"'
    data = detail.json()
    assert data["person"]["nik"] == event["person"]["nik"]
    assert data["needs"]["health"]["napza_history"] is True
    assert data["status"] == "received"
    assert data["custody_status"] == "released"
