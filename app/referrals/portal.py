"""The portal's reads over many referrals: the list, stats and the CSV export (SPEC §5).

The statements come from `queries` (visibility included); this module runs them, turns
rows into items and keeps the cursor honest.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import audit
from app.core.audit import AUDIT_TABLE, AuditEvent
from app.core.clock import Clock
from app.core.context import request_id_var
from app.core.crypto import DataCipher
from app.core.cursor import CursorCodec
from app.core.db import Database
from app.referrals import domain
from app.referrals.cursor import Position, cursor_scope, decode_cursor, encode_cursor
from app.referrals.domain import CustodyStatus, Status
from app.referrals.queries import (
    GroupBy,
    ListSort,
    QueryContext,
    ReferralFilters,
    count_query,
    page_query,
    stats_query,
)
from app.referrals.records import mask_nik
from app.referrals.schemas import ReferralListItem, ReferralPage, ReferralStats, StatsGroup

EXPORT_BATCH = 1000
# Later batches are larger: each is read, and its disclosure recorded (SPEC §8), in a
# short writing transaction of its own, whose fixed cost this spreads over more rows
# (docs/benchmarks.md, "Disclosure records"); the first stays small, as it is read
# before the answer starts.
EXPORT_LATER_BATCH = 5000


@dataclass(frozen=True, slots=True)
class ListRequest:
    filters: ReferralFilters
    sort: ListSort = ListSort.created_desc
    limit: int = 50
    cursor: str | None = None


def _context(
    principal: Principal,
    filters: ReferralFilters,
    clock: Clock,
    cipher: DataCipher,
    triage_days: int,
) -> QueryContext:
    nik_indexes = tuple(cipher.blind_indexes(filters.nik)) if filters.nik else ()
    return QueryContext(
        principal=principal,
        today=clock.today,
        triage_days=triage_days,
        nik_indexes=nik_indexes,
        tz=clock.tz,
    )


def _position(row: Row[Any], sort: ListSort) -> Position:
    return Position(getattr(row, sort.column_name), row.id)


def list_item(row: Row[Any], ctx: QueryContext) -> ReferralListItem:
    case: dict[str, Any] = row.case_data
    person: dict[str, Any] = case.get("person") or {}
    domicile = person.get("domicile") or {
        "province_code": row.province_code,
        "regency_code": row.regency_code,
        "district_code": row.district_code,
    }
    child = domain.is_minimised(
        domain.age_on(row.birth_date, row.release_date),
        case["facility"].get("type"),
        row.release_type,
    )
    if child:
        domicile = {**domicile, "address": None}
    return ReferralListItem(
        id=row.id,
        status=row.status,
        custody_status=row.custody_status,
        responsible_agency=domain.responsible_agency(
            CustodyStatus(row.custody_status), row.handover_date, ctx.today
        ),
        pas_categories=case.get("pas_categories", []),
        ppks_types=case.get("ppks_types") or [],
        facility=case["facility"],
        case_ref=row.case_ref,
        full_name=domain.initials(row.full_name) if child else row.full_name,
        # Stored referrals may hold a longer mask: the province digits only go out.
        nik_masked=mask_nik(row.nik_masked),
        birth_date=None if child else row.birth_date,
        birth_year=row.birth_date.year,
        sex=row.sex,
        domicile=domicile,
        release=case["release"],
        handover_date=row.handover_date,
        supervision_ended=row.supervision_ended,
        sentra_code=row.sentra_code,
        overdue=domain.is_overdue(
            Status(row.status), row.handover_date, ctx.triage_days, ctx.today
        ),
        next_follow_up_due=row.next_follow_up_due,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_referrals(
    session: AsyncSession,
    principal: Principal,
    request: ListRequest,
    clock: Clock,
    cipher: DataCipher,
    codec: CursorCodec,
    triage_days: int,
) -> ReferralPage:
    ctx = _context(principal, request.filters, clock, cipher, triage_days)
    scope = cursor_scope(principal.client_id, request.sort, request.filters.canonical())
    after = None
    if request.cursor is not None:
        position = decode_cursor(codec, scope, request.sort, request.cursor)
        after = (position.value, position.id)
    query = page_query(request.filters, ctx, request.sort, after=after, limit=request.limit + 1)
    rows = (await session.execute(query)).all()
    page, more = rows[: request.limit], len(rows) > request.limit
    next_cursor = encode_cursor(codec, scope, _position(page[-1], request.sort)) if more else None
    # The page and the record of what it disclosed commit together (SPEC §8).
    session.add(AuditEvent(**disclosure(principal, "referrals.list", page)))
    return ReferralPage(items=[list_item(r, ctx) for r in page], next_cursor=next_cursor)


def disclosure(
    principal: Principal, action: str, rows: Sequence[Row[Any]], request_id: str | None = None
) -> dict[str, Any]:
    """The audit row of a list page or an export batch: which referrals it showed, their
    ids packed in one column (one row per page, never one per referral)."""
    return audit.row(
        principal,
        action,
        "success",
        request_id=request_id,
        disclosed=audit.pack_ids(r.id for r in rows) if rows else None,
    )


def _group_order(group: StatsGroup) -> tuple[tuple[bool, str | int], ...]:
    return tuple((v is None, v if v is not None else "") for v in group.key.values())


async def referral_stats(
    session: AsyncSession,
    principal: Principal,
    filters: ReferralFilters,
    group_by: Sequence[GroupBy],
    clock: Clock,
    cipher: DataCipher,
    triage_days: int,
) -> ReferralStats:
    ctx = _context(principal, filters, clock, cipher, triage_days)
    groups: list[StatsGroup] = []
    if group_by:
        rows = (await session.execute(stats_query(filters, ctx, group_by))).all()
        groups = [
            StatsGroup(key={g.value: getattr(row, g.value) for g in group_by}, count=row.count)
            for row in rows
        ]
    if group_by and not {GroupBy.pas_category, GroupBy.ppks_type} & set(group_by):
        # Each referral is in exactly one group: the groups add up to the total.
        total = sum(g.count for g in groups)
    else:
        total = (await session.execute(count_query(filters, ctx))).scalar_one()
    groups.sort(key=_group_order)
    return ReferralStats(total=total, groups=groups)


EXPORT_COLUMNS = (
    "id",
    "status",
    "custody_status",
    "responsible_agency",
    "overdue",
    "pas_categories",
    "ppks_types",
    "facility_code",
    "facility_name",
    "facility_type",
    "case_ref",
    "full_name",
    "nik_masked",
    "birth_date",
    "birth_year",
    "sex",
    "province_code",
    "regency_code",
    "district_code",
    "release_type",
    "release_date",
    "supervision_end_date",
    "handover_date",
    "supervision_ended",
    "bapas_code",
    "sentra_code",
    "reason_code",
    "outcome",
    "closed_at",
    "next_follow_up_due",
    "created_at",
    "updated_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """Text a spreadsheet will not run: a leading formula character is quoted away."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_row(row: Row[Any], ctx: QueryContext) -> list[str]:
    item = list_item(row, ctx)

    def local(moment: dt.datetime | None) -> dt.datetime | None:
        return moment.astimezone(ctx.tz) if moment is not None else None

    values: dict[str, Any] = {
        **item.model_dump(include={"id", "status", "custody_status", "responsible_agency"}),
        "overdue": item.overdue,
        "pas_categories": ";".join(item.pas_categories),
        "ppks_types": ";".join(str(n) for n in item.ppks_types),
        "facility_code": item.facility.code,
        "facility_name": item.facility.name,
        "facility_type": item.facility.type,
        "case_ref": item.case_ref,
        "full_name": item.full_name,
        "nik_masked": item.nik_masked,
        "birth_date": item.birth_date,
        "birth_year": item.birth_year,
        "sex": item.sex,
        "province_code": row.province_code,
        "regency_code": row.regency_code,
        "district_code": row.district_code,
        "release_type": row.release_type,
        "release_date": row.release_date,
        "supervision_end_date": row.supervision_end_date,
        "handover_date": row.handover_date,
        "supervision_ended": row.supervision_ended,
        "bapas_code": row.bapas_code,
        "sentra_code": row.sentra_code,
        "reason_code": row.reason_code,
        "outcome": row.outcome,
        "closed_at": local(row.closed_at),
        "next_follow_up_due": row.next_follow_up_due,
        "created_at": local(row.created_at),
        "updated_at": local(row.updated_at),
    }
    return [_cell(values[c]) for c in EXPORT_COLUMNS]


