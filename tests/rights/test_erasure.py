"""The erasure shared by a consent withdrawal and retention (SPEC §12), as pure functions."""

from __future__ import annotations

import copy

from app.referrals import domain
from app.referrals.domain import CustodyStatus, LifecycleState, Status
from app.rights.erasure import anonymised, without_health_and_contact
from tests.factories import make_event


def case_of(event: dict[str, object]) -> dict[str, object]:
    keys = ("facility", "case_ref", "person", "release", "pas_categories", "ppks_types")
    more = ("needs", "in_custody_programmes", "consent")
    return {k: copy.deepcopy(event.get(k)) for k in (*keys, *more)}


def test_a_withdrawal_erases_health_contact_and_the_summary_not_the_identity() -> None:
    event = make_event()
    event["person"]["guardian"] = {"full_name": "Siti", "relationship": "ibu", "phone": "+6281"}
    case = case_of(event)
    before = copy.deepcopy(case)
    out = without_health_and_contact(case)
    assert case == before  # the input is not changed
    assert out["person"]["phone"] is None
    assert out["person"]["guardian"] == {"full_name": "Siti", "relationship": "ibu", "phone": None}
    assert out["needs"] == {"summary": None, "health": None}
    for kept in ("full_name", "nik", "birth_date", "domicile"):
        assert out["person"][kept] == before["person"][kept]  # type: ignore[index]
    assert out["release"] == before["release"] and out["consent"] == before["consent"]
    assert out["in_custody_programmes"] == [
        {**p, "name": None}
        for p in before["in_custody_programmes"]  # type: ignore[union-attr]
    ]


def test_a_case_without_needs_or_guardian_is_erased_too() -> None:
    case = case_of(make_event())
    case["needs"] = None
    out = without_health_and_contact(case)
    assert out["needs"] is None and out["person"]["guardian"] is None


def test_retention_also_removes_the_identity() -> None:
    out = anonymised(without_health_and_contact(case_of(make_event())))
    assert out["person"]["full_name"] == "" and out["person"]["nik"] is None
    assert out["person"]["birth_date"].endswith("-07-01")
    assert out["person"]["domicile"]["address"] is None


def test_a_withdrawal_closes_what_has_not_ended_and_leaves_what_has() -> None:
    for status in (Status.received, Status.accepted, Status.assigned, Status.in_service):
        state = LifecycleState(status, CustodyStatus.released, "S-1")
        after = domain.withdrawn(state)
        assert (after.status, after.outcome, after.sentra_code) == (
            Status.closed,
            "consent_withdrawn",
            "S-1",
        )
    held = LifecycleState(Status.on_hold, CustodyStatus.released, held_from_status=Status.assigned)
    assert domain.withdrawn(held).held_from_status is None
    for status in domain.TERMINAL:
        ended = LifecycleState(status, CustodyStatus.released, reason_code="duplicate")
        assert domain.withdrawn(ended) == ended
    assert "consent_withdrawn" not in domain.CLOSE_OUTCOMES  # never by `close`
