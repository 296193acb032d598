"""Reading JSON bodies ourselves: size limit after authentication, strict UTF-8, no NaN,
bounded nesting. Every failure is a problem (413/415/422), never a 5xx."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import anyio
import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope

from app.core.errors import PROBLEM_JSON, FieldError, ProblemError
from app.core.i18n import Msg, msg

MIB = 1024 * 1024
# Bodies larger than this are parsed off the event loop (a thread hop costs ~0.1 ms; a
# 10 MiB batch takes hundreds of ms to parse and check for depth).
OFF_LOOP_BYTES = 256 * 1024
MAX_DEPTH = 64
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def _malformed(detail: Msg) -> ProblemError:
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
                raise _malformed(msg("JSON nested deeper than {depth} levels", depth=MAX_DEPTH))
            return value
    return _parse_json_carefully(raw)


def _parse_json_carefully(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(msg("the body is not valid UTF-8")) from None
    if not text.strip():
        raise _malformed(msg("the body is empty"))
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise _malformed(msg("JSON nested deeper than {depth} levels", depth=MAX_DEPTH)) from None
    except ValueError as exc:
        # json.JSONDecodeError says where, without echoing content.
        if isinstance(exc, json.JSONDecodeError):
            raise _malformed(
                msg(
                    "the body is not valid JSON at line {line}, column {column}",
                    line=exc.lineno,
                    column=exc.colno,
                )
            ) from None
        raise _malformed(msg("the body is not valid JSON")) from None
    if isinstance(value, dict | list) and _depth(value) > MAX_DEPTH:
        raise _malformed(msg("JSON nested deeper than {depth} levels", depth=MAX_DEPTH))
    return value


def _check_media_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ProblemError("UNSUPPORTED_MEDIA_TYPE", msg("Send `Content-Type: application/json`."))


class JsonRequest(Request):
    """A request whose body is JSON read strictly: 415 for another media type (none means
    JSON), 413 past `limit` bytes when the route sets one (announced or as they arrive),
    422 `MALFORMED_JSON` for anything but one JSON document in UTF-8 (`parse_json`).
    FastAPI reads the body through `body()` and `json()`, so a typed body parameter gets
    what this parsed; the edge (`app.auth.deps.ApiRoute`) reads it first, after the key."""

    def __init__(self, scope: Scope, receive: Receive, *, limit: int | None = None) -> None:
        super().__init__(scope, receive)
        self.limit = limit
        self._parsed: Any = _UNREAD

    def _too_large(self) -> ProblemError:
        limit = self.limit or 0
        return ProblemError(
            "PAYLOAD_TOO_LARGE", msg("The body is limited to {mib} MiB.", mib=limit // MIB)
        )

    def _check_declared_length(self) -> None:
        declared = self.headers.get("content-length")
        if (
            self.limit is not None
            and declared is not None
            and declared.isdigit()
            and int(declared) > self.limit
        ):
            raise self._too_large()

    async def body(self) -> bytes:
        if self.limit is None or hasattr(self, "_body"):
            return await super().body()
        self._check_declared_length()
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.stream():
            size += len(chunk)
            if size > self.limit:
                raise self._too_large()
            chunks.append(chunk)
        self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if self._parsed is _UNREAD:
            # An announced size first, then the media type, then the bytes as they come.
            self._check_declared_length()
            _check_media_type(self)
            body = await self.body()
            if len(body) > OFF_LOOP_BYTES:
                # A large body is parsed in a worker thread: the event loop keeps answering
                # other requests (/healthz) meanwhile, the GIL switching every few ms.
                self._parsed = await anyio.to_thread.run_sync(parse_json, body)
            else:
                self._parsed = parse_json(body)
        return self._parsed

    def prune(self, value: Any) -> None:
        """Replace the parsed body (by one with fewer unknown members: app/auth/deps.py)."""
        self._parsed = value

    @property
    def parsed(self) -> Any:
        """The body as parsed so far; None when it was not read or is not JSON."""
        return None if self._parsed is _UNREAD else self._parsed


_UNREAD = object()


def problem_response(problem: ProblemError, request_id: str | None) -> JSONResponse:
    """`problem` as its application/problem+json response."""
    return JSONResponse(
        problem.body(request_id),
        status_code=problem.status,
        headers=problem.headers or None,
        media_type=PROBLEM_JSON,
    )
