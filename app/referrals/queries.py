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

import sqlalchemy as sa
from sqlalchemy import (
    Boolean,
    Date,
    Integer,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from app.auth.principal import Principal
from app.auth.visibility import visible_where
from app.referrals.domain import CustodyStatus, Status
from app.referrals.models import Referral, ReferralPasCategory
from app.referrals.records import pas_mask, ppks_mask

# The 26 PPKS types as rows (number, bit of `referrals.ppks_mask`), to group by type.
# (A UNION of constant rows: SQLite names no columns of a VALUES list.)
PPKS_TYPES = sa.union_all(
    *(
        select(
            literal(n, Integer, literal_execute=True).label("number"),
            literal(1 << (n - 1), Integer, literal_execute=True).label("bit"),
        )
        for n in range(1, 27)
    )
).subquery("ppks")

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
    bapas_code = "bapas_code"
    ppks_type = "ppks_type"


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
    bapas_code: tuple[str, ...] = ()
    release_type: tuple[str, ...] = ()
    ppks_type: tuple[int, ...] = ()
    release_date_from: dt.date | None = None
    release_date_to: dt.date | None = None
    created_from: dt.datetime | None = None
    created_until: dt.datetime | None = None
    overdue: bool | None = None
    follow_up_due: bool | None = None
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
    tz: dt.tzinfo = dt.UTC  # the export's times (RUJUKAN_TIMEZONE)
    nik_indexes: tuple[str, ...] = ()  # blind indexes of `filters.nik` (current key first)


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """SPEC §2 in SQL; the same rule as `Principal.may_read`."""
    return visible_where(
        principal, Referral.facility_code, Referral.sentra_code, Referral.bapas_code
    )


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


# PostgreSQL (migration 0002): `rujukan_name_prefixes(name_search)` is the set of prefixes
# of NAME_PREFIX_MIN characters or more of every word of the name, with a GIN index.
NAME_PREFIXES_FUNCTION = "rujukan_name_prefixes"
NAME_PREFIX_MIN = 3


class NameMatches(ColumnElement[bool]):
    """Every word of `words` starts a word of the (normalised) name.

    `words` come from `normalise_name`: letters and digits only, so no LIKE wildcards.

    - SQLite (and any other dialect): `' ' || name_search LIKE '% ' || word || '%'` (the
      space put before every word makes one LIKE find a word start).
    - PostgreSQL: the same test as `strpos(' ' || name_search, ' ' || word) <> 0` (cheap:
      what a walk of the covering `(created_at, id)` index filters on first), and, for
      words of NAME_PREFIX_MIN characters or more, `rujukan_name_prefixes(name_search) @>
      ARRAY[word, ...]`: exact on its own too, and what the GIN index answers. The planner
      estimates that one from the index's statistics (how common each prefix is) and the
      `strpos` tests at ~1 (no statistics), so a word's rarity is not counted twice: a rare
      word or first name + surname prefix reads its matches through the index, a common
      one walks the newest-first index. The words are bound parameters, so one prepared
      statement per number of words; PostgreSQL keeps planning it with the words' values
      (custom plans), a generic plan for unknown words being costed higher.
    """

    inherit_cache = True
    _traverse_internals = [
        ("words", InternalTraversal.dp_clauseelement_tuple),
        ("prefixes", InternalTraversal.dp_clauseelement_tuple),
    ]
    _is_implicitly_boolean = True  # a condition as it stands (no `= 1` on SQLite)
    type = Boolean()

    def __init__(self, words: Sequence[str]) -> None:
        self.words = tuple(literal(w, String()) for w in words)
        self.prefixes = tuple(literal(w, String()) for w in words if len(w) >= NAME_PREFIX_MIN)


def _spaced_name() -> ColumnElement[str]:
    return literal_column("' '", String) + Referral.__table__.c.name_search


@compiles(NameMatches)
def _name_matches_like(element: NameMatches, compiler: SQLCompiler, **kw: Any) -> str:
    spaced = _spaced_name()
    tests = [
        spaced.like(literal_column("'% '", String) + word + literal_column("'%'", String))
        for word in element.words
    ]
    return compiler.process(and_(*tests).self_group(), **kw)


@compiles(NameMatches, "postgresql")
def _name_matches_pg(element: NameMatches, compiler: SQLCompiler, **kw: Any) -> str:
    spaced = _spaced_name()
    tests = [
        func.strpos(spaced, literal_column("' '", String) + word) != literal_column("0")
        for word in element.words
    ]
    if element.prefixes:
        prefixes = getattr(func, NAME_PREFIXES_FUNCTION)(Referral.__table__.c.name_search)
        tests.append(prefixes.op("@>")(cast(pg_array(element.prefixes), ARRAY(Text))))
    return compiler.process(and_(*tests).self_group(), **kw)


def name_matches(words: Sequence[str]) -> ColumnElement[bool]:
    """Every word of `words` (normalised) starts a word of the name; see NameMatches."""
    return NameMatches(words)


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
        (r.bapas_code, filters.bapas_code),
        (r.release_type, filters.release_type),
    ):
        if values:
            out.append(column.in_(sorted(set(values))))
    if filters.pas_category:  # any of them: a bit in common
        out.append(r.pas_mask.op("&")(pas_mask(filters.pas_category)) != 0)
    if filters.ppks_type:
        out.append(r.ppks_mask.op("&")(ppks_mask(filters.ppks_type)) != 0)
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
    if filters.follow_up_due is not None:
        due = and_(r.next_follow_up_due.is_not(None), r.next_follow_up_due <= _date(ctx.today))
        out.append(due if filters.follow_up_due else ~due)
    if filters.nik is not None:
        out.append(r.nik_index.in_(ctx.nik_indexes) if ctx.nik_indexes else false())
    if filters.name_words:
        out.append(name_matches(filters.name_words))
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
    Referral.bapas_code,
    Referral.supervision_ended,
    Referral.reason_code,
    Referral.outcome,
    Referral.closed_at,
    Referral.next_follow_up_due,
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