async def export_csv(
    session: AsyncSession,
    db: Database,
    principal: Principal,
    filters: ReferralFilters,
    sort: ListSort,
    clock: Clock,
    cipher: DataCipher,
    triage_days: int,
) -> AsyncIterator[bytes]:
    """Read the first batch, audit the export (committed before any row leaves), then
    stream it.

    Everything that can refuse the export happens before its 200 starts: the parameters
    were checked by the route's dependency, and the first batch is read here, so a
    statement that fails does so while a problem can still be answered, and no
    `referrals.export` row records an export that never started. Rows are read in keyset
    batches, each in its own short read transaction: memory stays constant, no connection
    is held while a slow client downloads, and rows inserted meanwhile never make a row
    repeat or go missing.
    """
    ctx = _context(principal, filters, clock, cipher, triage_days)
    query = page_query(filters, ctx, sort, after=None, limit=EXPORT_BATCH)
    first: Sequence[Row[Any]] = (await session.execute(query)).all()
    session.add(AuditEvent(**disclosure(principal, "referrals.export", first)))
    return _stream(db, principal, filters, ctx, sort, first, request_id_var.get())


async def _export_batch(
    db: Database,
    principal: Principal,
    filters: ReferralFilters,
    ctx: QueryContext,
    sort: ListSort,
    after: tuple[Any, Any] | None,
    request_id: str | None,
) -> Sequence[Row[Any]]:
    """A later batch, after the request's unit of work has ended: a short transaction of
    its own, so that no connection is held while a slow client downloads. The batch is
    read and its disclosure recorded in that transaction: no row leaves unrecorded."""
    query = page_query(filters, ctx, sort, after=after, limit=EXPORT_LATER_BATCH)
    async with db.transaction() as session:
        rows: Sequence[Row[Any]] = (await session.execute(query)).all()
        if rows:
            await record_batch(session, principal, rows, request_id)
    return rows


