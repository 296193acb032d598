"""Query parameters of the referral list, stats and export, parsed into `ReferralFilters`.

Each operation's parameters are one pydantic model (FastAPI's query parameter models), so
that unknown parameters are refused (422 `UNKNOWN_FIELD` with `parameter`): a misspelt
filter must not silently widen a list, a count or — worst — an export to everything.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue

from app.core.deps import SettingsDep
from app.core.errors import FieldError, validation_failed
from app.core.i18n import Msg, msg, pydantic_error
from app.core.schemas import UnitCode
from app.reference.catalogue import PAS_CODES, ReleaseType
from app.reference.regions import ProvinceCode, RegencyCode
from app.referrals.domain import CustodyStatus, Status
from app.referrals.portal import ListRequest
from app.referrals.queries import GroupBy, ListSort, ReferralFilters
from app.referrals.records import normalise_name

_PAS_ENUM: list[JsonValue] = list(sorted(PAS_CODES))
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# `created_from`/`created_to`: a date, or an RFC 3339 time with offset. The schema carries
# the pattern (months 01-12, days 01-31, years 0001-9999); a day that does not exist
# (2026-02-30) or a bound UTC cannot hold is still the service's 422 `INVALID_DATE`.
_DAY = (
    r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
)
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
_OFFSET = r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
INSTANT_PATTERN = rf"^{_DAY}(T{_CLOCK}{_OFFSET})?$"
_INSTANT = re.compile(INSTANT_PATTERN)
# A character of a free-text parameter: anything but a control character (SPEC §1).
_TEXT = r"[^\x00-\x1f\x7f-\x9f]"


def _iso_date(value: object) -> object:
    """Only `YYYY-MM-DD`: pydantic alone reads `0` as a Unix timestamp (1970-01-01)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise pydantic_error("date_parsing", msg("Input should be a date as YYYY-MM-DD"))
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


def _instant(value: str, tz: dt.tzinfo, *, end: bool) -> dt.datetime | Msg:
    """RFC 3339 with offset, or a date meaning that local day, as a UTC time; else why not.

    Both ends are inclusive for the caller; the returned end bound is exclusive. A value
    whose bound UTC cannot hold (before year 1 or after year 9999 once in UTC, or the day
    after 9999-12-31) is refused like a malformed one: no column can be compared with it.
    """
    if not _INSTANT.fullmatch(value):
        return msg("a date (YYYY-MM-DD) or an RFC 3339 time with offset")
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            if end:
                day += dt.timedelta(days=1)
            instant = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        else:
            instant = dt.datetime.fromisoformat(value)
            if instant.tzinfo is None:
                return msg("a date (YYYY-MM-DD) or an RFC 3339 time with offset")
            if end:
                instant += dt.timedelta(microseconds=1)
        return instant.astimezone(dt.UTC)
    except ValueError:
        return msg("a date (YYYY-MM-DD) or an RFC 3339 time with offset")
    except OverflowError:
        return msg("out of range: not between years 1 and 9999 in UTC")


class FilterParams(BaseModel):
    """The filters the list, the stats and the export share; each adds its own parameters.
    Unknown parameters are refused (`extra="forbid"`: 422 `UNKNOWN_FIELD` naming each)."""

    model_config = ConfigDict(extra="forbid")

    status: list[Status] | None = Field(default=None, description="Any of these statuses.")
    pas_category: list[str] | None = Field(
        default=None,
        description="Referrals holding any of these PAS categories.",
        json_schema_extra={"items": {"type": "string", "enum": _PAS_ENUM}},
    )
    custody_status: list[CustodyStatus] | None = None
    responsible_agency: list[Literal["imipas", "kemensos"]] | None = Field(
        default=None, description="As of today in RUJUKAN_TIMEZONE (derived, see the detail)."
    )
    province_code: list[ProvinceCode] | None = None
    regency_code: list[RegencyCode] | None = None
    facility_code: list[UnitCode] | None = None
    sentra_code: list[UnitCode] | None = None
    bapas_code: list[UnitCode] | None = Field(
        default=None, description="The supervising Bapas of a supervised release."
    )
    release_type: list[ReleaseType] | None = None
    ppks_type: list[Annotated[int, Field(ge=1, le=26)]] | None = Field(
        default=None, description="Referrals holding any of these PPKS-26 types."
    )
    release_date_from: IsoDate | None = Field(default=None, description="Inclusive.")
    release_date_to: IsoDate | None = Field(default=None, description="Inclusive.")
    created_from: str | None = Field(
        default=None,
        max_length=40,
        json_schema_extra={"pattern": INSTANT_PATTERN},
        description="Inclusive: an RFC 3339 time with offset, or a date (that local day "
        "in RUJUKAN_TIMEZONE). A bound UTC cannot hold (before year 1 or after 9999 once "
        "in UTC) is a 422 `INVALID_DATE`.",
    )
    created_to: str | None = Field(
        default=None,
        max_length=40,
        json_schema_extra={"pattern": INSTANT_PATTERN},
        description="Inclusive, like `created_from` (a date: its whole day, so the last "
        "one is 9999-12-30).",
    )
    overdue: bool | None = Field(
        default=None, description="`received` and past `triage_due_at`, as of today."
    )
    follow_up_due: bool | None = Field(
        default=None,
        description="A follow-up is due on or before today (`next_follow_up_due`); "
        "`false`: none is.",
    )
    nik: str | None = Field(
        default=None, pattern=r"^[0-9]{16}$", description="Exact NIK (16 digits)."
    )
    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        # No control characters. "At least one letter or digit" is the service's own check
        # (INVALID_VALUE): ECMA patterns name Unicode letters only with a flag JSON Schema
        # does not give.
        json_schema_extra={"pattern": rf"^{_TEXT}*$"},
        description="Name search: every word of `q` starts a word of the name; case and "
        "accents are ignored (`nurhalíza` finds Nurhaliza).",
    )


