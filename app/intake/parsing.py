"""A release event from JSON: its canonical form (what the idempotency hash is taken of)
and its validation against the schema, with pointers into the request (SPEC §1, §3)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson
from pydantic import ValidationError

from app.core.errors import FieldError, json_pointer, validation_failed
from app.core.i18n import msg
from app.core.validation import body_errors, prune_unknown
from app.intake.schemas import ReleaseEvent


def canonical_json(value: Any) -> bytes:
    """`value` as the UTF-8 JSON its idempotency hash is taken of: keys sorted, no spaces,
    no escapes beyond JSON's own. Stored hashes depend on these bytes: orjson writes the
    same bytes as `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
    for every value without floats, which every valid event is (tests/intake/test_parsing.py
    pins it). What orjson refuses (integers beyond 64 bits, lone surrogates) takes
    `json.dumps`, which raises UnicodeEncodeError for a lone surrogate."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode()


def body_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def _surrogate_free(value: Any, loc: tuple[str | int, ...], bad: list[FieldError]) -> Any:
    """A copy of `value` without lone surrogates (JSON `"\\ud800"` parses to one, but it is
    no Unicode text: it can be neither stored nor answered); each is an INVALID_TEXT."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            bad.append(FieldError("INVALID_TEXT", msg("not valid Unicode text"), json_pointer(loc)))
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [_surrogate_free(v, (*loc, i), bad) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            clean = _surrogate_free(key, loc, []) if isinstance(key, str) else key
            if clean != key:
                bad.append(
                    FieldError(
                        "INVALID_TEXT", msg("not valid Unicode text"), json_pointer((*loc, clean))
                    )
                )
            out[clean] = _surrogate_free(child, (*loc, clean), bad)
        return out
    return value


def parse_event(
    raw: Any,
    prefix: tuple[str | int, ...] = (),
    canonical: bytes | None = None,
    *,
    omitted: int = 0,
) -> ReleaseEvent:
    """The validated event, or its 422. `canonical` is `raw` as canonical JSON when the
    caller has it (it is what the idempotency hash is taken of): validated directly.
    `omitted`: unknown members the caller already pruned from `raw` (counted, not listed)."""
    bad: list[FieldError] = []
    # At most MAX_ERRORS unknown members reach the validator; the rest are only counted.
    pruned, more = prune_unknown(raw, ReleaseEvent)
    omitted += more
    if canonical is None or pruned is not raw:
        try:
            canonical = canonical_json(pruned)
        except UnicodeEncodeError:  # a lone surrogate: each one an INVALID_TEXT
            canonical = json.dumps(_surrogate_free(pruned, (), bad)).encode()
    try:
        event = ReleaseEvent.model_validate_json(canonical)
    except ValidationError as exc:
        errors = body_errors(exc.errors(include_url=False))
    else:
        errors = []
    if bad:
        # The replaced text may have failed for another reason too: one error per field.
        flagged = {e.pointer for e in bad}
        errors = bad + [e for e in errors if e.pointer not in flagged]
    if errors:
        base = json_pointer(prefix)
        for error in errors:
            error.pointer = base + (error.pointer or "")
        raise validation_failed(errors, omitted=omitted)
    return event
