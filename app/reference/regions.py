"""Kepmendagri 2025 region codes, shipped in the package (CC BY 4.0, see ATTRIBUTION.md)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Annotated

from pydantic import Field

# The forms of the codes; whether one exists is for the tables below to say.
ProvinceCode = Annotated[str, Field(pattern=r"^[0-9]{2}$")]
RegencyCode = Annotated[str, Field(pattern=r"^[0-9]{4}$")]


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class Regions:
    provinces: dict[str, Region]
    regencies: dict[str, Region]
    districts: dict[str, Region]

    def regencies_of(self, province_code: str) -> list[Region]:
        return [r for r in self.regencies.values() if r.parent_code == province_code]


def _read(name: str, parent_column: str | None) -> dict[str, Region]:
    text = resources.files("app.reference").joinpath("data", "wilayah", name).read_text("utf-8")
    rows = csv.DictReader(text.splitlines())
    return {
        row["code"]: Region(row["code"], row["name"], row[parent_column] if parent_column else None)
        for row in rows
    }


@lru_cache(maxsize=1)
def load_regions() -> Regions:
    return Regions(
        provinces=_read("provinces.csv", None),
        regencies=_read("regencies.csv", "province_code"),
        districts=_read("districts.csv", "regency_code"),
    )
