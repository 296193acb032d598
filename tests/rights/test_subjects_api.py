"""Subject access (SPEC §12): every episode of a NIK, whole, with who was shown it."""

from __future__ import annotations

import datetime as dt
import random

import httpx

from tests.conftest import Clients
from tests.factories import nik_for
from tests.rehab.support import ASSESSMENT
from tests.support.checks import assert_problem
from tests.support.referrals import act, new_referral

SEARCH = "/v1/subjects/search"


def fresh_nik() -> str:
    """A NIK no other test uses: a birth date of its own (the events give the same)."""
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=random.randint(0, 14_000))
    return nik_for(birth, "male", serial=random.randint(1, 9999))


def born(nik: str) -> str:
    day, month, year = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    return dt.date(1900 + year, month, day).isoformat()


async def test_a_nik_with_two_episodes_returns_both_whole_with_every_read(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    nik = fresh_nik()
    prison = await clients.prison(facility)
    officer = await clients.kemensos()
    portal = await clients.kemensos()
    first = await new_referral(
        http, prison, facility, person__nik=nik, person__birth_date=born(nik)
    )
    cancelled = await act(http, prison, first, "cancel")
    assert cancelled.status_code == 200, cancelled.text
    second = await new_referral(
        http, prison, facility, person__nik=nik, person__birth_date=born(nik)
    )
    other = await new_referral(http, prison, facility)  # another person
    # The second episode's record: a note and an assessment, written by another client.
    writer = await clients.kemensos()
    accepted = await act(http, writer, second, "accept")
    assert accepted.status_code == 200, accepted.text
    note = await http.post(
        f"/v1/referrals/{second}/notes",
        json={"body": "Sudah dihubungi.", "audience": "kemensos"},
        headers=writer.headers,
    )
    assert note.status_code == 201, note.text
    assessment = await http.post(
        f"/v1/referrals/{second}/assessments", json=ASSESSMENT, headers=writer.headers
    )
    assert assessment.status_code == 201, assessment.text

    # Reads of the episodes: a detail, a list page, an export, a history.
    assert (await http.get(f"/v1/referrals/{first}", headers=portal.headers)).is_success
    page = await http.get(
        "/v1/referrals", params={"facility_code": facility}, headers=portal.headers
    )
    assert {first, second, other} <= {i["id"] for i in page.json()["items"]}
    export = await http.get(
        "/v1/referrals/export.csv", params={"facility_code": facility}, headers=portal.headers
    )
    assert export.status_code == 200
    assert (await http.get(f"/v1/referrals/{second}/history", headers=prison.headers)).is_success

    found = await http.post(
        SEARCH, json={"nik": nik}, headers={**officer.headers, "X-Actor": "petugas.pelayanan"}
    )
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert [i["referral"]["id"] for i in items] == [first, second]
    for item in items:
        referral = item["referral"]
        assert referral["person"]["nik"] == nik  # whole: the NIK, health and phone
        assert referral["needs"]["health"]["napza_history"] is True
        assert referral["person"]["phone"] == "+6281200000001"
        assert referral["withheld_fields"] == []
        assert item["history"] and item["history"][0]["event_type"] == "release.completed"
    assert [h["action"] for h in items[0]["history"]][-1] == "cancel"
    # the record, whole: every note whatever its audience, the assessment; none on the first
    record = items[1]["record"]
    assert [n["body"] for n in record["notes"]] == ["Sudah dihubungi."]
    assert [a["id"] for a in record["assessments"]] == [assessment.json()["id"]]
    assert (record["plan"], record["report"], record["follow_ups"]) == (None, None, [])
    assert items[0]["record"]["notes"] == [] and items[0]["record"]["assessments"] == []

    def reads(item: dict[str, object]) -> dict[str | None, tuple[list[str], int]]:
        return {
            d["client_id"]: (d["via"], d["count"])
            for d in item["disclosures"]  # type: ignore[attr-defined]
        }

    one, two = reads(items[0]), reads(items[1])
    # The prison's cancel answered with the detail, after reading it for its ETag.
    assert one[prison.client_id] == (["detail"], 2)
    assert one[portal.client_id] == (["detail", "list", "export"], 3)
    assert two[portal.client_id] == (["list", "export"], 2)
    assert two[prison.client_id] == (["history"], 1)
    assert officer.client_id not in one
    names = {d["client_id"]: d["client_name"] for d in items[0]["disclosures"]}
    assert names[portal.client_id] == "test kemensos"

    # The access itself is audited, naming both episodes, and is a disclosure in turn.
    auditor = await clients.make("auditor")
    log = await http.get(
        "/v1/audit-events",
        params={"client_id": officer.client_id, "action": "subjects.access"},
        headers=auditor.headers,
    )
    (row,) = log.json()["items"]
    assert row["actor"] == "petugas.pelayanan" and row["outcome"] == "success"
    scope = await http.get(
        "/v1/audit-events/disclosures",
        params={"client_id": officer.client_id},
        headers=auditor.headers,
    )
    assert {(i["referral_id"], tuple(i["via"])) for i in scope.json()["items"]} == {
        (first, ("subject_access",)),
        (second, ("subject_access",)),
    }
    again = await http.post(
        SEARCH, json={"nik": nik}, headers={**portal.headers, "X-Actor": "petugas.lain"}
    )
    assert reads(again.json()["items"][0])[officer.client_id] == (["subject_access"], 1)


async def test_refusals(http: httpx.AsyncClient, clients: Clients, facility: str) -> None:
    officer = await clients.kemensos()
    actor = {**officer.headers, "X-Actor": "petugas"}
    no_actor = await http.post(SEARCH, json={"nik": fresh_nik()}, headers=officer.headers)
    problem = assert_problem(no_actor, 422, "ACTOR_REQUIRED")
    assert problem["errors"][0]["parameter"] == "X-Actor"
    assert_problem(await http.post(SEARCH, json={"nik": fresh_nik()}, headers=actor), 404,
                   "SUBJECT_NOT_FOUND")  # fmt: skip
    for bad in ("123", "31710112038500\uff101", "x" * 16):
        refused = await http.post(SEARCH, json={"nik": bad}, headers=actor)
        problem = assert_problem(refused, 422, "VALIDATION_FAILED")
        assert [(e["pointer"], e["code"]) for e in problem["errors"]] == [("/nik", "INVALID_NIK")]
    extra = await http.post(SEARCH, json={"nik": fresh_nik(), "name": "x"}, headers=actor)
    assert_problem(extra, 422, "VALIDATION_FAILED")
    in_query = await http.post(SEARCH, params={"nik": fresh_nik()}, json={}, headers=actor)
    assert in_query.status_code == 422
    for role in ("prison", "sentra", "auditor", "admin", "bapas"):
        caller = await clients.make(role)
        refused = await http.post(
            SEARCH, json={"nik": fresh_nik()}, headers={**caller.headers, "X-Actor": "x"}
        )
        assert refused.status_code == 403, role
    # Refusals are audited too, with their code.
    auditor = await clients.make("auditor")
    log = await http.get(
        "/v1/audit-events",
        params={"client_id": officer.client_id, "action": "subjects.access"},
        headers=auditor.headers,
    )
    outcomes = [i["outcome"] for i in log.json()["items"]]
    assert outcomes[:2] == ["ACTOR_REQUIRED", "SUBJECT_NOT_FOUND"]
