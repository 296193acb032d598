from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field

from app.auth.roles import Role
from app.core.schemas import UNIT_CODE, ResponseModel, StrictBody, Text200, UnitCode

# A unit code, or `*` (a prison client's every facility).
Code = Annotated[str, Field(pattern=rf"^(\*|{UNIT_CODE})$")]


class ClientCreate(StrictBody):
    name: Text200
    role: Role = Field(strict=False)
    facility_codes: Annotated[list[Code], Field(max_length=1000)] = Field(
        default_factory=list, description="prison only, required: facility codes, or `*` for all."
    )
    sentra_codes: Annotated[list[UnitCode], Field(max_length=100)] = Field(
        default_factory=list,
        description="sentra only, required: the sentra codes it works for (never `*`).",
    )
    bapas_codes: Annotated[list[Code], Field(max_length=100)] = Field(
        default_factory=list,
        description="bapas only, required: the Bapas codes whose supervised releases it "
        "reads (`release.bapas_code`), or `*` for all.",
    )


class ClientOut(ResponseModel):
    client_id: uuid.UUID
    name: str
    role: Role
    facility_codes: list[str]
    sentra_codes: list[str]
    bapas_codes: list[str]
    key_prefix: str = Field(
        description="The first characters of the current key, to tell keys apart."
    )
    active: bool
    created_at: dt.datetime
    deactivated_at: dt.datetime | None
    previous_key_expires_at: dt.datetime | None


class ClientWithKey(ClientOut):
    api_key: str = Field(description="Shown once: only its hash is stored.")


CLIENT_EXAMPLES = {
    "prison": {
        "summary": "A prison system (SDP) posting for two facilities",
        "value": {
            "name": "SDP Kanwil DKI Jakarta",
            "role": "prison",
            "facility_codes": ["LP-CIPINANG", "RUTAN-SALEMBA"],
        },
    },
    "sentra": {
        "summary": "A sentra",
        "value": {"name": "Sentra Handayani", "role": "sentra", "sentra_codes": ["HANDAYANI"]},
    },
}
