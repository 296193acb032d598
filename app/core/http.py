"""Reading JSON bodies ourselves: size limit after authentication, strict UTF-8, no NaN,
bounded nesting. Every failure is a problem (413/415/422), never a 5xx."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson
from fastapi import Request

from app.core.errors import FieldError, ProblemError

MIB = 1024 * 1024
MAX_DEPTH = 64
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def _malformed(detail: str) -> ProblemError:
    return ProblemError(
        "MALFORMED_JSON", detail, errors=[FieldError("MALFORMED_JSON", detail, pointer="")]
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: no NaN or Infinity by the back door
        raise ValueError("number out of range")
    return value


def _depth(value: Any) -> int:
    """How deeply `value` nests, counted up to just past MAX_DEPTH: level by level, looking
    only at containers (parsed JSON holds plain dicts and lists)."""
    level = [value]
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            break
        deeper = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                kind = type(child)
                if kind is dict or kind is list:
                    deeper.append(child)
        level = deeper
    return depth


def parse_json(raw: bytes) -> Any:
    if raw.strip() and not _LONG_NUMBER.search(raw):
        try:
            # orjson refuses whatever the careful path below refuses (invalid UTF-8, lone
            # surrogates, NaN, 1e400) and also some it accepts (nesting past 1,024): those
            # take the careful path for its exact answer. It reads an integer beyond 64
            # bits as a float: a body with a run of 19 digits takes the careful path too.
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(value, dict | list) and _depth(value) > MAX_DEPTH:
                raise _malformed(f"JSON nested deeper than {MAX_DEPTH} levels")
            return value
    return _parse_json_carefully(raw)


def _parse_json_carefully(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("the body is not valid UTF-8") from None
    if not text.strip():
        raise _malformed("the body is empty")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise _malformed(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        # json.JSONDecodeError says where, without echoing content.
        where = (
            f" at line {exc.lineno}, column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise _malformed(f"the body is not valid JSON{where}") from None
    if isinstance(value, dict | list) and _depth(value) > MAX_DEPTH:
        raise _malformed(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _check_media_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ProblemError("UNSUPPORTED_MEDIA_TYPE", "Send `Content-Type: application/json`.")


async def read_json(request: Request, limit: int) -> Any:
    """The parsed body; 413 as soon as more than `limit` bytes are announced or arrive."""
    too_large = ProblemError("PAYLOAD_TOO_LARGE", f"The body is limited to {limit // MIB} MiB.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    _check_media_type(request)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return parse_json(b"".join(chunks))
