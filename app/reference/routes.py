from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from app.auth.deps import ApiRoute, PrincipalDep
from app.core.errors import FieldError, validation_failed
from app.core.i18n import msg
from app.core.openapi import PROBLEM_RESPONSES
from app.core.schemas import Items, ResponseModel
from app.reference.catalogue import (
    ATENSI_COMPONENTS,
    PAS_CATEGORIES,
    PPKS_CATEGORY,
    PPKS_TYPES,
    RELEASE_TYPES,
    ReleaseGroup,
)
from app.reference.regions import load_regions

router = APIRouter(
    prefix="/v1/reference",
    tags=["Reference data"],
    responses=PROBLEM_RESPONSES,
    route_class=ApiRoute,
)


class PasCategoryOut(ResponseModel):
    code: str
    name_id: str
    name_en: str
    description: str
    ppks_types: list[int]


class ReleaseTypeOut(ResponseModel):
    code: str
    name_id: str
    name_en: str
    group: ReleaseGroup = Field(
        description="`convicted` (free), `supervised` (a Bapas supervises the person, still "
        "serving the sentence, until `supervision_end_date`) or `not_convicted` (a detainee "
        "released or acquitted, or a child diverted: never labelled `warga_binaan`)."
    )
    supervised: bool = Field(description="`group` is `supervised`.")


class PpksTypeOut(ResponseModel):
    number: int
    name_id: str
    name_en: str
    pas_category: str = Field(description="The PAS category (SPEC §6) the type falls in.")


class AtensiComponentOut(ResponseModel):
    code: str
    name_id: str
    name_en: str


class RegionOut(ResponseModel):
    code: str
    name: str


class RegencyOut(ResponseModel):
    code: str
    name: str
    province_code: str


@router.get("/pas-categories", summary="The 12 PAS target categories")
async def pas_categories(_: PrincipalDep) -> Items[PasCategoryOut]:
    return Items[PasCategoryOut](
        items=[
            PasCategoryOut(
                code=c.code,
                name_id=c.name_id,
                name_en=c.name_en,
                description=c.description,
                ppks_types=list(c.ppks_types),
            )
            for c in PAS_CATEGORIES
        ]
    )


@router.get("/release-types", summary="Release types and whether Bapas supervises them")
async def release_types(_: PrincipalDep) -> Items[ReleaseTypeOut]:
    return Items[ReleaseTypeOut](
        items=[
            ReleaseTypeOut(
                code=r.code.value,
                name_id=r.name_id,
                name_en=r.name_en,
                group=r.group,
                supervised=r.supervised,
            )
            for r in RELEASE_TYPES
        ]
    )


@router.get(
    "/ppks-types",
    summary="The 26 PPKS types and the PAS category each falls in",
    description="The PPKS-26 types (Permensos 08/2012) that `ppks_types` of a release event "
    "may name, each with the PAS category it refines: 3 anak berhadapan dengan hukum "
    "(`anak_rentan`), 16 ODHA and 17 korban penyalahgunaan NAPZA (`korban_napza_hiv`).",
)
async def ppks_types(_: PrincipalDep) -> Items[PpksTypeOut]:
    return Items[PpksTypeOut](
        items=[
            PpksTypeOut(
                number=p.number,
                name_id=p.name_id,
                name_en=p.name_en,
                pas_category=PPKS_CATEGORY[p.number],
            )
            for p in PPKS_TYPES
        ]
    )


@router.get(
    "/atensi-components",
    summary="The seven ATENSI components (Permensos 7/2021)",
    description="The components of Asistensi Rehabilitasi Sosial that the rehabilitation "
    "record names (`component` of assessments, plan goals and services): this service's "
    "code, the Indonesian name of Permensos 7/2021 and an English gloss.",
)
async def atensi_components(_: PrincipalDep) -> Items[AtensiComponentOut]:
    return Items[AtensiComponentOut](
        items=[
            AtensiComponentOut(code=c.code.value, name_id=c.name_id, name_en=c.name_en)
            for c in ATENSI_COMPONENTS
        ]
    )


@router.get("/provinces", summary="Provinces (Kepmendagri 2025)")
async def provinces(_: PrincipalDep) -> Items[RegionOut]:
    regions = load_regions()
    return Items[RegionOut](
        items=[RegionOut(code=r.code, name=r.name) for r in regions.provinces.values()]
    )


@router.get("/regencies", summary="Regencies and cities (Kepmendagri 2025)")
async def regencies(
    _: PrincipalDep,
    province_code: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{2}$", description="Only the regencies of this province."),
    ] = None,
) -> Items[RegencyOut]:
    regions = load_regions()
    if province_code is not None and province_code not in regions.provinces:
        raise validation_failed(
            [
                FieldError(
                    "UNKNOWN_REGION", msg("not a 2025 province code"), parameter="province_code"
                )
            ]
        )
    rows = regions.regencies.values()
    return Items[RegencyOut](
        items=[
            RegencyOut(code=r.code, name=r.name, province_code=r.parent_code or "")
            for r in rows
            if province_code is None or r.parent_code == province_code
        ]
    )
