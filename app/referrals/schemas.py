"""Referral representations (responses) and the transition request."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field

from app.core.schemas import FreeText, ResponseModel, StrictBody
from app.referrals.domain import Action
from app.rehab.schemas import AppointmentOut, AssessmentOut, ReportRequest


class FacilityOut(ResponseModel):
    code: str
    name: str
    type: str


class ConsentWithdrawalOut(ResponseModel):
    withdrawn_at: dt.datetime = Field(description="When the person withdrew consent.")
    evidence_ref: str = Field(description="The reference of the signed form or recording.")


class ReferralDetail(ResponseModel):
    id: uuid.UUID
    status: str
    custody_status: str
    version: int
    sentra_code: str | None
    reason_code: str | None
    outcome: str | None
    facility: FacilityOut
    case_ref: str
    person: dict[str, Any] = Field(
        description="As in the event. For the assigned sentra and the supervising Bapas, "
        "`phone` and the guardian's `phone` are null unless the consent discloses contact "
        "data (`withheld_fields`)."
    )
    nik_masked: str | None
    release: dict[str, Any]
    pas_categories: list[str]
    ppks_types: list[int] = Field(description="PPKS-26 types refining the PAS categories.")
    needs: dict[str, Any] | None = Field(
        description="As in the event. For the assigned sentra and the supervising Bapas, "
        "`health` is null unless the consent discloses health data (`withheld_fields`)."
    )
    in_custody_programmes: list[dict[str, Any]]
    consent: dict[str, Any]
    responsible_agency: Literal["imipas", "kemensos"]
    handover_date: dt.date
    supervision_ended: bool = Field(
        description="A `supervision.ended` event came: Kemensos is responsible from "
        "`release.supervision_end_date`, which later events no longer move."
    )
    withheld_fields: list[str] = Field(
        description="JSON pointers of the fields withheld from the caller (null in this "
        "detail): `/needs/health`, `/person/phone`, `/person/guardian/phone` for the "
        "assigned sentra and the supervising Bapas, unless `consent.basis` is `public_task` "
        "or `consent.scope` holds `health` (resp. `contact`). `[]` when nothing is withheld."
    )
    consent_withdrawal: ConsentWithdrawalOut | None = Field(
        default=None,
        description="SPEC §12: the person withdrew consent (null: they have not). Health, "
        "phone numbers, the guardian's contact and every free text about the person are "
        "erased; events from the prison are recorded but no longer applied.",
    )
    triage_due_at: dt.datetime
    overdue: bool
    next_follow_up_due: dt.date | None = Field(
        description="Aftercare (a `completed` close): the earliest follow-up still due, 3, "
        "6 and 12 months after the local date of the close; null otherwise or after the "
        "third."
    )
    suggested_sentra_code: str | None = Field(
        description="The active sentra whose coverage holds the domicile regency, else one "
        "located in the province, else null; the lowest code when several match. A registry "
        "change shows here at once, or within 2 seconds when made through another replica."
    )
    age_at_release: int
    is_child: bool
    data_quality_flags: list[str]
    related_referral_ids: list[uuid.UUID]
    assessment: AssessmentOut | None = Field(
        description="The latest assessment (§10); null without one, and for the prison and "
        "the Bapas (assessments stay with Kemensos and the assigned sentra)."
    )
    next_appointment: AppointmentOut | None = Field(
        description="The earliest appointment not yet started and not cancelled (§10)."
    )
    allowed_actions: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


class HistoryEntry(ResponseModel):
    at: dt.datetime
    action: str | None
    event_type: str | None
    event_id: str | None
    event_outcome: str | None
    from_status: str | None
    to_status: str | None
    custody_status: str | None
    client_id: uuid.UUID = Field(description="The API client that made the change.")
    client_name: str = Field(
        description="That client's name as the operators registered it (`Lapas Kelas I "
        "Cipinang SDP`), so that a portal can show who made each change: other roles cannot "
        "read the client registry."
    )
    client: uuid.UUID = Field(
        description="The same as `client_id`; kept for clients written before `client_id`."
    )
    actor: str | None
    reason_code: str | None
    outcome: str | None
    note: str | None
    sentra_code: str | None
    changed_fields: list[str]

    @classmethod
    def of(cls, row: Any, client_name: str, note: str | None) -> HistoryEntry:
        """The entry of a stored history row, its client named, its note opened."""
        return cls(
            at=row.at,
            action=row.action,
            event_type=row.event_type,
            event_id=row.event_id,
            event_outcome=row.event_outcome,
            from_status=row.from_status,
            to_status=row.to_status,
            custody_status=row.custody_status,
            client_id=row.client_id,
            client_name=client_name,
            client=row.client_id,
            actor=row.actor,
            reason_code=row.reason_code,
            outcome=row.outcome,
            note=note,
            sentra_code=row.sentra_code,
            changed_fields=row.changed_fields,
        )


class ReferralListItem(ResponseModel):
    """A referral in a list: no `needs`, the NIK masked to its province, and a child's
    identity minimised (SPEC §5)."""

    id: uuid.UUID
    status: str
    custody_status: str
    responsible_agency: Literal["imipas", "kemensos"]
    pas_categories: list[str]
    ppks_types: list[int]
    facility: FacilityOut
    case_ref: str
    full_name: str = Field(
        description="A child's (under 18 at release, or a case from an `lpka`/`lpas` "
        "facility, or a `diversi` release): the initials only (`B. S.`); the detail holds "
        "the whole name."
    )
    nik_masked: str | None = Field(
        description="The province digits only (`31**************`): beside the birth date, "
        "sex and domicile, any more digits would all but rebuild the NIK."
    )
    birth_date: dt.date | None = Field(description="Null for a child (see `full_name`).")
    birth_year: int
    sex: str
    domicile: dict[str, Any] = Field(description="A child's `address` is null.")
    release: dict[str, Any]
    handover_date: dt.date
    supervision_ended: bool
    sentra_code: str | None
    overdue: bool
    next_follow_up_due: dt.date | None = Field(
        description="The earliest aftercare follow-up still due (see the detail)."
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class ReferralPage(ResponseModel):
    items: list[ReferralListItem]
    next_cursor: str | None = Field(
        description="Pass back as `cursor` for the next page; null on the last page."
    )


class StatsGroup(ResponseModel):
    key: dict[str, str | int | None] = Field(
        description="One value per `group_by`, in its order (`ppks_type`: a number)."
    )
    count: int


class ReferralStats(ResponseModel):
    total: int = Field(description="Distinct referrals matching the filters.")
    groups: list[StatsGroup]


class TransitionRequest(StrictBody):
    action: Action = Field(strict=False)
    reason_code: str | None = Field(default=None, max_length=32)
    outcome: str | None = Field(default=None, max_length=32)
    sentra_code: str | None = Field(default=None, max_length=32)
    note: FreeText | None = None
    report: ReportRequest | None = Field(
        default=None,
        description="`close` only: the end-of-service report (§10), required for the outcomes "
        "`completed` and `ended_early` (`REPORT_REQUIRED`), with a `result` for every goal of "
        "the plan (`REPORT_INCOMPLETE`); kept on the other outcomes.",
    )


TRANSITION_EXAMPLES: dict[str, Any] = {
    "accept": {"summary": "Accept for triage", "value": {"action": "accept"}},
    "assign": {
        "summary": "Assign a sentra",
        "value": {"action": "assign", "sentra_code": "HANDAYANI", "note": "Domisili Jakarta Timur"},
    },
    "close": {
        "summary": "Close after service (selesai), with the end-of-service report",
        "value": {
            "action": "close",
            "outcome": "completed",
            "report": {
                "summary": "KTP-el dan KK terbit; klien bekerja di bengkel.",
                "goals": [
                    {"goal_id": "0b6f2a4e-2d0c-4c55-9a55-3c1f0e2b7d11", "result": "achieved"}
                ],
            },
        },
    },
    "close_unreachable": {
        "summary": "Close: the person cannot be reached (tidak dapat dihubungi)",
        "value": {"action": "close", "outcome": "unreachable"},
    },
}
