"""Many referrals at once, straight into the database (for tests that need thousands).

Rows are built the way intake builds them (`write_case`: columns, plain JSON, ciphertext),
from events of the synthetic factory, so the API reads them like any other referral.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from sqlalchemy import insert

from app.referrals.models import Referral, ReferralPasCategory
from app.referrals.records import CASE_FIELDS, write_case
from app.runtime import Runtime
from tests.factories import make_event


def referral_row(
    services: Runtime, facility: str, client_id: uuid.UUID, created_at: dt.datetime
) -> tuple[dict[str, Any], list[str]]:
    event = make_event(facility, release_days=-random.randint(0, 90))
    case = {k: event.get(k, []) for k in CASE_FIELDS}
    referral = Referral(
        id=uuid.uuid4(),
        facility_code=facility,
        case_ref=event["case_ref"],
        origin_client_id=client_id,
        status="received",
        custody_status="released",
        version=1,
        data_quality_flags=[],
        last_event_at=created_at,
        created_at=created_at,
        updated_at=created_at,
    )
    write_case(referral, case, services.cipher)
    columns = Referral.__table__.columns.keys()
    row = {c: getattr(referral, c) for c in columns if getattr(referral, c) is not None}
    return row, event["pas_categories"]


async def seed_referrals(services: Runtime, facility: str, client_id: str, count: int) -> list[str]:
    """`count` released, received referrals of `facility`; their ids."""
    owner = uuid.UUID(client_id)
    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    pas: list[dict[str, Any]] = []
    for i in range(count):
        # Distinct, past creation times; a few equal ones exercise the id tie-break.
        created = now - dt.timedelta(seconds=count - i // 3)
        row, codes = referral_row(services, facility, owner, created)
        rows.append(row)
        pas.extend({"referral_id": row["id"], "code": c} for c in codes)
    async with services.db.transaction() as session:
        for start in range(0, count, 2000):
            await session.execute(insert(Referral), rows[start : start + 2000])
        for start in range(0, len(pas), 5000):
            await session.execute(insert(ReferralPasCategory), pas[start : start + 5000])
    return [str(r["id"]) for r in rows]
