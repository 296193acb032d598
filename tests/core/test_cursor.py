from __future__ import annotations

import pytest

from app.core.cursor import CursorCodec
from app.core.errors import ProblemError

OLD, NEW = b"o" * 32, b"n" * 32


def test_round_trip_and_scope_binding() -> None:
    codec = CursorCodec(NEW)
    token = codec.encode("list:a", [1, "x"])
    assert codec.decode("list:a", token) == [1, "x"]
    with pytest.raises(ProblemError) as excinfo:
        codec.decode("list:b", token)
    assert excinfo.value.code == "INVALID_CURSOR"


def test_a_cursor_from_before_a_key_rotation_still_works_while_the_old_key_is_kept() -> None:
    token = CursorCodec(OLD).encode("feed", [7, 9])
    assert CursorCodec(NEW, OLD).decode("feed", token) == [7, 9]
    with pytest.raises(ProblemError):
        CursorCodec(NEW).decode("feed", token)


@pytest.mark.parametrize("token", ["", "!!!", "AAAA", "a" * 40])
def test_garbage_is_invalid(token: str) -> None:
    with pytest.raises(ProblemError):
        CursorCodec(NEW).decode("feed", token)


def test_one_flipped_character_is_invalid() -> None:
    codec = CursorCodec(NEW)
    token = codec.encode("s", [1])
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(ProblemError):
        codec.decode("s", flipped)
