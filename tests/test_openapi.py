"""openapi/openapi.json is exactly what the service serves (regenerate: `rujukan openapi`)."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import openapi_document

CHECKED_IN = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_checked_in_openapi_matches_the_served_document() -> None:
    served = openapi_document()
    checked_in = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    assert checked_in == served, (
        "openapi/openapi.json is stale: run `rujukan openapi > openapi/openapi.json`"
    )


def test_every_request_body_has_an_example() -> None:
    served = openapi_document()
    missing = []
    for path, operations in served["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            content = body["content"]["application/json"]
            if "example" not in content and "examples" not in content:
                missing.append(f"{method.upper()} {path}")
    assert missing == []
