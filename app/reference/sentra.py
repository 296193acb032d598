"""The sentra registry (SPEC §5): Kemensos's centres and the regencies each covers.

Managed data, not code: `assign` takes only an active sentra of this registry, and
`suggested_sentra_code` reads its coverage. Region codes are checked against the
Kepmendagri 2025 table like a release event's domicile.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import audit
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.i18n import msg
from app.core.schemas import ResponseModel, StrictBody, Text200, UnitCode
from app.reference.models import Sentra
from app.reference.regions import ProvinceCode as ProvinceCodeForm
from app.reference.regions import RegencyCode as RegencyCodeForm
from app.reference.regions import Regions, load_regions

SentraCode = Annotated[
    UnitCode,
    Field(
        description="Upper-case letters, digits and `-`, 2 to 32 characters.",
        examples=["HANDAYANI"],
    ),
]
ProvinceCode = Annotated[ProvinceCodeForm, Field(examples=["31"])]
RegencyCode = Annotated[RegencyCodeForm, Field(examples=["3175"])]


class SentraFields(StrictBody):
    name: Text200
    province_code: ProvinceCode = Field(description="Where the sentra is.")
    regency_code: RegencyCode | None = Field(
        default=None, description="Where the sentra is; inside `province_code`."
    )
    coverage_regency_codes: list[RegencyCode] = Field(
        default_factory=list,
        max_length=514,
        description="The regencies whose residents it serves (any province); drives "
        "`suggested_sentra_code`.",
        json_schema_extra={"uniqueItems": True},
    )
    active: bool = Field(default=True, description="Only an active sentra can be assigned.")


class SentraCreate(SentraFields):
    code: SentraCode


class SentraReplace(SentraFields):
    code: SentraCode | None = Field(default=None, description="If given, equal to the path's.")


class SentraOut(ResponseModel):
    code: str
    name: str
    province_code: str
    regency_code: str | None
    coverage_regency_codes: list[str]
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


def region_errors(body: SentraFields, regions: Regions) -> list[FieldError]:
    errors: list[FieldError] = []
    if body.province_code not in regions.provinces:
        errors.append(
            FieldError("UNKNOWN_REGION", msg("not a 2025 province code"), pointer="/province_code")
        )
    if body.regency_code is not None:
        regency = regions.regencies.get(body.regency_code)
        if regency is None:
            errors.append(
                FieldError(
                    "UNKNOWN_REGION", msg("not a 2025 regency code"), pointer="/regency_code"
                )
            )
        elif body.province_code in regions.provinces and regency.parent_code != body.province_code:
            errors.append(
                FieldError(
                    "REGION_MISMATCH",
                    msg("not a regency of province_code"),
                    pointer="/regency_code",
                )
            )
    seen: set[str] = set()
    for i, code in enumerate(body.coverage_regency_codes):
        pointer = f"/coverage_regency_codes/{i}"
        if code not in regions.regencies:
            errors.append(
                FieldError("UNKNOWN_REGION", msg("not a 2025 regency code"), pointer=pointer)
            )
        elif code in seen:
            errors.append(FieldError("INVALID_VALUE", msg("listed twice"), pointer=pointer))
        seen.add(code)
    return errors


def _check(body: SentraFields) -> None:
    errors = region_errors(body, load_regions())
    if errors:
        raise validation_failed(errors)


def _not_found(code: str) -> ProblemError:
    return ProblemError("SENTRA_NOT_FOUND", msg("No sentra `{code}`.", code=code))


def _write(row: Sentra, body: SentraFields, now: dt.datetime) -> None:
    row.name = body.name
    row.province_code = body.province_code
    row.regency_code = body.regency_code
    row.coverage_regency_codes = sorted(body.coverage_regency_codes)
    row.active = body.active
    row.updated_at = now


async def list_sentra(session: AsyncSession, active: bool | None) -> list[Sentra]:
    query = select(Sentra).order_by(Sentra.code)
    if active is not None:
        query = query.where(Sentra.active.is_(active))
    return list((await session.execute(query)).scalars())


async def get_sentra(session: AsyncSession, code: str) -> Sentra:
    row = await session.get(Sentra, code)
    if row is None:
        raise _not_found(code)
    return row


async def create_sentra(
    session: AsyncSession, principal: Principal, body: SentraCreate, now: dt.datetime
) -> Sentra:
    _check(body)
    if await session.get(Sentra, body.code) is not None:
        raise ProblemError(
            "SENTRA_EXISTS", msg("A sentra `{code}` exists; PUT updates it.", code=body.code)
        )
    row = Sentra(code=body.code, created_at=now)
    _write(row, body, now)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # created concurrently
        raise ProblemError(
            "SENTRA_EXISTS", msg("A sentra `{code}` exists.", code=body.code)
        ) from None
    audit.record(session, principal, "sentra.create", "success")
    return row


@dataclass(frozen=True, slots=True)
class RegistryRow:
    """One row of a registry file: where it came from, and the sentra it describes."""

    line: int
    body: SentraCreate


async def load_registry(
    session: AsyncSession, rows: list[RegistryRow], now: dt.datetime
) -> dict[str, int]:
    """Create or update each sentra of a checked file, as the operator (SPEC §9 `sentra
    import`); the caller's transaction makes it all or nothing."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    existing = {
        row.code: row
        for row in (
            await session.execute(
                select(Sentra).where(Sentra.code.in_([r.body.code for r in rows])).with_for_update()
            )
        ).scalars()
    }
    for row in rows:
        current = existing.get(row.body.code)
        if current is None:
            current = Sentra(code=row.body.code, created_at=now)
            _write(current, row.body, now)
            session.add(current)
            audit.record(session, None, "sentra.create", "success")
            counts["created"] += 1
        elif _same(current, row.body):
            counts["unchanged"] += 1
        else:
            _write(current, row.body, now)
            audit.record(session, None, "sentra.update", "success")
            counts["updated"] += 1
    await session.flush()
    return counts


def _same(row: Sentra, body: SentraFields) -> bool:
    return (
        row.name == body.name
        and row.province_code == body.province_code
        and row.regency_code == body.regency_code
        and list(row.coverage_regency_codes) == sorted(body.coverage_regency_codes)
        and row.active == body.active
    )


async def replace_sentra(
    session: AsyncSession,
    principal: Principal,
    code: str,
    body: SentraReplace,
    now: dt.datetime,
) -> Sentra:
    if body.code is not None and body.code != code:
        raise validation_failed(
            [FieldError("INVALID_VALUE", msg("must equal the code in the path"), pointer="/code")]
        )
    _check(body)
    row = await session.get(Sentra, code, with_for_update=True)
    if row is None:
        raise _not_found(code)
    _write(row, body, now)
    audit.record(session, principal, "sentra.update", "success")
    return row