# A release-date window at most this long, within given provinces, is read "window first"
# (see page_query). At 1M referrals over three years the largest province releases ~160
# referrals a day: a year's window is ~60k index entries, a few ms to read and sort.
WINDOW_FIRST_MAX_DAYS = 366


def window_first(filters: ReferralFilters, sort: ListSort) -> bool:
    """Whether page_query reads the release-date window first (see there)."""
    start, end = filters.release_date_from, filters.release_date_to
    return (
        sort.column_name != "release_date"
        and bool(filters.province_code)
        and start is not None
        and end is not None
        and (end - start).days <= WINDOW_FIRST_MAX_DAYS
    )


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

    Window first: with provinces and a bounded release-date window (`window_first`), the
    inner query first collects the window's matching rows (a materialised CTE: on
    PostgreSQL a range of the `(province_code, release_date, id)` index), then sorts them
    and keeps the page. Otherwise the planner walks `(province_code, created_at, id)`
    newest-first, estimating that matches are spread evenly over time; but release dates
    follow creation dates, so for a window a year back it walked ~100k entries to reach
    it (20-40 ms) where the window holds ~11k (2-5 ms). Same rows, same order.
    """
    column = sort_column(sort)
    keys = select(Referral.id, column).where(*conditions(filters, ctx))
    if after is not None:
        key = tuple_(column, Referral.id)
        bound = tuple_(literal(after[0], column.type), literal(after[1], Referral.id.type))
        keys = keys.where(key < bound if sort.descending else key > bound)
    order = (
        (column.desc(), Referral.id.desc())
        if sort.descending
        else (column.asc(), Referral.id.asc())
    )
    if window_first(filters, sort):
        window = keys.cte("release_window").prefix_with("MATERIALIZED", dialect="postgresql")
        sort_key, window_id = window.c[sort.column_name], window.c.id
        window_order = (
            (sort_key.desc(), window_id.desc())
            if sort.descending
            else (sort_key.asc(), window_id.asc())
        )
        page = select(window_id).order_by(*window_order).limit(limit).subquery("page")
    else:
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
        GroupBy.bapas_code: Referral.bapas_code,
        GroupBy.ppks_type: PPKS_TYPES.c.number,
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
    if GroupBy.ppks_type in group_by:
        # One row per (referral, PPKS type it holds): a bit of `ppks_mask` per type.
        source = source.join(PPKS_TYPES, Referral.ppks_mask.op("&")(PPKS_TYPES.c.bit) != 0)
    return (
        select(*expressions, func.count().label("count"))
        .select_from(source)
        .where(*conditions(filters, ctx))
        .group_by(*expressions)
    )
