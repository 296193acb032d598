"""The text rules' JSON Schema patterns say what the rules accept (SPEC §1: exact schemas):
for names, single-line and free text, a value matches the pattern exactly when the rule
finds no fault in it (lengths aside: `maxLength`)."""

from __future__ import annotations

import random
import re

import pytest

from app.core.schemas import FREE_TEXT, NAME200, TEXT200, TextRule

# Around every boundary: C0/C1 controls, line separators, spaces of several kinds, format
# characters (bidi, zero-width, tags), marks, letters of other scripts.
CHARACTERS = [chr(c) for c in range(0x0, 0x250)] + [
    *"\u0301\u034f\u061c\u1680\u180e\u2000\u200b\u200d\u2028\u2029\u202e\u2060\u2066",
    *"\u3000\ufeff\ua9a7\U000110bd\U000e0001\U000e0041\U0001f600",
]


@pytest.mark.parametrize("rule", [NAME200, TEXT200, FREE_TEXT], ids=["name", "text", "free"])
def test_pattern_and_rule_agree(rule: TextRule) -> None:
    pattern = re.compile(rule.pattern)
    generator = random.Random(17)
    for _ in range(30_000):
        value = "".join(generator.choice(CHARACTERS) for _ in range(generator.randint(1, 5)))
        assert (pattern.fullmatch(value) is not None) is (rule.fault(value) is None), repr(value)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("Budi Santoso", True),
        ("Nyoman Ṡuarsa", True),
        ("ꦧꦸꦝꦶ", True),
        ("Budi \u202eosotnaS", False),
        ("Budi\u200bSantoso", False),
        ("\u3000\u00a0 ", False),
        ("Budi\x00", False),
    ],
)
def test_name_pattern_examples(value: str, accepted: bool) -> None:
    assert (re.fullmatch(NAME200.pattern, value) is not None) is accepted


def test_free_text_takes_line_breaks_but_no_lone_carriage_return() -> None:
    pattern = re.compile(FREE_TEXT.pattern)
    assert pattern.fullmatch("Baris satu\r\nBaris dua\n\tlagi")
    assert not pattern.fullmatch("a\rb")
