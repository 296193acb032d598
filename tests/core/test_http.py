"""Bodies parsed by app/http.py: orjson where it gives the same answer as the stdlib."""

from __future__ import annotations

import json

import pytest

from app.core.errors import ProblemError
from app.core.http import parse_json


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 12345678901234567890123}',
        b'{"a": [1, -9223372036854775809, 18446744073709551616]}',
        b'{"a": "\\u00e9", "b": [true, null, 1.5]}',
    ],
)
def test_values_are_exactly_the_stdlib_ones(raw: bytes) -> None:
    value = parse_json(raw)
    assert value == json.loads(raw)
    assert json.dumps(value) == json.dumps(json.loads(raw))  # ints stay ints, not floats


@pytest.mark.parametrize("raw", [b"", b"  ", b"{", b'{"a": NaN}', b'{"a": 1e400}', b"\xff"])
def test_what_is_no_json_is_malformed(raw: bytes) -> None:
    with pytest.raises(ProblemError) as info:
        parse_json(raw)
    assert info.value.code == "MALFORMED_JSON"
