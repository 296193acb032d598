"""The OpenAPI document is good enough to integrate from without asking anyone.

Every operation has a summary, a description and a described tag, a readable unique
`operationId`; `/v1` operations declare the bearer scheme and the operational endpoints
none; operations that take `If-Match` declare 412 and 428; every enumeration explains
each of its values, the domain ones with their Indonesian terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from app.cli import openapi_document


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def test_every_operation_is_summarised_described_and_tagged(document: dict[str, Any]) -> None:
    described_tags = {t["name"] for t in document.get("tags", []) if t.get("description")}
    problems = []
    for method, path, operation in _operations(document):
        where = f"{method} {path}"
        if not operation.get("summary", "").strip():
            problems.append(f"{where}: no summary")
        if len(operation.get("description", "").strip()) < 20:
            problems.append(f"{where}: no description (route `description=`)")
        if not operation.get("tags"):
            problems.append(f"{where}: no tag")
        problems += [
            f"{where}: tag {tag!r} has no description (app/openapi_docs.py TAGS)"
            for tag in operation.get("tags", [])
            if tag not in described_tags
        ]
    assert problems == []


def test_operation_ids_are_unique_snake_case_names(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"[a-z][a-z0-9_]*", i)] == []
    assert "post_event" in ids and "post_transition" in ids


def test_v1_operations_declare_the_bearer_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for method, path, operation in _operations(document):
        if path.startswith("/v1/"):
            assert operation.get("security") == [{"apiKey": []}], f"{method} {path}"
            assert "401" in operation["responses"], f"{method} {path}: no 401"
        else:
            assert "security" not in operation, f"{method} {path} is open by contract"


def test_conditional_operations_declare_412_and_428(document: dict[str, Any]) -> None:
    conditional = 0
    for method, path, operation in _operations(document):
        headers = {
            p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"
        }
        if "if-match" in headers:
            conditional += 1
            assert {"412", "428"} <= set(operation["responses"]), f"{method} {path}"
    assert conditional >= 1


def _enum_of(node: dict[str, Any]) -> list[str] | None:
    for candidate in [node, node.get("items"), *(node.get("anyOf") or [])]:
        if isinstance(candidate, dict):
            for inner in (candidate, candidate.get("items")):
                if isinstance(inner, dict) and isinstance(inner.get("enum"), list):
                    return [v for v in inner["enum"] if isinstance(v, str)]
    return None


def _enums(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """(location, the node that should describe it, values) for every enumeration."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _enums(item, f"{where}/{i}")
    elif isinstance(node, dict):
        values = _enum_of(node)
        if values is not None:
            yield where, node, values
            return
        for key, value in node.items():
            yield from _enums(value, f"{where}/{key}")


def test_every_enum_explains_each_value(document: dict[str, Any]) -> None:
    found = list(_enums(document["components"]["schemas"], "#/components/schemas"))
    for method, path, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            values = _enum_of(parameter.get("schema", {}))
            if values is not None:
                found.append((f"{method} {path} ?{parameter['name']}", parameter, values))
    assert len(found) > 10
    unexplained = [
        f"{where}: {value}"
        for where, node, values in found
        for value in values
        if f"`{value}` — " not in node.get("description", "")
    ]
    assert unexplained == [], "add the meanings to app/openapi_docs.py ENUM_MEANINGS"


@pytest.mark.parametrize(
    ("schema", "terms"),
    [
        ("ReleaseType", ["Bebas murni", "Pembebasan bersyarat", "Bapas"]),
        ("FacilityType", ["Lembaga Pemasyarakatan", "Rumah Tahanan Negara", "remand centre"]),
        ("ReleaseEventType", ["Rencana keluar dari UPT", "revoked"]),
        ("ProgrammeKind", ["Pelatihan kerja", "vocational training"]),
        ("Status", ["Diterima Kemensos", "Terminal"]),
        ("CustodyStatus", ["Dikembalikan ke UPT"]),
    ],
)
def test_domain_enums_speak_both_languages(
    document: dict[str, Any], schema: str, terms: list[str]
) -> None:
    description = document["components"]["schemas"][schema]["description"]
    for term in terms:
        assert term in description


def test_pas_categories_carry_their_indonesian_names(document: dict[str, Any]) -> None:
    pas = document["components"]["schemas"]["ReleaseEvent"]["properties"]["pas_categories"]
    assert "**Lanjut usia terlantar**: Neglected older persons" in pas["description"]
    assert "PPKS-26 types 16, 17" in pas["description"]
