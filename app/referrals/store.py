"""Reading and writing referral rows: the one place their SQL lives for both databases.

Services pass the session of their unit of work; nothing here begins or ends a
transaction. A referral row is the ORM `Referral` everywhere: rows loaded here are
tracked by the session (their changes are flushed, grouped per set of changed columns);
new ones are built in memory and inserted set-based, as the log of every change is
(`write_changes`: one statement per table).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Uuid, and_, bindparam, delete, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.audit import AUDIT_TABLE
from app.core.db import UTCDateTime, insert_or_skip
from app.core.errors import ProblemError
from app.reference.coverage import SentraCoverage
from app.reference.models import Sentra
from app.referrals.changes import ChangeLog
from app.referrals.domain import TERMINAL
from app.referrals.models import (
    OutboxEvent,
    Referral,
    ReferralHistory,
    ReferralKey,
    ReferralPasCategory,
)
from app.rehab.models import Appointment, Assessment
from app.rehab.queries import record_subqueries

REFERRALS = cast(Table, Referral.__table__)
HISTORY = cast(Table, ReferralHistory.__table__)
OUTBOX = cast(Table, OutboxEvent.__table__)
PAS = cast(Table, ReferralPasCategory.__table__)
TERMINAL_CODES = sorted(s.value for s in TERMINAL)


class CaseRacedError(Exception):
    """A case was created by a concurrent transaction after this one looked: roll back
    and try again (it will find it)."""


def not_found() -> ProblemError:
    return ProblemError("REFERRAL_NOT_FOUND")


def parse_id(value: str) -> uuid.UUID:
    """A malformed id is a 404 like an unknown one (SPEC §4)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise not_found() from None


async def load_visible(
    session: AsyncSession, principal: Principal, referral_id: str, *, lock: bool = False
) -> Referral:
    """The referral, if the caller may read it (else 404); `lock`: for an update."""
    rid = parse_id(referral_id)
    query = select(Referral).where(Referral.id == rid)
    if lock:
        query = query.with_for_update()
    referral = (await session.execute(query)).scalar_one_or_none()
    if referral is None or not principal.may_read(
        referral.facility_code, referral.sentra_code, referral.bapas_code
    ):
        raise not_found()
    return referral


def _detail_query() -> Any:
    """The referral `:referral_id`, the other referrals of its NIK, and, on the referral's
    own row only, its latest assessment and next appointment as of `:now` (SPEC §10).
    Built once, with bound parameters: building it per request cost more than running it."""
    rid = bindparam("referral_id", type_=Uuid())
    latest, upcoming = record_subqueries(rid, bindparam("now", type_=UTCDateTime()))
    same_nik = select(Referral.nik_index).where(Referral.id == rid).scalar_subquery()
    return (
        select(Referral, Assessment, Appointment, ReferralKey.wrapped)
        .outerjoin(Assessment, and_(Referral.id == rid, Assessment.id == latest))
        .outerjoin(Appointment, and_(Referral.id == rid, Appointment.id == upcoming))
        # the key of the texts those two rows may hold (app/referrals/keys.py)
        .outerjoin(ReferralKey, and_(Referral.id == rid, ReferralKey.referral_id == rid))
        .where(or_(Referral.id == rid, Referral.nik_index == same_nik))
    )


_DETAIL = _detail_query()


@dataclass(frozen=True, slots=True)
class DetailRows:
    referral: Referral
    siblings: list[Referral]
    assessment: Assessment | None
    next_appointment: Appointment | None
    text_key: str | None  # the referral's wrapped text key, if it has one


async def load_for_detail(
    session: AsyncSession, principal: Principal, referral_id: str, now: datetime
) -> DetailRows:
    """A visible referral, the other referrals of its NIK, its latest assessment and its
    next appointment, in one round trip (the detail is the portal's hot read: each of
    these as a query of its own was a round trip more)."""
    rid = parse_id(referral_id)
    rows = (await session.execute(_DETAIL, {"referral_id": rid, "now": now})).all()
    own = next((row for row in rows if row[0].id == rid), None)
    if own is None or not principal.may_read(
        own[0].facility_code, own[0].sentra_code, own[0].bapas_code
    ):
        raise not_found()
    siblings = [row[0] for row in rows if row[0].id != rid]
    return DetailRows(own[0], siblings, own[1], own[2], own[3])


