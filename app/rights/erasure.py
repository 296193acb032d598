"""Erasure of what a referral holds about the person (SPEC §12): one code path for a
consent withdrawal and for retention's anonymisation.

Both destroy the referral's text key and its kept texts (`app/referrals/keys.py`), clear
every sealed column of the record, the follow-ups and the rectification requests, and
rewrite the case data without health, phone numbers, the guardian's contact and the
needs summary. Retention also removes the identity; a withdrawal keeps it (pseudonymised
in search, for the legal record) until retention comes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.crypto import DataCipher
from app.referrals import keys
from app.referrals.models import Referral, ReferralFollowUp
from app.referrals.records import read_case, write_case
from app.rehab import service as rehab
from app.rights.models import RectificationRequest


def without_health_and_contact(case: dict[str, Any]) -> dict[str, Any]:
    """The case without `needs.health`, `needs.summary`, phone numbers, the guardian's
    contact and the programmes' names; identity, release and categories stay."""
    person = {**case["person"], "phone": None}
    guardian = person.get("guardian")
    if isinstance(guardian, dict):
        person["guardian"] = {**guardian, "phone": None}
    out = {**case, "person": person}
    needs = case.get("needs")
    if isinstance(needs, dict):
        out["needs"] = {**needs, "health": None, "summary": None}
    # A programme's name is the prison's free text (a medical rehabilitation can name the
    # illness): its kind and dates stay for the statistics.
    out["in_custody_programmes"] = [
        {**p, "name": None} for p in case.get("in_custody_programmes") or []
    ]
    return out


def anonymised(case: dict[str, Any]) -> dict[str, Any]:
    """The case without identity: what retention keeps for statistics."""
    person = case["person"]
    birth = dt.date.fromisoformat(person["birth_date"])
    return {
        **case,
        "person": {
            "full_name": "",
            "nik": None,
            "nik_unavailable_reason": "unknown",
            # Mid-year of birth keeps age statistics within six months.
            "birth_date": dt.date(birth.year, 7, 1).isoformat(),
            "birth_place": None,
            "sex": person["sex"],
            "domicile": {
                "province_code": person["domicile"]["province_code"],
                "regency_code": person["domicile"].get("regency_code"),
                "district_code": None,
                "address": None,
            },
            "phone": None,
            "guardian": None,
        },
        "needs": {
            "summary": None,
            "health": None,
        },
    }


async def erase_free_text(
    session: AsyncSession, referral_ids: Sequence[Any], now: dt.datetime
) -> None:
    """Every free text about these referrals' people, at once: the keys and kept texts
    (transition notes), the record's sealed columns, follow-up notes, rectification
    details and answers. A statement per table, whatever the number of referrals. Open
    rectification requests end (declined by no client): nothing can settle them now."""
    ids = sorted(set(referral_ids))
    if not ids:
        return
    await keys.destroy(session, ids)
    await rehab.erase_texts(session, ids)
    await session.execute(
        update(ReferralFollowUp)
        .where(ReferralFollowUp.referral_id.in_(ids))
        .values(note_sealed=None)
    )
    await session.execute(
        update(RectificationRequest)
        .where(
            RectificationRequest.referral_id.in_(ids),
            RectificationRequest.resolved_at.is_(None),
            RectificationRequest.declined_at.is_(None),
        )
        .values(declined_at=now, pending=[])
    )
    await session.execute(
        update(RectificationRequest)
        .where(RectificationRequest.referral_id.in_(ids))
        .values(detail=None, decline_reason=None)
    )


async def erase(
    session: AsyncSession,
    referrals: Sequence[Referral],
    cipher: DataCipher,
    now: dt.datetime,
    *,
    identity: bool,
) -> None:
    """Erase the person's free text, health and contact from `referrals` (locked by the
    caller); with `identity`, their identity too (retention)."""
    await erase_free_text(session, [r.id for r in referrals], now)
    for referral in referrals:
        referral.open_rectifications = 0
        case = without_health_and_contact(read_case(referral, cipher))
        if identity:
            case = anonymised(case)
            case["case_ref"] = referral.case_ref = f"ANON-{referral.id}"
        write_case(referral, case, cipher)
        # The identity stays for the legal record, pseudonymised for search (SPEC §12):
        # found by its NIK's keyed index, no longer by a name typed into the portal.
        referral.name_search = ""
