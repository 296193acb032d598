from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response

from app.auth.deps import ApiRoute, require_role
from app.auth.principal import Principal
from app.auth.roles import REFERRAL_READERS, Role
from app.core.deps import ClockDep, ReadSessionDep, SessionDep
from app.core.openapi import PROBLEM_RESPONSES
from app.core.schemas import Items
from app.reference import sentra as service
from app.reference.deps import CoverageDep
from app.reference.sentra import SentraCreate, SentraOut, SentraReplace

router = APIRouter(
    prefix="/v1/sentra",
    tags=["Sentra registry"],
    responses=PROBLEM_RESPONSES,
    route_class=ApiRoute,
)

# The registry holds no personal data; every role that works with referrals (and the
# admin who manages it) reads it. The auditor reads the audit log only.
ReaderDep = Annotated[
    Principal,
    Depends(require_role(Role.kemensos, Role.admin, *sorted(REFERRAL_READERS))),
]
WriterDep = Annotated[Principal, Depends(require_role(Role.kemensos, Role.admin))]

_EXAMPLE = {
    "code": "HANDAYANI",
    "name": "Sentra Handayani",
    "province_code": "31",
    "regency_code": "3175",
    "coverage_regency_codes": ["3175"],
    "active": True,
}


def _examples(*, with_code: bool) -> dict[str, Any]:
    value = _EXAMPLE if with_code else {k: v for k, v in _EXAMPLE.items() if k != "code"}
    return {"handayani": {"summary": "Sentra Handayani, Jakarta Timur", "value": value}}


_READ = "Open to kemensos, admin, sentra and prison clients (not auditors). "
_WRITE = (
    "Kemensos and admin. Region codes are checked against the Kepmendagri 2025 table: an "
    "unknown code is a 422 `UNKNOWN_REGION`, a `regency_code` outside `province_code` a "
    "`REGION_MISMATCH`. Audited. "
)


@router.get(
    "",
    summary="The sentra registry, by code",
    description=_READ,
    response_model=Items[SentraOut],
)
async def list_sentra(
    _: ReaderDep,
    session: ReadSessionDep,
    active: Annotated[bool | None, Query(description="Only active (or inactive) ones.")] = None,
) -> Items[SentraOut]:
    rows = await service.list_sentra(session, active)
    return Items[SentraOut](items=[SentraOut.model_validate(r) for r in rows])


@router.post(
    "",
    summary="Register a sentra",
    description=_WRITE + "A code already registered is a 409 `SENTRA_EXISTS`.",
    status_code=201,
    response_model=SentraOut,
)
async def create_sentra(
    response: Response,
    principal: WriterDep,
    body: Annotated[SentraCreate, Body(openapi_examples=_examples(with_code=True))],
    session: SessionDep,
    coverage: CoverageDep,
    clock: ClockDep,
) -> SentraOut:
    coverage.forget()
    row = await service.create_sentra(session, principal, body, clock.now)
    response.headers["Location"] = f"/v1/sentra/{row.code}"
    return SentraOut.model_validate(row)


@router.get(
    "/{code}",
    summary="One sentra",
    description=_READ + "Unknown: 404 `SENTRA_NOT_FOUND`.",
    response_model=SentraOut,
)
async def get_sentra(code: str, _: ReaderDep, session: ReadSessionDep) -> SentraOut:
    return SentraOut.model_validate(await service.get_sentra(session, code))


@router.put(
    "/{code}",
    summary="Replace a sentra's data",
    description=_WRITE + "The whole record is replaced (omitted `coverage_regency_codes` "
    "means none, omitted `active` means true); `code` may be omitted, else it equals the "
    "path's. Unknown: 404 `SENTRA_NOT_FOUND` (PUT does not create). Deactivating a sentra "
    "leaves its referrals assigned; it can no longer be assigned.",
    response_model=SentraOut,
)
async def replace_sentra(
    code: str,
    principal: WriterDep,
    body: Annotated[SentraReplace, Body(openapi_examples=_examples(with_code=False))],
    session: SessionDep,
    coverage: CoverageDep,
    clock: ClockDep,
) -> SentraOut:
    coverage.forget()
    row = await service.replace_sentra(session, principal, code, body, clock.now)
    return SentraOut.model_validate(row)
