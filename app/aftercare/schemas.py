"""Follow-ups, durations and the forecast (SPEC §11)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from app.aftercare.rules import Contact, Family, Housing, Work
from app.core.schemas import FreeText, ResponseModel, StrictBody

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> object:
    """A JSON string `YYYY-MM-DD` only (lax mode would read `0` as 1970-01-01)."""
    if not isinstance(value, str):
        raise PydanticCustomError("date_type", "Input should be a date as YYYY-MM-DD")
    if not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_parsing", "Input should be a date as YYYY-MM-DD")
    return value


BodyDate = Annotated[
    dt.date, BeforeValidator(_iso_date), Field(strict=False, json_schema_extra={"format": "date"})
]


class FollowUpCreate(StrictBody):
    done_on: BodyDate = Field(
        description="The local day the follow-up was made: not in the future, not before "
        "the close (422 `INVALID_DATE`)."
    )
    contact: Contact = Field(strict=False, description="Was the person reached?")
    housing: Housing = Field(strict=False)
    work: Work = Field(strict=False)
    family: Family = Field(strict=False)
    returned_to_custody: bool = Field(description="Back in custody since the close.")
    note: FreeText | None = Field(
        default=None,
        description="Free text about the person: stored encrypted, erased with the "
        "referral's other personal data; write only what the follow-up needs.",
    )


FOLLOW_UP_EXAMPLES: dict[str, Any] = {
    "reached": {
        "summary": "Reached at 3 months: living with family, working",
        "value": {
            "done_on": "2026-03-02",
            "contact": "reached",
            "housing": "stable",
            "work": "self_employed",
            "family": "living_with",
            "returned_to_custody": False,
            "note": "Usaha las berjalan; rutin ke pengajian.",
        },
    },
    "unreachable": {
        "summary": "Not reached (phone off, not at the address)",
        "value": {
            "done_on": "2026-06-05",
            "contact": "unreachable",
            "housing": "unknown",
            "work": "unknown",
            "family": "unknown",
            "returned_to_custody": False,
        },
    },
}


class FollowUpOut(ResponseModel):
    id: uuid.UUID
    number: int = Field(description="Which follow-up it satisfied: 1 (3 months), 2 (6), 3 (12).")
    due_on: dt.date = Field(description="The due date it satisfied.")
    done_on: dt.date
    contact: Contact
    housing: Housing
    work: Work
    family: Family
    returned_to_custody: bool
    note: str | None
    client: uuid.UUID = Field(description="The client that recorded it.")
    actor: str | None = Field(description="`X-Actor` of the call that recorded it.")
    created_at: dt.datetime


class StepDuration(ResponseModel):
    count: int = Field(description="Referrals that took the step (the first time).")
    median_days: float | None = Field(description="Null when `count` is 0.")
    p90_days: float | None = Field(description="Null when `count` is 0.")


class DurationSteps(ResponseModel):
    received_accepted: StepDuration
    accepted_assigned: StepDuration
    assigned_in_service: StepDuration
    in_service_closed: StepDuration
    handover_in_service: StepDuration = Field(
        description="From the local start of the handover date to the start of service; "
        "negative when service started before the handover (in the facility, SPEC §4)."
    )


class DurationGroup(ResponseModel):
    key: dict[str, str | None] = Field(
        description="The `group_by` value (`{}` without `group_by`; null: no sentra)."
    )
    steps: DurationSteps


class Durations(ResponseModel):
    groups: list[DurationGroup]


class ForecastWeek(ResponseModel):
    week: str = Field(description="ISO week, e.g. `2026-W49`.", pattern=r"^\d{4}-W\d{2}$")
    starts_on: dt.date = Field(description="Its Monday.")
    scheduled: int = Field(
        description="Referrals not ended whose handover date falls in the week and whose "
        "domicile regency the sentra covers."
    )
    expected: float = Field(description="`scheduled` times `acceptance_rate`, one decimal.")


class Forecast(ResponseModel):
    sentra_code: str
    acceptance_rate: float = Field(
        description="Of the coverage's referrals created in the last 365 days, those "
        "accepted from `received` over those accepted or rejected from `received` (1.0 "
        "without history); all referrals count, whoever asks: it is an aggregate."
    )
    weeks: list[ForecastWeek]
