"""Disclosure records (SPEC §8): list pages and exports record which referrals they showed,
one audit row per page; `GET /v1/audit-events/disclosures` answers the breach scope."""

from __future__ import annotations

import csv
import io
import random
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.audit.disclosures import aggregate, via_of
from app.core.audit import AUDIT_TABLE, pack_ids, unpack_ids
from app.referrals import portal
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.support.checks import assert_problem
from tests.support.referrals import act, new_referral


def test_ids_pack_into_16_bytes_each_and_back() -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    assert len(pack_ids(ids)) == 80 and unpack_ids(pack_ids(ids)) == ids


def test_actions_map_to_how_they_disclosed() -> None:
    assert via_of("referral.read") == "detail"
    assert via_of("referral.accept") == "detail"
    assert via_of("referrals.list") == "list"
    assert via_of("referrals.export.continued") == "export"
    assert via_of("referral.notes.read") == "record"
    assert via_of("subjects.access") == "subject_access"
    assert via_of("release_event.receive") is None
    assert via_of("client.create") is None


def test_aggregate_counts_each_showing_once_per_referral_and_client() -> None:
    a, b, client = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    from app.core.clock import utcnow

    t0 = utcnow()

    class Row:
        def __init__(self, action: str, referral_id: Any = None, disclosed: Any = None) -> None:
            self.at, self.client_id, self.action = t0, client, action
            self.referral_id, self.disclosed = referral_id, disclosed

    seen = aggregate(
        [
            Row("referrals.list", disclosed=pack_ids([a, b])),
            Row("referral.read", referral_id=a),
            Row("release_event.receive", referral_id=b),
        ]
    )
    assert seen[(a, client)].count == 2 and seen[(a, client)].vias() == ["detail", "list"]
    assert seen[(b, client)].count == 1 and seen[(b, client)].vias() == ["list"]


