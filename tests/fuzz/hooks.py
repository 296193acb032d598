"""Schemathesis hooks for tests/fuzz (loaded by the CLI through SCHEMATHESIS_HOOKS).

`positive_data_acceptance` is the one check we wrap instead of taking as is. The schemas
say exactly what is accepted (SPEC §1), so a schema-valid request may be refused only for
what no schema can say — which region codes exist, that a date names a real day, which
cursor the server issued, rules across fields — and each operation lists those reasons in
its description. The wrapper lets through exactly the reasons its operation lists
(`app.openapi.BEYOND_SCHEMA`), by stable code and, where given, the field or parameter;
any other rejection of schema-valid data still fails the run. A 409 or a stale `If-Match`
(412) is a conflict with current state, not a rejection of the request's shape.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.openapi import BEYOND_SCHEMA

# Answers about current state, not about the request's shape.
STATE_STATUSES = frozenset({409, 412})


def _allowed(operation_id: str, code: object, location: object) -> bool:
    return any(
        code == allowed and (where is None or where == location)
        for allowed, where, _ in BEYOND_SCHEMA.get(operation_id, ())
    )


def _semantic_rejection(operation_id: str, status: int, body: Any) -> bool:
    """A refusal the operation documents as beyond its schema (app/openapi.py)."""
    if status in STATE_STATUSES:
        return True
    if status not in (400, 422) or not isinstance(body, dict):
        return False
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        return _allowed(operation_id, body.get("code"), None)
    return all(
        isinstance(e, dict)
        and _allowed(operation_id, e.get("code"), e.get("pointer", e.get("parameter")))
        for e in errors
    )


@schemathesis.check
def positive_data_acceptance_beyond_schema(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """`positive_data_acceptance`, except for the contract's semantic rejections."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        try:
            body = response.json()
        except ValueError:
            body = None
        operation_id = case.operation.definition.raw.get("operationId", "")
        if _semantic_rejection(operation_id, response.status_code, body):
            return None
        raise
