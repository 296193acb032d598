"""Rectification at the source (SPEC §12): Kemensos or the sentra asks, the prison corrects
through `case.updated` (resolving the request once every named field changed) or declines."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import httpx
import pytest

from app.rights.rectification import changed_pointers, pointer_errors, still_pending
from tests.conftest import ApiClient, Clients
from tests.factories import make_event
from tests.support.checks import assert_problem
from tests.support.referrals import drive, post_event, sentra_code

ADDRESS, PHONE = "/person/domicile/address", "/person/phone"


def test_changed_pointers_are_the_deepest_differences() -> None:
    old = {"person": {"phone": "1", "domicile": {"address": "a", "regency_code": "3171"}}}
    new = copy.deepcopy(old)
    assert changed_pointers(old, new) == set()
    new["person"]["domicile"]["address"] = "b"
    assert changed_pointers(old, new) == {ADDRESS}
    assert still_pending([ADDRESS, PHONE], {ADDRESS}) == [PHONE]
    assert still_pending(["/person/domicile"], {ADDRESS}) == []  # inside the named field
    assert still_pending([ADDRESS], {"/person"}) == []  # the whole person replaced
    assert changed_pointers({"x": [1, 2]}, {"x": [1, 3]}) == {"/x/1"}
    assert changed_pointers({"x": [1, 2]}, {"x": [1]}) == {"/x"}


def test_pointers_must_name_case_data() -> None:
    assert pointer_errors([ADDRESS, "/release/date", "/in_custody_programmes/0/name"]) == []
    bad = pointer_errors(["/status", "person/phone", "/person/", "/Person", "/needs/x y"])
    assert [e.pointer for e in bad] == [f"/fields/{n}" for n in range(5)]


def later(event: dict[str, Any], minutes: int, **changes: Any) -> dict[str, Any]:
    """A `case.updated` of the same case, `minutes` after it, with `changes` applied."""
    out = copy.deepcopy(event)
    out["event_id"] = f"{event['event_id']}-U{minutes}"
    out["event_type"] = "case.updated"
    occurred = dt.datetime.fromisoformat(event["occurred_at"]) + dt.timedelta(minutes=minutes)
    out["occurred_at"] = occurred.isoformat()
    for path, value in changes.items():
        node = out
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return out


async def requests_of(
    http: httpx.AsyncClient, client: ApiClient, referral_id: str
) -> list[dict[str, Any]]:
    response = await http.get(
        f"/v1/referrals/{referral_id}/rectification-requests", headers=client.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("via_batch", [False, True])
async def test_a_request_is_resolved_once_the_prison_changed_every_named_field(
    http: httpx.AsyncClient, clients: Clients, facility: str, via_batch: bool
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    event = make_event(facility)
    rid = await post_event(http, prison, event)
    asked = await http.post(
        f"/v1/referrals/{rid}/rectification-requests",
        json={"fields": [ADDRESS, PHONE, ADDRESS], "detail": "Alamat dan nomor telepon berubah."},
        headers={**kemensos.headers, "X-Actor": "petugas"},
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["fields"] == [ADDRESS, PHONE] and request["pending_fields"] == [ADDRESS, PHONE]
    assert request["status"] == "open" and request["resolved_at"] is None
    assert request["requested_by"] == kemensos.client_id and request["actor"] == "petugas"

    async def send(body: dict[str, Any]) -> None:
        if via_batch:
            sent = await http.post(
                "/v1/release-events/batch", json={"events": [body]}, headers=prison.headers
            )
            assert sent.json()["results"][0]["status"] == 200, sent.text
        else:
            sent = await http.post("/v1/release-events", json=body, headers=prison.headers)
            assert sent.status_code == 200, sent.text

    # Another field changes: nothing resolved.
    await send(later(event, 1, needs__summary="Perlu pelatihan kerja"))
    (now,) = await requests_of(http, kemensos, rid)
    assert now["pending_fields"] == [ADDRESS, PHONE]
    await send(later(event, 2, person__domicile__address="Jl. Baru No. 2"))
    (now,) = await requests_of(http, kemensos, rid)
    assert now["pending_fields"] == [PHONE] and now["status"] == "open"
    await send(
        later(event, 3, person__domicile__address="Jl. Baru No. 2", person__phone="+628129999")
    )
    (now,) = await requests_of(http, prison, rid)
    assert now["pending_fields"] == [] and now["status"] == "resolved"
    assert now["resolved_at"] is not None and now["resolved_at"] >= request["requested_at"]
    # Resolved stays resolved; the prison can no longer decline it.
    declined = await http.post(
        f"/v1/referrals/{rid}/rectification-requests/{request['id']}/decline",
        json={"reason": "x"},
        headers=prison.headers,
    )
    assert_problem(declined, 409, "RECTIFICATION_CLOSED")

    feed = await http.get("/v1/referral-events", params={"limit": 500}, headers=kemensos.headers)
    assert feed.status_code == 200


async def test_the_request_emits_its_event_with_no_personal_data(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    rid = await post_event(http, prison, make_event(facility))
    version = (await http.get(f"/v1/referrals/{rid}", headers=kemensos.headers)).json()["version"]
    asked = await http.post(
        f"/v1/referrals/{rid}/rectification-requests",
        json={"fields": [PHONE], "detail": "Nomor salah."},
        headers=kemensos.headers,
    )
    assert asked.status_code == 201
    after = (await http.get(f"/v1/referrals/{rid}", headers=kemensos.headers)).json()
    assert after["version"] == version  # not a detail field
    events: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["after"] = cursor
        page = (await http.get("/v1/referral-events", params=params, headers=prison.headers)).json()
        events += [e for e in page["items"] if e["subject"] == rid]
        cursor = page["next_cursor"]
        if any(e["type"] == "referral.rectification_requested" for e in events):
            break
    (event,) = [e for e in events if e["type"] == "referral.rectification_requested"]
    assert event["data"]["rectification_request_id"] == asked.json()["id"]
    assert "Nomor" not in str(event)


async def test_who_may_ask_read_and_decline(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    sentra = await clients.sentra(code)
    stranger = await clients.sentra(sentra_code())
    other_prison = await clients.prison("LP-ELSEWHERE")
    bapas = await clients.bapas()
    rid = await post_event(http, prison, make_event(facility))
    url = f"/v1/referrals/{rid}/rectification-requests"
    body = {"fields": [ADDRESS], "detail": "Alamat salah."}
    assert (await http.post(url, json=body, headers=sentra.headers)).status_code == 404
    await drive(http, kemensos, rid, ["accept", "assign"], sentra=code)
    mine = await http.post(url, json=body, headers=sentra.headers)
    assert mine.status_code == 201, mine.text
    assert (await http.post(url, json=body, headers=stranger.headers)).status_code == 404
    for caller in (prison, bapas):
        assert (await http.post(url, json=body, headers=caller.headers)).status_code == 403
    assert (await http.get(url, headers=bapas.headers)).status_code == 403
    assert (await http.get(url, headers=other_prison.headers)).status_code == 404
    assert len(await requests_of(http, sentra, rid)) == 1

    bad = await http.post(url, json={"fields": ["/status"], "detail": "x"}, headers=sentra.headers)
    problem = assert_problem(bad, 422, "VALIDATION_FAILED")
    assert [(e["pointer"], e["code"]) for e in problem["errors"]] == [
        ("/fields/0", "INVALID_VALUE")
    ]
    assert (await http.post(url, json={"fields": [], "detail": "x"}, headers=sentra.headers)
            ).status_code == 422  # fmt: skip

    decline = f"{url}/{mine.json()['id']}/decline"
    assert (await http.post(decline, json={"reason": "x"}, headers=kemensos.headers)
            ).status_code == 403  # fmt: skip
    answered = await http.post(decline, json={"reason": "Sesuai register."}, headers=prison.headers)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "declined"
    assert answered.json()["decline_reason"] == "Sesuai register."
    again = await http.post(decline, json={"reason": "x"}, headers=prison.headers)
    assert_problem(again, 409, "RECTIFICATION_CLOSED")
    for missing in ("not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        gone = await http.post(f"{url}/{missing}/decline", json={"reason": "x"},
                               headers=prison.headers)  # fmt: skip
        assert_problem(gone, 404, "RECTIFICATION_NOT_FOUND")

    auditor = await clients.make("auditor")
    log = await http.get("/v1/audit-events", params={"referral_id": rid}, headers=auditor.headers)
    actions = [(i["action"], i["outcome"]) for i in log.json()["items"]]
    assert ("referral.rectification_request", "success") in actions
    assert ("referral.rectification_request", "VALIDATION_FAILED") in actions
    assert ("referral.rectification_decline", "success") in actions
    assert ("referral.rectification_decline", "RECTIFICATION_CLOSED") in actions
    assert ("referral.rectification_requests.read", "success") in actions
