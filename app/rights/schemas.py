"""Bodies and answers of the person's rights (SPEC §12)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import Field

from app.aftercare.schemas import FollowUpOut
from app.core.schemas import FreeText, ResponseModel, StrictBody
from app.intake.schemas import EvidenceRef, Timestamp
from app.referrals.schemas import HistoryEntry, ReferralDetail
from app.rehab.schemas import (
    AppointmentOut,
    AssessmentOut,
    NoteOut,
    PlanOut,
    ReportOut,
    ServiceOut,
)


class SubjectSearch(StrictBody):
    nik: Annotated[
        str,
        Field(
            max_length=32,
            description="The person's NIK: 16 digits (`INVALID_NIK` otherwise). In the body, "
            "never in a URL, so that it stays out of access logs.",
            json_schema_extra={"pattern": "^[0-9]{16}$"},
            examples=["3171014203900001"],
        ),
    ]


class SubjectDisclosure(ResponseModel):
    client_id: uuid.UUID | None = Field(description="Null: the operator's CLI.")
    client_name: str | None
    via: list[str] = Field(
        description="How: `detail`, `list`, `export`, `history`, `record`, `subject_access`."
    )
    first_at: dt.datetime
    last_at: dt.datetime
    count: int = Field(description="How many audited requests showed it to this client.")


class SubjectRecord(ResponseModel):
    """The referral's rehabilitation record (SPEC §10) and aftercare (§11), whole."""

    assessments: list[AssessmentOut]
    plan: PlanOut | None
    appointments: list[AppointmentOut]
    services: list[ServiceOut]
    notes: list[NoteOut] = Field(description="Every note, whatever its audience.")
    report: ReportOut | None = Field(description="Null before the referral is closed.")
    follow_ups: list[FollowUpOut]


class SubjectReferral(ResponseModel):
    referral: ReferralDetail = Field(description="The referral whole, as Kemensos reads it.")
    history: list[HistoryEntry]
    record: SubjectRecord
    disclosures: list[SubjectDisclosure] = Field(
        description="Every client shown this referral, from the audit log (this access not "
        "included)."
    )


class SubjectAccess(ResponseModel):
    items: list[SubjectReferral]


class RectificationCreate(StrictBody):
    fields: Annotated[
        list[Annotated[str, Field(max_length=200)]], Field(min_length=1, max_length=20)
    ] = Field(
        description="JSON pointers into the detail's case data (`/person/phone`, "
        "`/release/date`); the first part one of the case data's fields (`INVALID_VALUE`).",
        examples=[["/person/domicile/address", "/person/phone"]],
    )
    detail: FreeText = Field(
        description="What is wrong, as the person said it. Keep health details out."
    )


class RectificationDecline(StrictBody):
    reason: FreeText = Field(description="Why the prison's data is right.")


class RectificationOut(ResponseModel):
    id: uuid.UUID
    referral_id: uuid.UUID
    fields: list[str]
    pending_fields: list[str] = Field(
        description="The named fields no applied event has changed yet."
    )
    detail: str | None = Field(description="Null once erased (a consent withdrawal, retention).")
    status: str = Field(description="`open`, `resolved` or `declined`.")
    requested_by: uuid.UUID = Field(description="The client that asked.")
    actor: str | None
    requested_at: dt.datetime
    resolved_at: dt.datetime | None = Field(
        description="Set once every named field has changed through applied events "
        "(the prison's `case.updated`) since the request."
    )
    declined_at: dt.datetime | None
    decline_reason: str | None

    @classmethod
    def of(cls, row: Any, *, detail: str | None, decline_reason: str | None) -> RectificationOut:
        return cls(
            id=row.id,
            referral_id=row.referral_id,
            fields=row.fields,
            pending_fields=row.pending,
            detail=detail,
            status=row.status,
            requested_by=row.client_id,
            actor=row.actor,
            requested_at=row.requested_at,
            resolved_at=row.resolved_at,
            declined_at=row.declined_at,
            decline_reason=decline_reason,
        )


class ConsentWithdrawalCreate(StrictBody):
    withdrawn_at: Timestamp = Field(
        strict=False,  # FastAPI parses the body in Python mode (app/core/schemas.py)
        description="When the person withdrew consent, RFC 3339 with offset; not in the future "
        "(5 minutes of clock skew: `INVALID_DATE`).",
    )
    evidence_ref: EvidenceRef = Field(
        description="The reference of the signed withdrawal or its recording, kept as "
        "evidence like the consent's own: 1-128 printable characters."
    )
