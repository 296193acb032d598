"""The portal's referral queries as pure builders: filters → SQLAlchemy statements.

Nothing here runs a query. The service passes what depends on the request (the caller,
the local date, the NIK's blind index) and executes what comes back. Visibility is part
of every statement, so a caller never counts, lists or exports a referral it may not read.

`responsible_agency` and `overdue` change with the date, so they are derived in SQL from
the stored `custody_status`, `handover_date` and `status` and the local date of
RUJUKAN_TIMEZONE, exactly as `domain.responsible_agency` / `domain.is_overdue` derive them
for one referral.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Date,
    Select,
    and_,
    case,
    false,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from app.auth.principal import Principal
from app.auth.visibility import visible_where
from app.referrals.domain import CustodyStatus, Status
from app.referrals.models import Referral, ReferralPasCategory
from app.referrals.records import pas_mask

SortValue = dt.datetime | dt.date


class ListSort(StrEnum):
    created_desc = "-created_at"
    created_asc = "created_at"
    release_asc = "release_date"
    release_desc = "-release_date"
    updated_desc = "-updated_at"

    @property
    def column_name(self) -> str:
        return self.value.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


class GroupBy(StrEnum):
    status = "status"
    pas_category = "pas_category"
    custody_status = "custody_status"
    province_code = "province_code"
    sentra_code = "sentra_code"
    facility_code = "facility_code"
    release_type = "release_type"
    responsible_agency = "responsible_agency"


@dataclass(frozen=True, slots=True)
class ReferralFilters:
    """The filters of SPEC §5. Plural filters match any of their values; filters combine
    with AND. `created_until` is exclusive; `name_words` are normalised (see records)."""

    status: tuple[str, ...] = ()
    pas_category: tuple[str, ...] = ()
    custody_status: tuple[str, ...] = ()
    responsible_agency: tuple[str, ...] = ()
    province_code: tuple[str, ...] = ()
    regency_code: tuple[str, ...] = ()
    facility_code: tuple[str, ...] = ()
    sentra_code: tuple[str, ...] = ()
    release_type: tuple[str, ...] = ()
    release_date_from: dt.date | None = None
    release_date_to: dt.date | None = None
    created_from: dt.datetime | None = None
    created_until: dt.datetime | None = None
    overdue: bool | None = None
    nik: str | None = None
    name_words: tuple[str, ...] = ()

    def canonical(self) -> str:
        """A stable text form (cursor scopes): sets sorted, dates in ISO form."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, tuple):
                out[name] = sorted(set(value)) if name != "name_words" else list(value)
            elif isinstance(value, dt.date):  # datetime too
                out[name] = value.isoformat()
            else:
                out[name] = value
        return json.dumps(out, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class QueryContext:
    """What a query depends on besides its filters."""

    principal: Principal
    today: dt.date
    triage_days: int
    nik_indexes: tuple[str, ...] = ()  # blind indexes of `filters.nik` (current key first)


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """SPEC §2 in SQL; the same rule as `Principal.may_read`."""
    return visible_where(principal, Referral.facility_code, Referral.sentra_code)


def _date(value: dt.date) -> ColumnElement[dt.date]:
    # Rendered inline (see `_text`).
    return literal(value, Date, literal_execute=True)


def _text(value: str) -> ColumnElement[str]:
    # Rendered inline: `responsible_agency` appears in SELECT and GROUP BY, where two bind
    # parameters with equal values would not be the same expression to PostgreSQL.
    return literal(value, literal_execute=True)


def is_kemensos_responsible(today: dt.date) -> ColumnElement[bool]:
    """`domain.responsible_agency` is `kemensos`: released, and supervision (if any) over."""
    return and_(
        Referral.custody_status == _text(CustodyStatus.released.value),
        Referral.handover_date <= _date(today),
    )


def responsible_agency_expr(today: dt.date) -> ColumnElement[str]:
    return case((is_kemensos_responsible(today), _text("kemensos")), else_=_text("imipas"))


def is_overdue(today: dt.date, triage_days: int) -> ColumnElement[bool]:
    """`domain.is_overdue`: received, and today ≥ handover + triage days."""
    cutoff = today - dt.timedelta(days=triage_days)
    return and_(Referral.status == Status.received.value, Referral.handover_date <= _date(cutoff))


def name_matches(word: str) -> ColumnElement[bool]:
    """A word of the (normalised) name starts with `word`.

    `' ' || name_search` puts a space before every word, so one LIKE finds a word start;
    on PostgreSQL a pg_trgm GIN index on exactly this expression serves it. `word` comes
    from `normalise_name`, which leaves letters, digits and spaces only: no LIKE wildcards.
    """
    return literal_column("' '").op("||")(Referral.name_search).like(f"% {word}%")


def conditions(filters: ReferralFilters, ctx: QueryContext) -> list[ColumnElement[bool]]:
    r = Referral
    out: list[ColumnElement[bool]] = [visible_to(ctx.principal)]
    for column, values in (
        (r.status, filters.status),
        (r.custody_status, filters.custody_status),
        (r.province_code, filters.province_code),
        (r.regency_code, filters.regency_code),
        (r.facility_code, filters.facility_code),
        (r.sentra_code, filters.sentra_code),
        (r.release_type, filters.release_type),
    ):
        if values:
            out.append(column.in_(sorted(set(values))))
    if filters.pas_category:  # any of them: a bit in common
        out.append(r.pas_mask.op("&")(pas_mask(filters.pas_category)) != 0)
    agencies = set(filters.responsible_agency)
    if agencies == {"kemensos"}:
        out.append(is_kemensos_responsible(ctx.today))
    elif agencies == {"imipas"}:
        out.append(~is_kemensos_responsible(ctx.today))
    if filters.release_date_from is not None:
        out.append(r.release_date >= filters.release_date_from)
    if filters.release_date_to is not None:
        out.append(r.release_date <= filters.release_date_to)
    if filters.created_from is not None:
        out.append(r.created_at >= filters.created_from)
    if filters.created_until is not None:
        out.append(r.created_at < filters.created_until)
    if filters.overdue is not None:
        overdue = is_overdue(ctx.today, ctx.triage_days)
        out.append(overdue if filters.overdue else ~overdue)
    if filters.nik is not None:
        out.append(r.nik_index.in_(ctx.nik_indexes) if ctx.nik_indexes else false())
    out.extend(name_matches(word) for word in filters.name_words)
    return out


# The columns a list item or an export row is made of (never the ciphertext).
LIST_COLUMNS = (
    Referral.id,
    Referral.status,
    Referral.custody_status,
    Referral.facility_code,
    Referral.case_ref,
    Referral.full_name,
    Referral.nik_masked,
    Referral.birth_date,
    Referral.sex,
    Referral.province_code,
    Referral.regency_code,
    Referral.district_code,
    Referral.release_type,
    Referral.release_date,
    Referral.supervision_end_date,
    Referral.handover_date,
    Referral.sentra_code,
    Referral.case_data,
    Referral.created_at,
    Referral.updated_at,
)


def sort_column(sort: ListSort) -> Any:
    return {
        "created_at": Referral.created_at,
        "release_date": Referral.release_date,
        "updated_at": Referral.updated_at,
    }[sort.column_name]


def page_query(
    filters: ReferralFilters,
    ctx: QueryContext,
    sort: ListSort,
    *,
    after: tuple[SortValue, Any] | None,
    limit: int,
) -> Select[Any]:
    """One page in keyset order on (sort column, id); `after` is the previous page's last
    row. Rows inserted meanwhile land before or after the position, never shift it.

    A deferred join: the inner query finds the page's ids touching only what it filters
    and sorts on, which on PostgreSQL the covering indexes answer without reading the
    table (an index-only scan); only the page's rows are then read in full.
    """
    column = sort_column(sort)
    keys = select(Referral.id).where(*conditions(filters, ctx))
    if after is not None:
        key = tuple_(column, Referral.id)
        bound = tuple_(literal(after[0], column.type), literal(after[1], Referral.id.type))
        keys = keys.where(key < bound if sort.descending else key > bound)
    order = (
        (column.desc(), Referral.id.desc())
        if sort.descending
        else (column.asc(), Referral.id.asc())
    )
    page = keys.order_by(*order).limit(limit).subquery("page")
    return (
        select(*LIST_COLUMNS).join_from(Referral, page, page.c.id == Referral.id).order_by(*order)
    )


def count_query(filters: ReferralFilters, ctx: QueryContext) -> Select[Any]:
    return select(func.count()).select_from(Referral).where(*conditions(filters, ctx))


def group_expressions(group_by: Sequence[GroupBy], today: dt.date) -> list[ColumnElement[Any]]:
    columns: dict[GroupBy, ColumnElement[Any] | QueryableAttribute[Any]] = {
        GroupBy.status: Referral.status,
        GroupBy.pas_category: ReferralPasCategory.code,
        GroupBy.custody_status: Referral.custody_status,
        GroupBy.province_code: Referral.province_code,
        GroupBy.sentra_code: Referral.sentra_code,
        GroupBy.facility_code: Referral.facility_code,
        GroupBy.release_type: Referral.release_type,
        GroupBy.responsible_agency: responsible_agency_expr(today),
    }
    return [columns[g].label(g.value) for g in group_by]


def stats_query(
    filters: ReferralFilters, ctx: QueryContext, group_by: Sequence[GroupBy]
) -> Select[Any]:
    """Counts per group. Grouped by PAS category, a referral counts once in each of its
    categories (one row per (referral, category) in the join)."""
    expressions = group_expressions(group_by, ctx.today)
    source: Any = Referral.__table__
    if GroupBy.pas_category in group_by:
        source = source.join(
            ReferralPasCategory.__table__, ReferralPasCategory.referral_id == Referral.id
        )
    return (
        select(*expressions, func.count().label("count"))
        .select_from(source)
        .where(*conditions(filters, ctx))
        .group_by(*expressions)
    )