async def record_batch(
    session: AsyncSession, principal: Principal, rows: Sequence[Any], request_id: str | None
) -> None:
    """An export batch's disclosure row, in the transaction that read the batch.

    On PostgreSQL this transaction commits without waiting for its WAL flush
    (`synchronous_commit = off`): a commit that waits costs ~9 ms here, 1.6 s over the 180
    batches of a 180,000-row export (docs/benchmarks.md). What that risks is the record of
    the batches of the last moments before a crash of the database server itself — never
    the export's own audit row, which the request's transaction commits durably before the
    first row leaves — and the flush follows within `wal_writer_delay` (200 ms) anyway."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL synchronous_commit = off"))
    await session.execute(
        AUDIT_TABLE.insert(),
        [disclosure(principal, "referrals.export.continued", rows, request_id)],
    )


async def _stream(
    db: Database,
    principal: Principal,
    filters: ReferralFilters,
    ctx: QueryContext,
    sort: ListSort,
    rows: Sequence[Row[Any]],
    request_id: str | None,
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    # A byte order mark first: spreadsheet programs read a CSV without one in the system's
    # legacy code page and garble names such as "Nurhalíza".
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    size = EXPORT_BATCH
    while True:
        writer.writerows(export_row(r, ctx) for r in rows)
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < size:
            return
        size = EXPORT_LATER_BATCH
        last = rows[-1]
        rows = await _export_batch(
            db,
            principal,
            filters,
            ctx,
            sort,
            (getattr(last, sort.column_name), last.id),
            request_id,
        )
