"""The idempotency hash's canonical form (app/intake/service.py `canonical_json`).

Stored body hashes were taken of `json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`; orjson must write the same bytes for every value an event can hold,
or a resend after an upgrade would be a 409 instead of a replay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.intake.parsing import body_hash, canonical_json
from app.intake.schemas import EXAMPLE_EVENT

TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]))
LEAF = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | TEXT
VALUES = st.recursive(LEAF, lambda c: st.lists(c) | st.dictionaries(TEXT, c), max_leaves=40)


def reference(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=2000, deadline=None)
@given(VALUES)
def test_canonical_json_is_the_stdlib_canonical_form(value: Any) -> None:
    assert canonical_json(value) == reference(value)


@pytest.mark.parametrize(
    "value",
    [
        10**30,
        {"b": [10**30, "é"], "a": None},
        "\x00\x1f\x7f\u2028\U0001f600",
        {"\u00e9": 1, "z": 2},
    ],
)
def test_what_orjson_refuses_or_escapes_differently_takes_the_stdlib(value: Any) -> None:
    assert canonical_json(value) == reference(value)


def test_a_lone_surrogate_cannot_be_canonical() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"name": "\ud800"})


def test_the_hash_of_the_example_event_is_stable() -> None:
    """Pinned: a change here breaks the replay of every event stored before it."""
    assert body_hash({"b": 1, "a": ["x", None, True]}) == (
        "8ceb0641e6e1c1616fb86a8f375f277d89652aabcd2e9d2637db215d1de40494"
    )
    assert body_hash(EXAMPLE_EVENT) == body_hash(json.loads(json.dumps(EXAMPLE_EVENT)))
