"""Bodies and answers of the person's rights (SPEC §12)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field

from app.core.schemas import ResponseModel, StrictBody
from app.referrals.schemas import HistoryEntry, ReferralDetail


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


class SubjectReferral(ResponseModel):
    referral: ReferralDetail = Field(description="The referral whole, as Kemensos reads it.")
    history: list[HistoryEntry]
    disclosures: list[SubjectDisclosure] = Field(
        description="Every client shown this referral, from the audit log (this access not "
        "included)."
    )


class SubjectAccess(ResponseModel):
    items: list[SubjectReferral]
