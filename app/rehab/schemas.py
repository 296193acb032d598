"""Bodies and answers of the rehabilitation record (SPEC §10)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import Field

from app.core.schemas import FreeText, ResponseModel, StrictBody, Text500, TextRule
from app.intake.schemas import Timestamp
from app.reference.catalogue import AtensiComponent
from app.rehab.domain import (
    MAX_GOALS,
    Attendance,
    Audience,
    DocumentStatus,
    GoalResult,
    Level,
    LocationKind,
)

# FastAPI validates parsed JSON in Python mode: enums, dates and ids need strict=False
# (see StrictBody).
Component = Annotated[
    AtensiComponent,
    Field(strict=False, description="One of the seven ATENSI components (§10)."),
]
Day = Annotated[dt.date, Field(strict=False)]
Id = Annotated[uuid.UUID, Field(strict=False)]
NOTE_BODY = TextRule(4000, multiline=True)
NoteBody = Annotated[str, Field(min_length=1), NOTE_BODY]


class NeedIn(StrictBody):
    component: Component
    level: Level = Field(strict=False)
    note: FreeText | None = None


class IdentityDocuments(StrictBody):
    """Whether the person holds each civil-registration document (Dukcapil): many former
    inmates have none, and `hidup_layak` starts there."""

    ktp: DocumentStatus = Field(strict=False, description="KTP-el (identity card).")
    kk: DocumentStatus = Field(strict=False, description="Kartu Keluarga (family card).")
    akta_lahir: DocumentStatus = Field(strict=False, description="Akta kelahiran (birth cert.).")


class AssessmentRequest(StrictBody):
    assessed_on: Day = Field(description="Not in the future (local date).")
    needs: list[NeedIn] = Field(max_length=7, description="Each component at most once.")
    identity_documents: IdentityDocuments
    summary: FreeText | None = None


class NeedOut(ResponseModel):
    component: str
    level: str
    note: str | None


class AssessmentOut(ResponseModel):
    id: uuid.UUID
    assessed_on: dt.date
    needs: list[NeedOut]
    identity_documents: dict[str, str]
    summary: str | None
    recorded_at: dt.datetime
    client: uuid.UUID
    actor: str | None


class GoalIn(StrictBody):
    id: Id | None = Field(
        default=None, description="Send a goal's id to keep it; omit it for a new goal."
    )
    component: Component
    description: FreeText
    due_on: Day | None = None


class PlanRequest(StrictBody):
    goals: list[GoalIn] = Field(min_length=1, max_length=MAX_GOALS)


class GoalOut(ResponseModel):
    id: uuid.UUID
    component: str
    description: str | None = Field(description="Null once erased (retention, §12).")
    due_on: dt.date | None


class PlanOut(ResponseModel):
    version: int = Field(description='The plan\'s own version: its `ETag` is `"plan-<n>"`.')
    goals: list[GoalOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class LocationIn(StrictBody):
    kind: LocationKind = Field(strict=False)
    detail: Text500 | None = Field(
        default=None, description="Where exactly: an address, a room, a meeting link."
    )


class AppointmentRequest(StrictBody):
    starts_at: Timestamp = Field(
        strict=False, description="With its offset; may be in the past (recorded afterwards)."
    )
    location: LocationIn
    purpose: Text500 | None = None


class LocationOut(ResponseModel):
    kind: str
    detail: str | None


class AppointmentOut(ResponseModel):
    id: uuid.UUID
    starts_at: dt.datetime
    location: LocationOut
    purpose: str | None
    attendance: str | None = Field(description="Null until recorded (once).")
    attendance_note: str | None
    attendance_recorded_at: dt.datetime | None
    recorded_at: dt.datetime
    client: uuid.UUID
    actor: str | None


class AttendanceRequest(StrictBody):
    attendance: Attendance = Field(strict=False)
    note: FreeText | None = None


class ServiceRequest(StrictBody):
    component: Component
    delivered_on: Day = Field(description="Not in the future, not before the referral.")
    description: FreeText | None = None
    goal_id: Id | None = Field(default=None, description="A goal of the plan it serves.")


class ServiceOut(ResponseModel):
    id: uuid.UUID
    component: str
    delivered_on: dt.date
    description: str | None
    goal_id: uuid.UUID | None
    recorded_at: dt.datetime
    client: uuid.UUID
    actor: str | None


class NoteRequest(StrictBody):
    body: NoteBody = Field(
        description="1-4,000 characters. Other agencies read it: keep health details out of "
        "an `all` note (it reaches every party whatever the consent discloses)."
    )
    audience: Audience = Field(strict=False)


class NoteOut(ResponseModel):
    id: uuid.UUID
    at: dt.datetime
    client: uuid.UUID
    client_name: str
    actor: str | None
    audience: str
    body: str | None = Field(description="Null once erased (retention, consent withdrawal).")


class ReportGoalIn(StrictBody):
    goal_id: Id
    result: GoalResult = Field(strict=False)


class ReportRequest(StrictBody):
    """The end-of-service report (*laporan akhir layanan*) a `close` carries."""

    summary: FreeText
    goals: list[ReportGoalIn] = Field(
        default_factory=list, max_length=MAX_GOALS, description="A result for each plan goal."
    )


class ReportGoalOut(ResponseModel):
    goal_id: uuid.UUID
    component: str
    description: str | None
    result: str | None = Field(description="Null when the close gave this goal none.")


class ReportOut(ResponseModel):
    outcome: str | None
    closed_at: dt.datetime | None
    summary: str | None = Field(description="Null when the close carried no report.")
    goals: list[ReportGoalOut] = Field(description="The plan's goals with their results.")
    services: dict[str, int] = Field(description="Services delivered per ATENSI component.")


# Examples in the integrators' language: ATENSI terms in Indonesian, with English glosses
# in the summaries.
ASSESSMENT_EXAMPLES: dict[str, Any] = {
    "asesmen": {
        "summary": "Asesmen awal (initial assessment): no KTP, family contact to rebuild",
        "value": {
            "assessed_on": "2026-12-01",
            "needs": [
                {
                    "component": "hidup_layak",
                    "level": "high",
                    "note": "Belum memiliki KTP-el dan KK; perlu didampingi ke Disdukcapil.",
                },
                {"component": "dukungan_keluarga", "level": "medium"},
                {"component": "vokasional_kewirausahaan", "level": "medium"},
            ],
            "identity_documents": {"ktp": "missing", "kk": "missing", "akta_lahir": "has"},
            "summary": "Penerima manfaat kooperatif; ingin bekerja sebagai montir.",
        },
    }
}
PLAN_EXAMPLES: dict[str, Any] = {
    "rencana": {
        "summary": "Rencana intervensi (service plan) with two goals",
        "value": {
            "goals": [
                {
                    "component": "hidup_layak",
                    "description": "KTP-el dan KK terbit",
                    "due_on": "2027-01-31",
                },
                {
                    "component": "vokasional_kewirausahaan",
                    "description": "Pelatihan montir sepeda motor selesai",
                    "due_on": "2027-03-31",
                },
            ]
        },
    }
}
APPOINTMENT_EXAMPLES: dict[str, Any] = {
    "jadwal": {
        "summary": "Jadwal lapor diri (reporting appointment) at the sentra",
        "value": {
            "starts_at": "2026-12-15T09:00:00+07:00",
            "location": {"kind": "sentra", "detail": "Sentra Handayani, ruang layanan 2"},
            "purpose": "Asesmen lanjutan dan penyusunan rencana intervensi",
        },
    }
}
ATTENDANCE_EXAMPLES: dict[str, Any] = {
    "hadir": {"summary": "Hadir (attended)", "value": {"attendance": "attended"}},
    "tidak_hadir": {
        "summary": "Tidak hadir (missed): emits referral.appointment_missed",
        "value": {"attendance": "missed", "note": "Tidak dapat dihubungi."},
    },
}
SERVICE_EXAMPLES: dict[str, Any] = {
    "layanan": {
        "summary": "Layanan diberikan (service delivered) towards a goal",
        "value": {
            "component": "hidup_layak",
            "delivered_on": "2026-12-10",
            "description": "Pendampingan perekaman KTP-el di Disdukcapil",
            "goal_id": "0b6f2a4e-2d0c-4c55-9a55-3c1f0e2b7d11",
        },
    }
}
NOTE_EXAMPLES: dict[str, Any] = {
    "semua": {
        "summary": "Catatan untuk semua pihak (a note every party reads)",
        "value": {
            "body": "Penerima manfaat sudah lapor diri ke sentra pada 15 Desember.",
            "audience": "all",
        },
    },
    "kemensos": {
        "summary": "Catatan internal Kemensos (Kemensos and the sentra only)",
        "value": {"body": "Perlu konsultasi dengan psikolog.", "audience": "kemensos"},
    },
}

_GOAL_KTP = "0b6f2a4e-2d0c-4c55-9a55-3c1f0e2b7d11"
_GOAL_MONTIR = "5d1c9e7a-8f3b-4a2e-b6c4-1e9f0a7d3b22"
_SENTRA_CLIENT = "7f0c1d2e-3a4b-4c5d-8e6f-9a0b1c2d3e4f"


def answer(example: Any, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI `responses` entry with an example of the answer."""
    return {status: {"content": {"application/json": {"example": example}}}}