async def disclosures(
    http: httpx.AsyncClient, auditor: ApiClient, client_id: str, **params: Any
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        query = {"client_id": client_id, "limit": 3, **params}
        if cursor:
            query["cursor"] = cursor
        page = await http.get("/v1/audit-events/disclosures", params=query, headers=auditor.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        for item in body["items"]:
            assert item["referral_id"] not in out
            out[item["referral_id"]] = item
        cursor = body["next_cursor"]
        if cursor is None:
            return out


async def test_a_list_page_is_one_audit_row_holding_its_referrals(
    http: httpx.AsyncClient, clients: Clients, facility: str, services: Runtime
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    ids = [await new_referral(http, prison, facility) for _ in range(5)]
    page = await http.get(
        "/v1/referrals",
        params={"facility_code": facility, "limit": 3},
        headers=kemensos.headers,
    )
    assert page.status_code == 200
    shown = [i["id"] for i in page.json()["items"]]
    async with services.db.read_session() as session:
        rows = (
            await session.execute(
                select(AUDIT_TABLE.c.action, AUDIT_TABLE.c.disclosed).where(
                    AUDIT_TABLE.c.client_id == uuid.UUID(kemensos.client_id)
                )
            )
        ).all()
    assert [r.action for r in rows] == ["referrals.list"]
    assert [str(i) for i in unpack_ids(rows[0].disclosed)] == shown
    assert set(shown) <= set(ids)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_breach_scope_is_exactly_what_the_requests_showed(
    http: httpx.AsyncClient,
    clients: Clients,
    facility: str,
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A random sequence of reads by one client; the breach scope names every referral any
    answer showed, with how, and nothing else (another facility's referrals, refused
    reads, the change feed and the stats show none)."""
    monkeypatch.setattr(portal, "EXPORT_BATCH", 3)  # exports of several batches
    monkeypatch.setattr(portal, "EXPORT_LATER_BATCH", 2)
    rng = random.Random(seed)
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    auditor = await clients.make("auditor")
    ids = [await new_referral(http, prison, facility) for _ in range(8)]
    expected: dict[str, set[str]] = {}

    def saw(referral_id: str, via: str) -> None:
        expected.setdefault(referral_id, set()).add(via)

    for _ in range(12):
        op = rng.choice(["list", "detail", "history", "export", "accept", "refused", "feed"])
        if op == "list":
            params: dict[str, Any] = {"facility_code": facility, "limit": rng.randint(1, 4)}
            for _ in range(rng.randint(1, 3)):
                page = await http.get("/v1/referrals", params=params, headers=kemensos.headers)
                assert page.status_code == 200
                for item in page.json()["items"]:
                    saw(item["id"], "list")
                if not page.json()["next_cursor"]:
                    break
                params["cursor"] = page.json()["next_cursor"]
        elif op in ("detail", "history"):
            rid = rng.choice(ids)
            path = f"/v1/referrals/{rid}" + ("/history" if op == "history" else "")
            assert (await http.get(path, headers=kemensos.headers)).status_code == 200
            saw(rid, op)
        elif op == "export":
            sort = rng.choice(["created_at", "-created_at"])
            out = await http.get(
                "/v1/referrals/export.csv",
                params={"facility_code": facility, "sort": sort},
                headers=kemensos.headers,
            )
            assert out.status_code == 200
            for row in csv.DictReader(io.StringIO(out.text.lstrip("\ufeff"))):
                saw(row["id"], "export")
        elif op == "accept":
            rid = rng.choice(ids)
            answer = await act(http, kemensos, rid, "accept")
            saw(rid, "detail")  # the ETag read shows the detail
            if answer.status_code == 200:
                saw(rid, "detail")
        elif op == "refused":
            gone = await http.get(f"/v1/referrals/{uuid.uuid4()}", headers=kemensos.headers)
            assert gone.status_code == 404
        else:
            assert (await http.get("/v1/referral-events", headers=kemensos.headers)).is_success
            assert (
                await http.get("/v1/referrals/stats", headers=kemensos.headers)
            ).status_code == 200

    found = await disclosures(http, auditor, kemensos.client_id)
    assert {rid: set(item["via"]) for rid, item in found.items()} == expected
    assert list(found) == sorted(found, key=uuid.UUID)
    for item in found.values():
        assert item["first_at"] <= item["last_at"]


async def test_the_window_and_the_cursor(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    auditor = await clients.make("auditor")
    first, second = (
        await new_referral(http, prison, facility),
        await new_referral(http, prison, facility),
    )
    assert (await http.get(f"/v1/referrals/{first}", headers=kemensos.headers)).is_success
    log = await http.get(
        "/v1/audit-events", params={"client_id": kemensos.client_id}, headers=auditor.headers
    )
    (read,) = log.json()["items"]
    assert (await http.get(f"/v1/referrals/{second}", headers=kemensos.headers)).is_success
    assert set(await disclosures(http, auditor, kemensos.client_id)) == {first, second}
    assert set(await disclosures(http, auditor, kemensos.client_id, to=read["at"])) == set()
    after = await disclosures(http, auditor, kemensos.client_id, **{"from": read["at"]})
    assert set(after) == {first, second}
    other = await clients.kemensos()
    assert await disclosures(http, auditor, other.client_id) == {}

    one = await http.get(
        "/v1/audit-events/disclosures",
        params={"client_id": kemensos.client_id, "limit": 1},
        headers=auditor.headers,
    )
    cursor = one.json()["next_cursor"]
    assert cursor
    elsewhere = await http.get(
        "/v1/audit-events/disclosures",
        params={"client_id": other.client_id, "cursor": cursor},
        headers=auditor.headers,
    )
    assert_problem(elsewhere, 400, "INVALID_CURSOR")
    missing = await http.get("/v1/audit-events/disclosures", headers=auditor.headers)
    problem = assert_problem(missing, 422, "VALIDATION_FAILED")
    assert problem["errors"][0]["parameter"] == "client_id"
    for role in ("prison", "kemensos", "sentra"):
        caller = await clients.make(role)
        refused = await http.get(
            "/v1/audit-events/disclosures",
            params={"client_id": kemensos.client_id},
            headers=caller.headers,
        )
        assert refused.status_code == 403
