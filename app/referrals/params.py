"""Query parameters of the referral list, stats and export, parsed into `ReferralFilters`.

Unknown parameters are refused (422 `UNKNOWN_FIELD` with `parameter`): a misspelt filter
must not silently widen a list, a count or — worst — an export to everything.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from app.core.deps import SettingsDep
from app.core.errors import FieldError, validation_failed
from app.core.schemas import UnitCode
from app.reference.catalogue import PAS_CODES, ReleaseType
from app.reference.regions import ProvinceCode, RegencyCode
from app.referrals.domain import CustodyStatus, Status
from app.referrals.portal import ListRequest
from app.referrals.queries import ListSort, ReferralFilters
from app.referrals.records import normalise_name

_PAS_ENUM = sorted(PAS_CODES)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> object:
    """Only `YYYY-MM-DD`: pydantic alone reads `0` as a Unix timestamp (1970-01-01)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_parsing", "Input should be a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]

FILTER_PARAMETERS = frozenset(
    {
        "status",
        "pas_category",
        "custody_status",
        "responsible_agency",
        "province_code",
        "regency_code",
        "facility_code",
        "sentra_code",
        "release_type",
        "release_date_from",
        "release_date_to",
        "created_from",
        "created_to",
        "overdue",
        "nik",
        "q",
    }
)


def reject_unknown(request: Request, allowed: Iterable[str]) -> None:
    known = set(allowed)
    unknown = sorted({k for k in request.query_params if k not in known})
    if unknown:
        raise validation_failed(
            [
                FieldError("UNKNOWN_FIELD", "not a parameter of this query", parameter=k)
                for k in unknown
            ]
        )


def _instant(value: str, tz: dt.tzinfo, *, end: bool) -> dt.datetime | str:
    """RFC 3339 with offset, or a date meaning that local day, as a UTC time; else why not.

    Both ends are inclusive for the caller; the returned end bound is exclusive. A value
    whose bound UTC cannot hold (before year 1 or after year 9999 once in UTC, or the day
    after 9999-12-31) is refused like a malformed one: no column can be compared with it.
    """
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            if end:
                day += dt.timedelta(days=1)
            instant = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        else:
            instant = dt.datetime.fromisoformat(value)
            if instant.tzinfo is None:
                return "a date (YYYY-MM-DD) or an RFC 3339 time with offset"
            if end:
                instant += dt.timedelta(microseconds=1)
        return instant.astimezone(dt.UTC)
    except ValueError:
        return "a date (YYYY-MM-DD) or an RFC 3339 time with offset"
    except OverflowError:
        return "out of range: not between years 1 and 9999 in UTC"


async def referral_filters(
    request: Request,
    settings: SettingsDep,
    status: Annotated[list[Status] | None, Query(description="Any of these statuses.")] = None,
    pas_category: Annotated[
        list[str] | None,
        Query(
            description="Referrals holding any of these PAS categories.",
            json_schema_extra={"items": {"type": "string", "enum": _PAS_ENUM}},
        ),
    ] = None,
    custody_status: Annotated[list[CustodyStatus] | None, Query()] = None,
    responsible_agency: Annotated[
        list[Literal["imipas", "kemensos"]] | None,
        Query(description="As of today in RUJUKAN_TIMEZONE (derived, see the detail)."),
    ] = None,
    province_code: Annotated[list[ProvinceCode] | None, Query()] = None,
    regency_code: Annotated[list[RegencyCode] | None, Query()] = None,
    facility_code: Annotated[list[UnitCode] | None, Query()] = None,
    sentra_code: Annotated[list[UnitCode] | None, Query()] = None,
    release_type: Annotated[list[ReleaseType] | None, Query()] = None,
    release_date_from: Annotated[IsoDate | None, Query(description="Inclusive.")] = None,
    release_date_to: Annotated[IsoDate | None, Query(description="Inclusive.")] = None,
    created_from: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Inclusive: an RFC 3339 time with offset, or a date (that local day "
            "in RUJUKAN_TIMEZONE). A bound UTC cannot hold (before year 1 or after 9999 once "
            "in UTC) is a 422 `INVALID_DATE`.",
        ),
    ] = None,
    created_to: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Inclusive, like `created_from` (a date: its whole day, so the last "
            "one is 9999-12-30).",
        ),
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="`received` and past `triage_due_at`, as of today.")
    ] = None,
    nik: Annotated[
        str | None, Query(pattern=r"^[0-9]{16}$", description="Exact NIK (16 digits).")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Name search: every word of `q` starts a word of the name; case and "
            "accents are ignored (`nurhalíza` finds Nurhaliza).",
        ),
    ] = None,
) -> ReferralFilters:
    errors: list[FieldError] = []
    for i, code in enumerate(pas_category or []):
        if code not in PAS_CODES:
            errors.append(
                FieldError(
                    "UNKNOWN_PAS_CATEGORY",
                    f"not a PAS category code (#{i + 1})",
                    parameter="pas_category",
                )
            )
    if release_date_from and release_date_to and release_date_to < release_date_from:
        errors.append(
            FieldError("INVALID_DATE", "before release_date_from", parameter="release_date_to")
        )
    tz = settings.tz
    bounds: dict[str, dt.datetime | None] = {}
    for name, given, end in (
        ("created_from", created_from, False),
        ("created_to", created_to, True),
    ):
        parsed = _instant(given, tz, end=end) if given else None
        if isinstance(parsed, str):
            errors.append(FieldError("INVALID_DATE", parsed, parameter=name))
            parsed = None
        bounds[name] = parsed
    words: tuple[str, ...] = ()
    if q is not None:
        words = tuple(normalise_name(q).split())
        if not words:
            errors.append(
                FieldError("INVALID_VALUE", "no letters or digits to search for", parameter="q")
            )
    if errors:
        raise validation_failed(errors)
    return ReferralFilters(
        status=tuple(s.value for s in status or ()),
        pas_category=tuple(pas_category or ()),
        custody_status=tuple(c.value for c in custody_status or ()),
        responsible_agency=tuple(responsible_agency or ()),
        province_code=tuple(province_code or ()),
        regency_code=tuple(regency_code or ()),
        facility_code=tuple(facility_code or ()),
        sentra_code=tuple(sentra_code or ()),
        release_type=tuple(r.value for r in release_type or ()),
        release_date_from=release_date_from,
        release_date_to=release_date_to,
        created_from=bounds["created_from"],
        created_until=bounds["created_to"],
        overdue=overdue,
        nik=nik,
        name_words=words,
    )


FiltersDep = Annotated[ReferralFilters, Depends(referral_filters)]


async def list_request(
    request: Request,
    filters: FiltersDep,
    sort: Annotated[
        ListSort, Query(description="Keyset order; ties broken by id.")
    ] = ListSort.created_desc,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None,
        Query(description="`next_cursor` of the previous page, with the same filters and sort."),
    ] = None,
) -> ListRequest:
    reject_unknown(request, FILTER_PARAMETERS | {"sort", "limit", "cursor"})
    return ListRequest(filters=filters, sort=sort, limit=limit, cursor=cursor)


async def stats_filters(
    request: Request,
    filters: FiltersDep,
) -> ReferralFilters:
    reject_unknown(request, FILTER_PARAMETERS | {"group_by"})
    return filters


async def export_filters(request: Request, filters: FiltersDep) -> ReferralFilters:
    reject_unknown(request, FILTER_PARAMETERS | {"sort"})
    return filters