PLAN_ANSWER = {
    "version": 2,
    "goals": [
        {
            "id": _GOAL_KTP,
            "component": "hidup_layak",
            "description": "KTP-el dan KK terbit",
            "due_on": "2027-01-31",
        },
        {
            "id": _GOAL_MONTIR,
            "component": "vokasional_kewirausahaan",
            "description": "Pelatihan montir sepeda motor selesai",
            "due_on": "2027-03-31",
        },
    ],
    "created_at": "2026-12-01T03:00:00Z",
    "updated_at": "2026-12-08T04:30:00Z",
}
APPOINTMENTS_ANSWER = {
    "items": [
        {
            "id": "2c8e4b1a-6d3f-4e2a-9b7c-5f1e0d9c8a44",
            "starts_at": "2026-12-15T02:00:00Z",
            "location": {"kind": "sentra", "detail": "Sentra Handayani, ruang layanan 2"},
            "purpose": "Asesmen lanjutan dan penyusunan rencana intervensi",
            "attendance": "attended",
            "attendance_note": None,
            "attendance_recorded_at": "2026-12-15T04:00:00Z",
            "recorded_at": "2026-12-08T04:30:00Z",
            "client": _SENTRA_CLIENT,
            "actor": "sari@handayani",
        }
    ]
}
NOTES_ANSWER = {
    "items": [
        {
            "id": "9a7b6c5d-4e3f-4a1b-8c2d-0e1f2a3b4c55",
            "at": "2026-12-15T05:00:00Z",
            "client": _SENTRA_CLIENT,
            "client_name": "Sentra Handayani",
            "actor": "sari@handayani",
            "audience": "all",
            "body": "Penerima manfaat sudah lapor diri ke sentra pada 15 Desember.",
        }
    ]
}
REPORT_ANSWER = {
    "outcome": "completed",
    "closed_at": "2027-03-30T08:00:00Z",
    "summary": "KTP-el dan KK terbit; penerima manfaat bekerja di bengkel.",
    "goals": [
        {
            "goal_id": _GOAL_KTP,
            "component": "hidup_layak",
            "description": "KTP-el dan KK terbit",
            "result": "achieved",
        },
        {
            "goal_id": _GOAL_MONTIR,
            "component": "vokasional_kewirausahaan",
            "description": "Pelatihan montir sepeda motor selesai",
            "result": "partially_achieved",
        },
    ],
    "services": {
        "hidup_layak": 2,
        "perawatan_pengasuhan": 0,
        "dukungan_keluarga": 1,
        "terapi": 0,
        "vokasional_kewirausahaan": 6,
        "bantuan_sosial": 0,
        "aksesibilitas": 0,
    },
}
