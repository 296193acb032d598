"""Request dependencies of the reference package."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.reference.coverage import CoverageCache


async def get_coverage(request: Request) -> CoverageCache:
    coverage: CoverageCache = request.app.state.sentra_coverage
    return coverage


CoverageDep = Annotated[CoverageCache, Depends(get_coverage)]
