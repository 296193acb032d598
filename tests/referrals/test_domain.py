"""SPEC §4 lifecycle and derived fields (app/referrals/domain.py): pure, no I/O."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from app.auth.roles import Role
from app.reference.coverage import SentraCoverage, suggest_sentra
from app.referrals.domain import (
    Action,
    Command,
    CustodyStatus,
    LifecycleState,
    Status,
    age_on,
    allowed_actions,
    apply,
    command_errors,
    handover_date,
    is_child,
    is_overdue,
    refusal,
    responsible_agency,
    role_may,
    state_allows,
    triage_due_at,
)

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
TODAY = NOW.astimezone(JAKARTA).date()  # 2026-11-30
TRIAGE_DAYS = 14

# ---------------------------------------------------------------------------------------
# The expected lifecycle, written from the SPEC §4 table (not from LIFECYCLE).

STATUSES = [
    "received",
    "accepted",
    "assigned",
    "in_service",
    "on_hold",
    "closed",
    "rejected",
    "cancelled",
]
ROLES = ["prison", "kemensos", "sentra", "bapas", "auditor", "admin"]
ACTIONS = [
    "accept",
    "reject",
    "assign",
    "return",
    "start_service",
    "hold",
    "resume",
    "close",
    "cancel",
]

# action: (from states, to state or None for "the state it was held from", roles)
SPEC_TABLE: dict[str, tuple[set[str], str | None, set[str]]] = {
    "accept": ({"received"}, "accepted", {"kemensos"}),
    "reject": ({"received", "accepted"}, "rejected", {"kemensos"}),
    "assign": ({"accepted", "assigned"}, "assigned", {"kemensos"}),
    "return": ({"assigned"}, "accepted", {"sentra", "kemensos"}),
    "start_service": ({"assigned"}, "in_service", {"sentra", "kemensos"}),
    "hold": ({"accepted", "assigned", "in_service"}, "on_hold", {"sentra", "kemensos"}),
    "resume": ({"on_hold"}, None, {"sentra", "kemensos"}),
    "close": ({"assigned", "in_service", "on_hold"}, "closed", {"sentra", "kemensos"}),
    "cancel": ({"received", "accepted", "assigned"}, "cancelled", {"kemensos", "prison"}),
}

# A valid command for each action (the "needs" column).
VALID_FIELDS: dict[str, dict[str, str]] = {
    "accept": {},
    "reject": {"reason_code": "not_eligible"},
    "assign": {"sentra_code": "S-HANDAYANI"},
    "return": {"reason_code": "no_capacity"},
    "start_service": {},
    "hold": {"reason_code": "hospitalised"},
    "resume": {},
    "close": {"outcome": "completed"},
    "cancel": {"reason_code": "duplicate"},
}
ACTIVE_SENTRA = ["S-HANDAYANI", "S-KARTINI"]
HELD_FROM = "assigned"  # on_hold states below were held from here


def state(
    status: str,
    custody: CustodyStatus = CustodyStatus.released,
    sentra: str | None = "S-KARTINI",
    held_from: str | None = None,
) -> LifecycleState:
    if status == "on_hold" and held_from is None:
        held_from = HELD_FROM
    return LifecycleState(
        status=Status(status),
        custody_status=custody,
        sentra_code=sentra,
        held_from_status=Status(held_from) if held_from else None,
    )


def command(action: str, **fields: str | None) -> Command:
    merged: dict[str, str | None] = {**VALID_FIELDS[action], **fields}
    return Command(action=Action(action), **merged)


def expected_allowed(status: str, role: str) -> list[str]:
    return [a for a in ACTIONS if status in SPEC_TABLE[a][0] and role in SPEC_TABLE[a][2]]


def test_enumerations_match_spec() -> None:
    assert [s.value for s in Status] == STATUSES
    assert {r.value for r in Role} == set(ROLES)
    assert [a.value for a in Action] == ACTIONS


TRIPLES = list(itertools.product(STATUSES, ACTIONS, ROLES))


@pytest.mark.parametrize(("status", "action", "role"), TRIPLES)
def test_every_status_action_role(status: str, action: str, role: str) -> None:
    sources, target, roles = SPEC_TABLE[action]
    s = state(status)
    a = Action(action)
    r = Role(role)

    assert role_may(r, a) is (role in roles)
    assert state_allows(s, a) is (status in sources)
    assert (action in allowed_actions(s, r)) is (role in roles and status in sources)

    found = refusal(s, a, r)
    if status in sources:
        assert found is None
    else:
        assert found is not None
        assert found.code == "INVALID_TRANSITION"
        assert found.allowed_actions == expected_allowed(status, role)

    if status in sources and role in roles:
        cmd = command(action)
        assert command_errors(cmd, ACTIVE_SENTRA) == []
        after = apply(s, cmd)
        expected_target = target if target is not None else HELD_FROM
        assert after.status is Status(expected_target)
        assert after.custody_status is CustodyStatus.released


@pytest.mark.parametrize(("status", "role"), list(itertools.product(STATUSES, ROLES)))
def test_allowed_actions_per_status_and_role(status: str, role: str) -> None:
    assert allowed_actions(state(status), Role(role)) == expected_allowed(status, role)


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditor_and_admin_may_take_no_action(role: str) -> None:
    assert [a for a in Action if role_may(Role(role), a)] == []


@pytest.mark.parametrize("status", ["closed", "rejected", "cancelled"])
@pytest.mark.parametrize("role", ROLES)
def test_terminal_states_allow_nothing(status: str, role: str) -> None:
    assert allowed_actions(state(status), Role(role)) == []


# ---------------------------------------------------------------------------------------
# Specific transitions


@pytest.mark.parametrize("held_from", ["accepted", "assigned", "in_service"])
def test_hold_then_resume_returns_to_held_from(held_from: str) -> None:
    s = state(held_from)
    held = apply(s, command("hold", reason_code="relocated"))
    assert held.status is Status.on_hold
    assert held.held_from_status is Status(held_from)
    assert held.reason_code == "relocated"
    assert held.sentra_code == "S-KARTINI"
    resumed = apply(held, command("resume"))
    assert resumed.status is Status(held_from)
    assert resumed.sentra_code == "S-KARTINI"
    assert resumed.custody_status is CustodyStatus.released


def test_assign_sets_sentra_code() -> None:
    after = apply(state("accepted", sentra=None), command("assign", sentra_code="S-HANDAYANI"))
    assert after.status is Status.assigned
    assert after.sentra_code == "S-HANDAYANI"


def test_reassign_replaces_sentra_code() -> None:
    after = apply(
        state("assigned", sentra="S-KARTINI"), command("assign", sentra_code="S-HANDAYANI")
    )
    assert after.status is Status.assigned
    assert after.sentra_code == "S-HANDAYANI"


def test_return_clears_sentra_code() -> None:
    after = apply(state("assigned", sentra="S-KARTINI"), command("return"))
    assert after.status is Status.accepted
    assert after.sentra_code is None
    assert after.reason_code == "no_capacity"


def test_close_records_outcome() -> None:
    after = apply(state("in_service"), command("close", outcome="deceased"))
    assert after.status is Status.closed
    assert after.outcome == "deceased"


def test_reject_records_reason() -> None:
    after = apply(state("received", sentra=None), command("reject", reason_code="out_of_scope"))
    assert after.status is Status.rejected
    assert after.reason_code == "out_of_scope"


def test_apply_keeps_custody_status() -> None:
    s = state("received", custody=CustodyStatus.in_custody, sentra=None)
    assert apply(s, command("accept")).custody_status is CustodyStatus.in_custody


@pytest.mark.parametrize(
    "custody",
    [CustodyStatus.in_custody, CustodyStatus.release_cancelled, CustodyStatus.returned_to_custody],
)
@pytest.mark.parametrize("role", ["sentra", "kemensos"])
def test_start_service_may_come_before_release(custody: CustodyStatus, role: str) -> None:
    s = state("assigned", custody=custody)
    assert refusal(s, Action.start_service, Role(role)) is None
    assert state_allows(s, Action.start_service)
    assert allowed_actions(s, Role(role)) == expected_allowed("assigned", role)


def test_start_service_from_wrong_state_in_custody_is_invalid_transition() -> None:
    s = state("received", custody=CustodyStatus.in_custody, sentra=None)
    found = refusal(s, Action.start_service, Role.kemensos)
    assert found is not None
    assert found.code == "INVALID_TRANSITION"
    assert found.allowed_actions == ["accept", "reject", "cancel"]


def test_start_service_when_released() -> None:
    s = state("assigned", custody=CustodyStatus.released)
    assert refusal(s, Action.start_service, Role.sentra) is None
    assert apply(s, command("start_service")).status is Status.in_service


def test_invalid_transition_carries_allowed_actions() -> None:
    found = refusal(state("received", sentra=None), Action.close, Role.kemensos)
    assert found is not None
    assert found.code == "INVALID_TRANSITION"
    assert found.allowed_actions == ["accept", "reject", "cancel"]
    assert found.detail


def test_invalid_transition_allowed_actions_for_sentra_in_service() -> None:
    found = refusal(state("in_service"), Action.accept, Role.sentra)
    assert found is not None
    assert found.code == "INVALID_TRANSITION"
    assert found.allowed_actions == ["hold", "close"]


# ---------------------------------------------------------------------------------------
# command_errors: the action's required fields


def errs(cmd: Command) -> list[tuple[str, str | None]]:
    return [(e.code, e.pointer) for e in command_errors(cmd, ACTIVE_SENTRA)]


@pytest.mark.parametrize("action", ["reject", "return", "hold", "cancel"])
def test_reason_code_required(action: str) -> None:
    assert errs(command(action, reason_code=None)) == [("FIELD_REQUIRED", "/reason_code")]


@pytest.mark.parametrize("action", ["reject", "return", "hold", "cancel"])
def test_reason_code_must_be_in_its_list(action: str) -> None:
    assert errs(command(action, reason_code="bogus")) == [("INVALID_VALUE", "/reason_code")]


@pytest.mark.parametrize(
    ("action", "reasons"),
    [
        ("reject", ["not_eligible", "duplicate", "out_of_scope", "insufficient_data", "other"]),
        ("return", ["outside_coverage", "no_capacity", "other"]),
        ("hold", ["returned_to_custody", "hospitalised", "relocated", "other"]),
        (
            "cancel",
            ["release_cancelled", "parole_revoked", "duplicate", "entered_in_error", "other"],
        ),
    ],
)
def test_every_spec_reason_code_accepted(action: str, reasons: list[str]) -> None:
    for reason in reasons:
        assert errs(command(action, reason_code=reason)) == [], reason


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("reject", "no_capacity"),
        ("return", "not_eligible"),
        ("hold", "duplicate"),
        ("cancel", "hospitalised"),
    ],
)
def test_reason_code_of_another_action_refused(action: str, reason: str) -> None:
    assert errs(command(action, reason_code=reason)) == [("INVALID_VALUE", "/reason_code")]


def test_close_outcome_required() -> None:
    assert errs(command("close", outcome=None)) == [("FIELD_REQUIRED", "/outcome")]


def test_close_outcome_invalid() -> None:
    assert errs(command("close", outcome="finished")) == [("INVALID_VALUE", "/outcome")]


@pytest.mark.parametrize(
    "outcome",
    [
        "completed",
        "ended_early",
        "declined_by_person",
        "unreachable",
        "deceased",
        "returned_to_custody",
    ],
)
def test_close_outcomes_accepted(outcome: str) -> None:
    assert errs(command("close", outcome=outcome)) == []


def test_assign_sentra_required() -> None:
    assert errs(command("assign", sentra_code=None)) == [("FIELD_REQUIRED", "/sentra_code")]


def test_assign_unknown_or_inactive_sentra() -> None:
    assert errs(command("assign", sentra_code="S-TUTUP")) == [("UNKNOWN_SENTRA", "/sentra_code")]


@pytest.mark.parametrize("action", ["accept", "start_service", "resume", "close"])
def test_reason_code_not_taken(action: str) -> None:
    assert errs(command(action, reason_code="other")) == [("INVALID_VALUE", "/reason_code")]


@pytest.mark.parametrize("action", ["accept", "reject", "cancel", "hold"])
def test_outcome_not_taken(action: str) -> None:
    assert errs(command(action, outcome="completed")) == [("INVALID_VALUE", "/outcome")]


@pytest.mark.parametrize("action", ["accept", "return", "close"])
def test_sentra_code_not_taken(action: str) -> None:
    assert errs(command(action, sentra_code="S-KARTINI")) == [("INVALID_VALUE", "/sentra_code")]


def test_several_command_errors_together() -> None:
    cmd = Command(Action.close, reason_code="x", outcome=None, sentra_code="S-KARTINI")
    assert errs(cmd) == [
        ("INVALID_VALUE", "/reason_code"),
        ("FIELD_REQUIRED", "/outcome"),
        ("INVALID_VALUE", "/sentra_code"),
    ]


# ---------------------------------------------------------------------------------------
# Derived fields


D = dt.date


def test_handover_date_unsupervised_is_release_date() -> None:
    assert handover_date(D(2026, 11, 20), None) == D(2026, 11, 20)


def test_handover_date_supervised_is_supervision_end() -> None:
    assert handover_date(D(2026, 11, 20), D(2027, 6, 30)) == D(2027, 6, 30)


@pytest.mark.parametrize(
    ("custody", "handover", "expected"),
    [
        (CustodyStatus.in_custody, D(2026, 11, 1), "imipas"),
        (CustodyStatus.in_custody, D(2026, 12, 15), "imipas"),
        (CustodyStatus.release_cancelled, D(2026, 11, 1), "imipas"),
        (CustodyStatus.returned_to_custody, D(2026, 11, 1), "imipas"),
        (CustodyStatus.released, D(2026, 11, 20), "kemensos"),
        (CustodyStatus.released, TODAY, "kemensos"),
        (CustodyStatus.released, D(2026, 12, 1), "imipas"),  # under supervision
        (CustodyStatus.released, D(2027, 6, 30), "imipas"),
    ],
)
def test_responsible_agency(custody: CustodyStatus, handover: dt.date, expected: str) -> None:
    assert responsible_agency(custody, handover, TODAY) == expected


def test_responsible_agency_supervised_release_lifecycle() -> None:
    handover = handover_date(D(2026, 11, 20), D(2027, 6, 30))
    assert responsible_agency(CustodyStatus.released, handover, D(2027, 6, 29)) == "imipas"
    assert responsible_agency(CustodyStatus.released, handover, D(2027, 6, 30)) == "kemensos"


def test_triage_due_at() -> None:
    due = triage_due_at(D(2026, 11, 16), TRIAGE_DAYS, JAKARTA)
    assert due == dt.datetime(2026, 11, 30, 0, 0, tzinfo=JAKARTA)
    assert due.utcoffset() == dt.timedelta(hours=7)


@pytest.mark.parametrize(
    ("handover", "expected"),
    [
        (D(2026, 11, 15), True),
        (D(2026, 11, 16), True),  # due 2026-11-30 00:00 local; now is 10:00 local
        (D(2026, 11, 17), False),
        (D(2026, 12, 20), False),
    ],
)
def test_overdue_received(handover: dt.date, expected: bool) -> None:
    assert is_overdue(Status.received, handover, TRIAGE_DAYS, TODAY) is expected
    due = triage_due_at(handover, TRIAGE_DAYS, JAKARTA)
    assert (due < NOW) is expected


@pytest.mark.parametrize("status", [s for s in STATUSES if s != "received"])
def test_overdue_only_for_received(status: str) -> None:
    assert is_overdue(Status(status), D(2026, 1, 1), TRIAGE_DAYS, TODAY) is False


def test_overdue_respects_triage_days() -> None:
    assert is_overdue(Status.received, D(2026, 11, 25), 5, TODAY) is True
    assert is_overdue(Status.received, D(2026, 11, 26), 5, TODAY) is False


def test_age_and_child_derived() -> None:
    assert age_on(D(2008, 2, 29), D(2026, 3, 1)) == 18
    assert age_on(D(2008, 2, 29), D(2026, 2, 28)) == 17
    assert is_child(17) is True
    assert is_child(18) is False


def sentra(
    code: str, province: str, coverage: set[str] | None = None, active: bool = True
) -> SentraCoverage:
    return SentraCoverage(code, province, frozenset(coverage or set()), active)


def test_suggest_sentra_coverage_beats_province() -> None:
    registry = [
        sentra("A-PROV", "31"),
        sentra("Z-COVER", "32", {"3171", "3172"}),
    ]
    assert suggest_sentra(registry, "31", "3171") == "Z-COVER"


def test_suggest_sentra_lowest_code_among_coverage() -> None:
    registry = [
        sentra("S-C", "31", {"3171"}),
        sentra("S-A", "32", {"3171"}),
        sentra("S-B", "31", {"3171"}),
    ]
    assert suggest_sentra(registry, "31", "3171") == "S-A"


def test_suggest_sentra_falls_back_to_province() -> None:
    registry = [
        sentra("S-C", "31"),
        sentra("S-B", "31", {"3172"}),
        sentra("S-A", "32", {"3273"}),
    ]
    assert suggest_sentra(registry, "31", "3171") == "S-B"


def test_suggest_sentra_province_fallback_without_regency() -> None:
    registry = [sentra("S-A", "32", {"3171"}), sentra("S-B", "31")]
    assert suggest_sentra(registry, "31", None) == "S-B"


def test_suggest_sentra_none() -> None:
    registry = [sentra("S-A", "32", {"3273"})]
    assert suggest_sentra(registry, "31", "3171") is None
    assert suggest_sentra([], "31", "3171") is None


def test_suggest_sentra_ignores_inactive() -> None:
    registry = [
        sentra("S-A", "31", {"3171"}, active=False),
        sentra("S-B", "31", active=False),
        sentra("S-C", "31"),
    ]
    assert suggest_sentra(registry, "31", "3171") == "S-C"
    registry_all_inactive = [sentra("S-A", "31", {"3171"}, active=False)]
    assert suggest_sentra(registry_all_inactive, "31", "3171") is None


def test_suggest_sentra_accepts_a_generator() -> None:
    registry = (s for s in [sentra("S-B", "31"), sentra("S-A", "31", {"3171"})])
    assert suggest_sentra(registry, "31", "3171") == "S-A"
