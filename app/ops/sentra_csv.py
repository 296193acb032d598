"""`rujukan sentra import FILE.csv`: the sentra registry from a spreadsheet (SPEC §9).

A fresh database has no sentra, and `assign` takes only a registered one. The file is
checked whole before anything is written: each row like `PUT /v1/sentra/{code}`, codes
unique in the file; one refused row and nothing is loaded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.core.errors import FieldError
from app.core.i18n import msg
from app.core.validation import body_errors
from app.reference.regions import load_regions
from app.reference.sentra import RegistryRow, SentraCreate, region_errors

COLUMNS = ("code", "name", "province_code", "regency_code", "coverage_regency_codes", "active")
_TRUE = frozenset({"true", "1", "yes", "ya"})
_FALSE = frozenset({"false", "0", "no", "tidak"})


@dataclass(frozen=True, slots=True)
class RefusedRow:
    line: int
    code: str | None
    errors: list[FieldError]

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "errors": [e.as_dict() for e in self.errors]}


class RegistryFileError(Exception):
    """The file itself is unusable (not UTF-8, a wrong header): one line for the operator."""


def _active(value: str) -> bool | str:
    lowered = value.strip().lower()
    if lowered == "" or lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return value  # left for the model to refuse with its own message


def parse_registry(data: bytes) -> tuple[list[RegistryRow], list[RefusedRow]]:
    """Every row checked; the rows to load, or those refused (then nothing is loaded)."""
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's BOM is not part of the header
    except UnicodeDecodeError as exc:
        raise RegistryFileError(f"not UTF-8 (byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = tuple(name.strip() for name in reader.fieldnames or ())
    if sorted(header) != sorted(COLUMNS):
        raise RegistryFileError(
            f"the header must name the columns {','.join(COLUMNS)}; it names "
            f"{','.join(header) or 'nothing'}"
        )
    regions = load_regions()
    rows: list[RegistryRow] = []
    refused: list[RefusedRow] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        fields = {(k or "").strip(): (v or "") for k, v in record.items() if k is not None}
        if None in record:
            refused.append(
                RefusedRow(
                    line,
                    fields["code"].strip() or None,
                    [FieldError("INVALID_VALUE", msg("more cells than columns"))],
                )
            )
            continue
        body: dict[str, Any] = {
            "code": fields["code"].strip(),
            "name": fields["name"].strip(),
            "province_code": fields["province_code"].strip(),
            "regency_code": fields["regency_code"].strip() or None,
            "coverage_regency_codes": fields["coverage_regency_codes"].split(),
            "active": _active(fields["active"]),
        }
        code = body["code"] or None
        try:
            sentra = SentraCreate.model_validate(body)
        except ValidationError as exc:
            refused.append(RefusedRow(line, code, body_errors(exc.errors())))
            continue
        errors = region_errors(sentra, regions)
        if sentra.code in seen:
            errors.append(
                FieldError(
                    "INVALID_VALUE",
                    msg("also on line {line} of the file", line=seen[sentra.code]),
                    pointer="/code",
                )
            )
        seen.setdefault(sentra.code, line)
        if errors:
            refused.append(RefusedRow(line, code, errors))
        else:
            rows.append(RegistryRow(line, sentra))
    return rows, refused
