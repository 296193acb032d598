"""The rehabilitation record through HTTP (SPEC §10), on both databases: every rule with
its status, code and pointer; who reads and writes what; history, events, audit rows."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from tests.rehab.support import APPOINTMENT, ASSESSMENT, PLAN, Case, at, today
from tests.support.checks import assert_problem


def pointers(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["code"], e["pointer"]) for e in body["errors"]]


# Assessments


async def test_an_assessment_is_recorded_listed_and_shown_in_the_detail(case: Case) -> None:
    rid = await case.referral("assigned")
    version = int((await case.etag(rid)).strip('"'))
    posted = await case.post(rid, "assessments", ASSESSMENT, role="sentra")
    assert posted.status_code == 201, posted.text
    body = posted.json()
    assert body["needs"][0] == {
        "component": "hidup_layak",
        "level": "high",
        "note": "Belum punya KTP-el.",
    }
    assert body["needs"][1]["note"] is None
    assert body["identity_documents"] == {"ktp": "missing", "kk": "has", "akta_lahir": "unknown"}
    assert body["summary"] == "Kooperatif."
    second = await case.post(rid, "assessments", {**ASSESSMENT, "summary": "Kedua."})
    listed = (await case.get(rid, "assessments", role="sentra")).json()["items"]
    assert [a["summary"] for a in listed] == ["Kedua.", "Kooperatif."]  # newest first
    detail = await case.http.get(f"/v1/referrals/{rid}", headers=case.kemensos.headers)
    assert detail.json()["assessment"]["id"] == second.json()["id"]
    # The latest assessment is a detail field: each one is a new version.
    assert detail.json()["version"] == version + 2
    # The prison and the Bapas read no assessment, not even in the detail.
    for role in ("prison", "bapas"):
        mine = await case.http.get(f"/v1/referrals/{rid}", headers=case.by(role).headers)
        assert mine.json()["assessment"] is None


async def test_assessment_rules(case: Case) -> None:
    rid = await case.referral("in_service")
    future = (today() + dt.timedelta(days=1)).isoformat()
    twice = [{"component": "terapi", "level": "low"}, {"component": "terapi", "level": "high"}]
    refused = await case.post(
        rid, "assessments", {**ASSESSMENT, "assessed_on": future, "needs": twice}
    )
    body = assert_problem(refused, 422, "VALIDATION_FAILED")
    assert pointers(body) == [
        ("INVALID_DATE", "/assessed_on"),
        ("INVALID_VALUE", "/needs/1/component"),
    ]
    bad_level = await case.post(
        rid, "assessments", {**ASSESSMENT, "needs": [{"component": "terapi", "level": "x"}]}
    )
    assert pointers(assert_problem(bad_level, 422, "VALIDATION_FAILED"))[0][1] == "/needs/0/level"
    bad_component = await case.post(
        rid, "assessments", {**ASSESSMENT, "needs": [{"component": "nope", "level": "low"}]}
    )
    assert_problem(bad_component, 422, "VALIDATION_FAILED")
    bad_document = await case.post(
        rid,
        "assessments",
        {**ASSESSMENT, "identity_documents": {"ktp": "lost", "kk": "has", "akta_lahir": "has"}},
    )
    assert_problem(bad_document, 422, "VALIDATION_FAILED")
    unknown = await case.post(rid, "assessments", {**ASSESSMENT, "extra": 1})
    assert pointers(assert_problem(unknown, 422, "VALIDATION_FAILED")) == [
        ("UNKNOWN_FIELD", "/extra")
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [("assessments", ASSESSMENT), ("appointments", {**APPOINTMENT, "starts_at": at(days=1)})],
)
async def test_records_open_from_accepted_not_received(case: Case, path: str, body: Any) -> None:
    received = await case.referral("received")
    assert_problem(await case.post(received, path, body), 409, "INVALID_STATE")
    accepted = await case.referral("accepted")
    assert (await case.post(accepted, path, body)).status_code == 201
    on_hold = await case.referral("on_hold")
    assert (await case.post(on_hold, path, body)).status_code == 201


@pytest.mark.parametrize("state", ["closed", "rejected", "cancelled"])
async def test_a_terminal_referral_takes_notes_only(case: Case, state: str) -> None:
    rid = await case.referral(state)
    service = {"component": "terapi", "delivered_on": today().isoformat()}
    for path, body in (
        ("assessments", ASSESSMENT),
        ("appointments", {**APPOINTMENT, "starts_at": at(days=1)}),
        ("services", service),
    ):
        assert_problem(await case.post(rid, path, body), 409, "REFERRAL_ENDED")
    assert_problem(await case.put_plan(rid, PLAN), 409, "REFERRAL_ENDED")
    note = await case.post(rid, "notes", {"body": "Catatan akhir.", "audience": "all"})
    assert note.status_code == 201, note.text


async def test_the_order_of_the_checks(case: Case) -> None:
    closed = await case.referral("closed")
    # body (422) before visibility (404)
    assert_problem(
        await case.post(closed, "assessments", {}, role="other_prison"), 422, "VALIDATION_FAILED"
    )
    # visibility (404) before role (403)
    assert_problem(
        await case.post(closed, "assessments", ASSESSMENT, role="other_prison"),
        404,
        "REFERRAL_NOT_FOUND",
    )
    # role (403) before ended (409)
    assert_problem(
        await case.post(closed, "assessments", ASSESSMENT, role="prison"),
        403,
        "ROLE_NOT_PERMITTED",
    )
    # ended (409) before If-Match (428)
    rid = await case.referral("in_service")
    assert (await case.put_plan(rid, PLAN)).status_code == 200
    closed_with_plan = await case.close(rid, outcome="deceased")
    assert closed_with_plan.status_code == 200, closed_with_plan.text
    assert_problem(await case.put_plan(rid, PLAN), 409, "REFERRAL_ENDED")
    # If-Match (428) before the status (409)
    received = await case.referral("received")
    assert_problem(
        await case.put_plan(received, PLAN, if_match='"plan-9"'), 412, "VERSION_MISMATCH"
    )
    assert_problem(await case.put_plan(received, PLAN), 409, "INVALID_STATE")
    # a malformed id, and any id for a role that reads no referral: 404
    assert_problem(await case.get("not-an-id", "notes"), 404, "REFERRAL_NOT_FOUND")
    assert_problem(await case.get(rid, "notes", role="auditor"), 404, "REFERRAL_NOT_FOUND")


# The plan


async def test_the_plan_is_versioned_by_its_own_etag(case: Case) -> None:
    rid = await case.referral("assigned")
    assert_problem(await case.get(rid, "plan"), 404, "NO_PLAN")
    referral_version = await case.etag(rid)
    created = await case.put_plan(rid, PLAN, role="sentra")
    assert created.status_code == 200, created.text
    assert created.headers["ETag"] == '"plan-1"'
    goals = created.json()["goals"]
    assert [g["description"] for g in goals] == ["KTP-el terbit", "Pelatihan montir"]
    assert goals[0]["due_on"] == "2027-01-31"
    # plan changes leave the referral's version alone
    assert await case.etag(rid) == referral_version
    # later PUTs need If-Match
    assert_problem(await case.put_plan(rid, PLAN), 428, "PRECONDITION_REQUIRED")
    assert_problem(await case.put_plan(rid, PLAN, if_match="*"), 428, "PRECONDITION_REQUIRED")
    stale = await case.put_plan(rid, PLAN, if_match='"plan-7"')
    assert_problem(stale, 412, "VERSION_MISMATCH")
    assert stale.headers["ETag"] == '"plan-1"'
    # keep the first goal (by id, described anew), drop the second, add one
    keep = {**PLAN["goals"][0], "id": goals[0]["id"], "description": "KTP-el dan KK terbit"}
    new = {"component": "dukungan_keluarga", "description": "Kunjungan keluarga"}
    updated = await case.put_plan(rid, {"goals": [keep, new]}, if_match='"plan-1"')
    assert updated.status_code == 200, updated.text
    assert updated.headers["ETag"] == '"plan-2"'
    after = updated.json()["goals"]
    assert after[0]["id"] == goals[0]["id"]
    assert after[0]["description"] == "KTP-el dan KK terbit"
    assert after[1]["id"] not in {g["id"] for g in goals}
    # a PUT that changes nothing keeps the ETag
    same = [{k: g[k] for k in ("id", "component", "description", "due_on")} for g in after]
    unchanged = await case.put_plan(rid, {"goals": same}, if_match='"plan-2"')
    assert unchanged.status_code == 200 and unchanged.headers["ETag"] == '"plan-2"'
    read = await case.get(rid, "plan", role="sentra")
    assert read.headers["ETag"] == '"plan-2"' and read.json()["goals"] == after
    events = [e.type for e in await case.outbox(rid)]
    assert events.count("referral.plan_updated") == 2


async def test_plan_rules(case: Case) -> None:
    rid = await case.referral("in_service")
    first = (await case.put_plan(rid, PLAN)).json()["goals"]
    stranger = {**PLAN["goals"][0], "id": "0b6f2a4e-2d0c-4c55-9a55-3c1f0e2b7d11"}
    unknown = await case.put_plan(rid, {"goals": [stranger]}, if_match='"plan-1"')
    assert pointers(assert_problem(unknown, 422, "VALIDATION_FAILED")) == [
        ("UNKNOWN_GOAL", "/goals/0/id")
    ]
    twice = {**PLAN["goals"][0], "id": first[0]["id"]}
    repeated = await case.put_plan(rid, {"goals": [twice, twice]}, if_match='"plan-1"')
    assert pointers(assert_problem(repeated, 422, "VALIDATION_FAILED")) == [
        ("INVALID_VALUE", "/goals/1/id")
    ]
    for goals in ([], [PLAN["goals"][1]] * 21):
        assert_problem(
            await case.put_plan(rid, {"goals": goals}, if_match='"plan-1"'),
            422,
            "VALIDATION_FAILED",
        )
    assert (await case.get(rid, "plan")).headers["ETag"] == '"plan-1"'


# Appointments and attendance


async def test_appointments_and_the_next_one(case: Case) -> None:
    rid = await case.referral("in_service")
    version = await case.etag(rid)
    past = await case.post(rid, "appointments", {**APPOINTMENT, "starts_at": at(days=-2)})
    assert past.status_code == 201, past.text
    assert past.json()["attendance"] is None
    assert past.json()["location"] == {"kind": "sentra", "detail": "Ruang layanan 2"}
    assert await case.etag(rid) == version  # a past appointment is no next appointment
    later = await case.post(rid, "appointments", {**APPOINTMENT, "starts_at": at(days=9)})
    sooner = await case.post(
        rid, "appointments", {"location": {"kind": "home"}, "starts_at": at(days=3)}
    )
    detail = (await case.http.get(f"/v1/referrals/{rid}", headers=case.bapas.headers)).json()
    assert detail["next_appointment"]["id"] == sooner.json()["id"]
    assert detail["version"] == int(version.strip('"')) + 2
    # cancelling the next one moves `next_appointment` (before it starts: allowed)
    cancelled = await case.post(
        rid, f"appointments/{sooner.json()['id']}/attendance", {"attendance": "cancelled"}
    )
    assert cancelled.status_code == 200, cancelled.text
    detail = (await case.http.get(f"/v1/referrals/{rid}", headers=case.prison.headers)).json()
    assert detail["next_appointment"]["id"] == later.json()["id"]
    # the prison and the Bapas read the appointments, newest first
    for role in ("prison", "bapas", "sentra"):
        listed = await case.get(rid, "appointments", role=role)
        assert listed.status_code == 200, (role, listed.text)
        assert [a["id"] for a in listed.json()["items"]] == [
            sooner.json()["id"],
            later.json()["id"],
            past.json()["id"],
        ]


async def test_attendance_once_and_not_before_the_start(case: Case) -> None:
    rid = await case.referral("in_service")
    past = (await case.post(rid, "appointments", {**APPOINTMENT, "starts_at": at(hours=-1)})).json()
    future = (await case.post(rid, "appointments", {**APPOINTMENT, "starts_at": at(days=1)})).json()
    not_due = await case.post(
        rid, f"appointments/{future['id']}/attendance", {"attendance": "attended"}
    )
    assert_problem(not_due, 409, "APPOINTMENT_NOT_DUE")
    missed = await case.post(
        rid, f"appointments/{past['id']}/attendance", {"attendance": "missed", "note": "Sakit."}
    )
    assert missed.status_code == 200, missed.text
    assert missed.json()["attendance"] == "missed"
    assert missed.json()["attendance_note"] == "Sakit."
    again = await case.post(
        rid, f"appointments/{past['id']}/attendance", {"attendance": "attended"}
    )
    assert_problem(again, 409, "ATTENDANCE_RECORDED")
    await case.post(rid, f"appointments/{future['id']}/attendance", {"attendance": "cancelled"})
    # ATTENDANCE_RECORDED comes before APPOINTMENT_NOT_DUE
    twice = await case.post(rid, f"appointments/{future['id']}/attendance", {"attendance": "late"})
    assert_problem(twice, 409, "ATTENDANCE_RECORDED")
    assert_problem(
        await case.post(rid, "appointments/00000000-0000-0000-0000-000000000000/attendance",
                        {"attendance": "late"}),
        404,
        "APPOINTMENT_NOT_FOUND",
    )  # fmt: skip
    other = await case.referral("in_service")
    assert_problem(
        await case.post(other, f"appointments/{past['id']}/attendance", {"attendance": "late"}),
        404,
        "APPOINTMENT_NOT_FOUND",
    )
    bad = await case.post(rid, f"appointments/{past['id']}/attendance", {"attendance": "maybe"})
    assert_problem(bad, 422, "VALIDATION_FAILED")
    assert_problem(
        await case.post(rid, f"appointments/{past['id']}/attendance", {"attendance": "late"},
                        role="prison"),
        403,
        "ROLE_NOT_PERMITTED",
    )  # fmt: skip
    types = [e.type for e in await case.outbox(rid)]
    assert types.count("referral.appointment_missed") == 1
    assert types.count("referral.attendance_recorded") == 1  # the cancellation
    assert types.count("referral.appointment_scheduled") == 2


async def test_appointment_body_rules(case: Case) -> None:
    rid = await case.referral("in_service")
    for body in (
        {**APPOINTMENT, "starts_at": "2026-12-15T09:00:00"},  # no offset
        {**APPOINTMENT, "starts_at": at(days=1), "location": {"kind": "kantor"}},
        {"starts_at": at(days=1)},
    ):
        assert_problem(await case.post(rid, "appointments", body), 422, "VALIDATION_FAILED")


# Services


async def test_services_while_in_service(case: Case) -> None:
    rid = await case.referral("in_service")
    goal = (await case.put_plan(rid, PLAN)).json()["goals"][0]["id"]
    delivered = await case.post(
        rid,
        "services",
        {"component": "hidup_layak", "delivered_on": today().isoformat(), "goal_id": goal,
         "description": "Pendampingan ke Disdukcapil"},
        role="sentra",
    )  # fmt: skip
    assert delivered.status_code == 201, delivered.text
    assert delivered.json()["goal_id"] == goal
    listed = await case.get(rid, "services", role="sentra")
    assert [s["description"] for s in listed.json()["items"]] == ["Pendampingan ke Disdukcapil"]
    for role in ("prison", "bapas"):
        assert_problem(await case.get(rid, "services", role=role), 403, "ROLE_NOT_PERMITTED")
    # a goal removed from the plan stays on its services
    await case.put_plan(rid, {"goals": [PLAN["goals"][1]]}, if_match='"plan-1"')
    kept = (await case.get(rid, "services")).json()["items"][0]
    assert kept["goal_id"] == goal


async def test_service_rules(case: Case) -> None:
    rid = await case.referral("in_service")
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    refused = await case.post(
        rid,
        "services",
        {"component": "terapi", "delivered_on": tomorrow,
         "goal_id": "0b6f2a4e-2d0c-4c55-9a55-3c1f0e2b7d11"},
    )  # fmt: skip
    assert pointers(assert_problem(refused, 422, "VALIDATION_FAILED")) == [
        ("INVALID_DATE", "/delivered_on"),
        ("UNKNOWN_GOAL", "/goal_id"),
    ]
    before = await case.post(rid, "services", {"component": "terapi", "delivered_on": "2020-01-01"})
    assert pointers(assert_problem(before, 422, "VALIDATION_FAILED")) == [
        ("INVALID_DATE", "/delivered_on")
    ]
    for state in ("accepted", "assigned", "on_hold"):
        other = await case.referral(state)
        assert_problem(
            await case.post(other, "services", {"component": "terapi",
                                                "delivered_on": today().isoformat()}),
            409,
            "INVALID_STATE",
        )  # fmt: skip


# Notes


async def test_notes_and_their_audiences(case: Case) -> None:
    rid = await case.referral("assigned")
    for role, audience in (("prison", "all"), ("bapas", "all"), ("kemensos", "kemensos")):
        written = await case.post(
            rid, "notes", {"body": f"Catatan {role}.", "audience": audience}, role=role
        )
        assert written.status_code == 201, written.text
        body = written.json()
        assert set(body) == {"id", "at", "client", "client_name", "actor", "audience", "body"}
        assert body["body"] == f"Catatan {role}."
    for role in ("prison", "bapas"):
        refused = await case.post(
            rid, "notes", {"body": "Rahasia.", "audience": "kemensos"}, role=role
        )
        assert pointers(assert_problem(refused, 422, "VALIDATION_FAILED")) == [
            ("INVALID_VALUE", "/audience")
        ]
        seen = (await case.get(rid, "notes", role=role)).json()["items"]
        assert [n["body"] for n in seen] == ["Catatan bapas.", "Catatan prison."]
    for role in ("kemensos", "sentra"):
        seen = (await case.get(rid, "notes", role=role)).json()["items"]
        assert [n["body"] for n in seen] == [
            "Catatan kemensos.",
            "Catatan bapas.",
            "Catatan prison.",
        ]
    assert_problem(await case.get(rid, "notes", role="other_prison"), 404, "REFERRAL_NOT_FOUND")
    assert_problem(await case.get(rid, "notes", role="other_sentra"), 404, "REFERRAL_NOT_FOUND")
    # a sentra assigned later reads the earlier `kemensos` notes
    tag = await case.etag(rid)
    reassigned = await case.http.post(
        f"/v1/referrals/{rid}/transitions",
        json={"action": "assign", "sentra_code": case.other_sentra.sentra_codes[0]},
        headers={**case.kemensos.headers, "If-Match": tag},
    )
    assert reassigned.status_code == 200, reassigned.text
    later = (await case.get(rid, "notes", role="other_sentra")).json()["items"]
    assert [n["audience"] for n in later] == ["kemensos", "all", "all"]


async def test_note_body_rules(case: Case) -> None:
    rid = await case.referral("accepted")
    for body in (
        {"body": "", "audience": "all"},
        {"body": "x" * 4001, "audience": "all"},
        {"body": "a\x00b", "audience": "all"},
        {"body": "ok", "audience": "semua"},
        {"body": "ok"},
    ):
        assert_problem(await case.post(rid, "notes", body), 422, "VALIDATION_FAILED")
    longest = await case.post(rid, "notes", {"body": "x" * 3999 + "\n", "audience": "all"})
    assert longest.status_code == 201, longest.text


async def test_a_note_about_kemensos_reaches_only_kemensos_and_the_sentra(case: Case) -> None:
    rid = await case.referral("assigned")
    await case.post(rid, "notes", {"body": "Hanya Kemensos.", "audience": "kemensos"})
    await case.post(rid, "notes", {"body": "Untuk semua.", "audience": "all"})

    async def feed(role: str) -> list[str]:
        """The caller's feed of this referral, once the feed has passed both notes: it holds
        back events while an older transaction (another test's) may still commit."""
        last = (await case.outbox(rid))[-1].event_id
        for _ in range(200):
            got = await case.http.get(
                "/v1/referral-events", params={"limit": 500}, headers=case.by(role).headers
            )
            assert got.status_code == 200, got.text
            items = got.json()["items"]
            mine = [e["type"] for e in items if e["data"]["referral_id"] == rid]
            if role in ("kemensos", "sentra") and str(last) in {e["id"] for e in items}:
                return mine
            if mine.count("referral.note_added") >= 1 and role not in ("kemensos", "sentra"):
                return mine
            await asyncio.sleep(0.05)
        raise AssertionError(f"the feed of {role} never reached the notes")

    assert (await feed("sentra")).count("referral.note_added") == 2
    # once the sentra's feed holds both notes, the others' feeds have passed them too
    assert (await feed("prison")).count("referral.note_added") == 1
    assert (await feed("bapas")).count("referral.note_added") == 1


# History, events and audit


async def test_each_write_has_its_history_event_and_audit_row(case: Case) -> None:
    rid = await case.referral("in_service")
    await case.post(rid, "assessments", ASSESSMENT)
    goal = (await case.put_plan(rid, PLAN)).json()["goals"][0]["id"]
    appointment = (
        await case.post(rid, "appointments", {**APPOINTMENT, "starts_at": at(minutes=-5)})
    ).json()
    await case.post(rid, f"appointments/{appointment['id']}/attendance", {"attendance": "late"})
    await case.post(
        rid,
        "services",
        {"component": "hidup_layak", "delivered_on": today().isoformat(), "goal_id": goal},
    )
    note = (await case.post(rid, "notes", {"body": "Catatan.", "audience": "all"})).json()
    history = [h for h in await case.history(rid) if h.event_type is None][-6:]
    assert [h.action for h in history] == [
        "assessment", "plan", "appointment", "attendance", "service", "note",
    ]  # fmt: skip
    assert all(h.note is None for h in history)  # no free text in history
    assert all(h.from_status == h.to_status == "in_service" for h in history)
    events = [e for e in await case.outbox(rid)][-6:]
    assert [e.type for e in events] == [
        "referral.assessment_recorded",
        "referral.plan_updated",
        "referral.appointment_scheduled",
        "referral.attendance_recorded",
        "referral.service_recorded",
        "referral.note_added",
    ]
    assert events[2].data["appointment_id"] == appointment["id"]
    assert events[5].data["note_id"] == note["id"]
    for kind in ("assessments", "plan", "appointments", "services", "notes"):
        assert (await case.get(rid, kind)).status_code == 200
    actions = [a for a, _ in await case.audit(rid)]
    for action in (
        "referral.assessment", "referral.plan", "referral.appointment", "referral.attendance",
        "referral.service", "referral.note", "referral.assessments.read", "referral.plan.read",
        "referral.appointments.read", "referral.services.read", "referral.notes.read",
    ):  # fmt: skip
        assert action in actions, action
    # a refused write is audited too, with its problem code
    await case.post(rid, "notes", {"body": "x", "audience": "kemensos"}, role="prison")
    assert ("referral.note", "VALIDATION_FAILED") in await case.audit(rid)


# The report and the close


async def test_close_needs_the_report_for_completed_and_ended_early(case: Case) -> None:
    rid = await case.referral("in_service")
    for outcome in ("completed", "ended_early"):
        refused = await case.close(rid, outcome=outcome)
        assert pointers(assert_problem(refused, 422, "VALIDATION_FAILED")) == [
            ("REPORT_REQUIRED", "/report")
        ]
    goals = (await case.put_plan(rid, PLAN)).json()["goals"]
    partial = {"summary": "Sebagian.", "goals": [{"goal_id": goals[0]["id"], "result": "achieved"}]}
    incomplete = await case.close(rid, report=partial)
    assert pointers(assert_problem(incomplete, 422, "VALIDATION_FAILED")) == [
        ("REPORT_INCOMPLETE", "/report/goals")
    ]
    stray = {"summary": "x", "goals": [{"goal_id": "0b6f2a4e-2d0c-4c55-9a55-3c1f0e2b7d11",
                                        "result": "achieved"}]}  # fmt: skip
    unknown = await case.close(rid, outcome="ended_early", report=stray)
    assert ("UNKNOWN_GOAL", "/report/goals/0/goal_id") in pointers(unknown.json())
    bad_result = {"summary": "x", "goals": [{"goal_id": goals[0]["id"], "result": "great"}]}
    assert_problem(await case.close(rid, report=bad_result), 422, "VALIDATION_FAILED")
    # a report on another action is refused
    tag = await case.etag(rid)
    held = await case.http.post(
        f"/v1/referrals/{rid}/transitions",
        json={"action": "hold", "reason_code": "relocated", "report": {"summary": "x"}},
        headers={**case.kemensos.headers, "If-Match": tag},
    )
    assert ("INVALID_VALUE", "/report") in pointers(assert_problem(held, 422, "VALIDATION_FAILED"))
    assert_problem(await case.get(rid, "report"), 404, "NO_REPORT")


async def test_the_report_assembled_from_the_plan_the_services_and_the_close(case: Case) -> None:
    rid = await case.referral("in_service")
    goals = (await case.put_plan(rid, PLAN)).json()["goals"]
    for component in ("hidup_layak", "hidup_layak", "terapi"):
        await case.post(
            rid, "services", {"component": component, "delivered_on": today().isoformat()}
        )
    report = {
        "summary": "KTP-el terbit; pelatihan berjalan.",
        "goals": [
            {"goal_id": goals[1]["id"], "result": "partially_achieved"},
            {"goal_id": goals[0]["id"], "result": "achieved"},
        ],
    }
    closed = await case.close(rid, report=report)
    assert closed.status_code == 200, closed.text
    types = [e.type for e in await case.outbox(rid)]
    assert types[-2:] == ["referral.status_changed", "referral.report_published"]
    for role in ("prison", "bapas", "sentra", "kemensos"):
        read = await case.get(rid, "report", role=role)
        assert read.status_code == 200, (role, read.text)
        body = read.json()
        assert body["outcome"] == "completed" and body["closed_at"]
        assert body["summary"] == "KTP-el terbit; pelatihan berjalan."
        assert [(g["goal_id"], g["description"], g["result"]) for g in body["goals"]] == [
            (goals[0]["id"], "KTP-el terbit", "achieved"),
            (goals[1]["id"], "Pelatihan montir", "partially_achieved"),
        ]
        assert body["services"]["hidup_layak"] == 2 and body["services"]["terapi"] == 1
        assert body["services"]["aksesibilitas"] == 0
    assert_problem(await case.get(rid, "report", role="other_bapas"), 404, "REFERRAL_NOT_FOUND")
    assert ("referral.report.read", "success") in await case.audit(rid)


async def test_every_close_publishes_a_report(case: Case) -> None:
    rid = await case.referral("in_service")
    await case.put_plan(rid, PLAN)
    closed = await case.close(rid, outcome="unreachable")
    assert closed.status_code == 200, closed.text
    body = (await case.get(rid, "report", role="prison")).json()
    assert body == {
        "outcome": "unreachable",
        "closed_at": body["closed_at"],
        "summary": None,
        "goals": [],
        "services": body["services"],
    }
    assert [e.type for e in await case.outbox(rid)][-1] == "referral.report_published"
    # a report on another outcome is kept
    other = await case.referral("in_service")
    kept = await case.close(other, outcome="returned_to_custody", report={"summary": "Ditahan."})
    assert kept.status_code == 200, kept.text
    assert (await case.get(other, "report")).json()["summary"] == "Ditahan."


@pytest.mark.parametrize(
    ("path", "readers"),
    [
        ("assessments", {"kemensos", "sentra"}),
        ("plan", {"kemensos", "sentra"}),
        ("services", {"kemensos", "sentra"}),
        ("appointments", {"kemensos", "sentra", "prison", "bapas"}),
        ("notes", {"kemensos", "sentra", "prison", "bapas"}),
        ("report", {"kemensos", "sentra", "prison", "bapas"}),
    ],
)
async def test_who_reads_which_record(case: Case, path: str, readers: set[str]) -> None:
    """The role by own/other matrix of the record's reads."""
    rid = await case.referral("closed")  # closed: the report exists
    expected_own = {"plan": 404}  # a closed referral without a plan: NO_PLAN
    for role in ("kemensos", "sentra", "prison", "bapas"):
        got = await case.get(rid, path, role=role)
        want = expected_own.get(path, 200) if role in readers else 403
        assert got.status_code == want, (role, got.text)
    for role in ("other_prison", "other_sentra", "other_bapas", "auditor"):
        assert (await case.get(rid, path, role=role)).status_code == 404, role