async def siblings_of(session: AsyncSession, referral: Referral) -> Sequence[Any]:
    """(id, facility_code, sentra_code, bapas_code, status) of the other referrals of its
    NIK."""
    if referral.nik_index is None:
        return []
    return (
        await session.execute(
            select(
                Referral.id,
                Referral.facility_code,
                Referral.sentra_code,
                Referral.bapas_code,
                Referral.status,
            ).where(Referral.nik_index == referral.nik_index, Referral.id != referral.id)
        )
    ).all()


async def active_sentra(session: AsyncSession) -> list[SentraCoverage]:
    rows = (await session.execute(select(Sentra).where(Sentra.active.is_(True)))).scalars()
    return [
        SentraCoverage(s.code, s.province_code, frozenset(s.coverage_regency_codes), s.active)
        for s in rows
    ]


async def lock_cases(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Referral]:
    """The referrals of these (facility_code, case_ref) episodes, locked in one order
    (concurrent batches wait for each other instead of deadlocking), as they are now."""
    if not keys:
        return {}
    query = (
        select(Referral)
        .where(tuple_(Referral.facility_code, Referral.case_ref).in_(sorted(keys)))
        .order_by(Referral.facility_code, Referral.case_ref)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {(r.facility_code, r.case_ref): r for r in (await session.execute(query)).scalars()}


async def open_by_nik(
    session: AsyncSession, niks: Sequence[str]
) -> list[tuple[uuid.UUID, str, str]]:
    """(id, nik_index, facility_code) of the non-terminal referrals of these NIK blind
    indexes."""
    if not niks:
        return []
    query = select(Referral.id, Referral.nik_index, Referral.facility_code).where(
        Referral.nik_index.in_(sorted(set(niks))), Referral.status.not_in(TERMINAL_CODES)
    )
    return [(row.id, row.nik_index, row.facility_code) for row in await session.execute(query)]


def row_values(referral: Referral) -> dict[str, Any]:
    """Every column of the referral's row (what an insert or a full update writes)."""
    return {c.key: getattr(referral, c.key) for c in REFERRALS.columns}


async def insert_new(session: AsyncSession, referrals: Sequence[Referral]) -> None:
    """Insert referrals built in memory (every column set), in (facility_code, case_ref)
    order. One that a concurrent transaction created meanwhile raises CaseRacedError."""
    if not referrals:
        return
    fresh = sorted(referrals, key=lambda r: (r.facility_code, r.case_ref))
    statement = insert_or_skip(session, REFERRALS, "facility_code", "case_ref").returning(
        REFERRALS.c.id
    )
    inserted = (await session.execute(statement, [row_values(r) for r in fresh])).all()
    if len(inserted) != len(fresh):
        raise CaseRacedError


async def replace_pas_categories(
    session: AsyncSession, referrals: Sequence[Referral], *, existing: bool
) -> None:
    """The PAS category rows of these referrals, from their case data (`existing`: they
    had rows before, which go first)."""
    if not referrals:
        return
    if existing:
        await session.execute(
            delete(ReferralPasCategory).where(
                ReferralPasCategory.referral_id.in_([r.id for r in referrals])
            )
        )
    rows = [
        {"referral_id": r.id, "code": code}
        for r in referrals
        for code in r.case_data["pas_categories"]
    ]
    if rows:
        await session.execute(PAS.insert(), rows)


async def write_changes(session: AsyncSession, log: ChangeLog) -> None:
    """A change log's rows, a statement per table (parents first: the session's pending
    referral changes are flushed before their history)."""
    await session.flush()
    for table, rows in ((HISTORY, log.history), (OUTBOX, log.outbox), (AUDIT_TABLE, log.audit)):
        if rows:
            await session.execute(table.insert(), rows)