class ListParams(FilterParams):
    sort: ListSort = Field(
        default=ListSort.created_desc, description="Keyset order; ties broken by id."
    )
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(
        default=None,
        description="`next_cursor` of the previous page, with the same filters and sort.",
    )


class StatsParams(FilterParams):
    group_by: list[GroupBy] | None = None


class ExportParams(FilterParams):
    sort: ListSort = ListSort.created_desc


@dataclass(frozen=True, slots=True)
class StatsRequest:
    filters: ReferralFilters
    group_by: list[GroupBy]  # distinct, in the order given


@dataclass(frozen=True, slots=True)
class ExportRequest:
    filters: ReferralFilters
    sort: ListSort


def referral_filters(params: FilterParams, tz: dt.tzinfo) -> ReferralFilters:
    """The checks the parameters' types cannot make (each error naming its parameter)."""
    errors: list[FieldError] = []
    for i, code in enumerate(params.pas_category or []):
        if code not in PAS_CODES:
            errors.append(
                FieldError(
                    "UNKNOWN_PAS_CATEGORY",
                    msg("not a PAS category code (#{number})", number=i + 1),
                    parameter="pas_category",
                )
            )
    release_date_from, release_date_to = params.release_date_from, params.release_date_to
    if release_date_from and release_date_to and release_date_to < release_date_from:
        errors.append(
            FieldError("INVALID_DATE", msg("before release_date_from"), parameter="release_date_to")
        )
    bounds: dict[str, dt.datetime | None] = {}
    for name, given, end in (
        ("created_from", params.created_from, False),
        ("created_to", params.created_to, True),
    ):
        # An empty value is no date (the pattern says so), not an absent bound.
        parsed = _instant(given, tz, end=end) if given is not None else None
        if isinstance(parsed, Msg):
            errors.append(FieldError("INVALID_DATE", parsed, parameter=name))
            parsed = None
        bounds[name] = parsed
    words: tuple[str, ...] = ()
    if params.q is not None:
        words = tuple(normalise_name(params.q).split())
        if not words:
            errors.append(
                FieldError(
                    "INVALID_VALUE", msg("no letters or digits to search for"), parameter="q"
                )
            )
    if errors:
        raise validation_failed(errors)
    return ReferralFilters(
        status=tuple(s.value for s in params.status or ()),
        pas_category=tuple(params.pas_category or ()),
        custody_status=tuple(c.value for c in params.custody_status or ()),
        responsible_agency=tuple(params.responsible_agency or ()),
        province_code=tuple(params.province_code or ()),
        regency_code=tuple(params.regency_code or ()),
        facility_code=tuple(params.facility_code or ()),
        sentra_code=tuple(params.sentra_code or ()),
        bapas_code=tuple(params.bapas_code or ()),
        release_type=tuple(r.value for r in params.release_type or ()),
        ppks_type=tuple(params.ppks_type or ()),
        release_date_from=release_date_from,
        release_date_to=release_date_to,
        created_from=bounds["created_from"],
        created_until=bounds["created_to"],
        overdue=params.overdue,
        follow_up_due=params.follow_up_due,
        nik=params.nik,
        name_words=words,
    )


async def list_request(
    params: Annotated[ListParams, Query()], settings: SettingsDep
) -> ListRequest:
    return ListRequest(
        filters=referral_filters(params, settings.tz),
        sort=params.sort,
        limit=params.limit,
        cursor=params.cursor,
    )


async def stats_request(
    params: Annotated[StatsParams, Query()], settings: SettingsDep
) -> StatsRequest:
    groups = list(dict.fromkeys(params.group_by or ()))
    return StatsRequest(referral_filters(params, settings.tz), groups)


async def export_request(
    params: Annotated[ExportParams, Query()], settings: SettingsDep
) -> ExportRequest:
    return ExportRequest(referral_filters(params, settings.tz), params.sort)
