"""The error catalogue (app/errors.py CATALOGUE) and the codes the source uses agree.

- Every code the service can send is catalogued: a problem `code`, an `errors[]` or
  `warnings[]` code, a data-quality flag. Found two ways in `app/**/*.py`: in the
  contexts that produce codes (ProblemError, FieldError, PydanticCustomError, Refusal,
  problem_body, `code=`, the PAS rules' `.error`/`.warn`, the validation code map), and as
  any string literal shaped like a code (UPPER_SNAKE_CASE), unless listed in NOT_CODES.
- A code raised as a problem has an HTTP status in the catalogue.
- Every catalogue entry is used somewhere in the source, or listed in UNUSED_ALLOWED.
- The OpenAPI description renders every entry.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.cli import openapi_document
from app.core.errors import CATALOGUE

APP = Path(__file__).resolve().parents[2] / "app"
CODE = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*"  # in a context: UNAUTHENTICATED counts too
SNAKE = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"  # anywhere: only with an underscore

# Contexts whose first string argument (or `code=`) is a code sent to clients.
_CONTEXTS = [
    re.compile(
        r"\b(?:ProblemError|FieldError|PydanticCustomError|pydantic_error|Refusal|problem_body|_malformed)"
        rf"\(\s*(?:code\s*=\s*)?\"({CODE})\""
    ),
    re.compile(rf"\bcode\s*=\s*\"({CODE})\""),
    re.compile(rf"\bcode\s*==\s*\"({CODE})\""),
    re.compile(rf"\.(?:error|warn)\(\s*\"({CODE})\""),  # RuleResult in app/intake/rules.py
    re.compile(rf"\.(?:append|add)\(\s*\"({CODE})\""),  # data-quality flags
]
# app/core/validation.py maps pydantic error types to codes: `"missing": "FIELD_REQUIRED"`.
_TYPE_MAP = re.compile(rf"\"[a-z_]+\"\s*:\s*\"({CODE})\"")
_TYPE_MAP_FILE = "app/core/validation.py"
_PROBLEM_CONTEXT = re.compile(rf"\b(?:ProblemError|problem_body)\(\s*(?:code\s*=\s*)?\"({CODE})\"")
_ANY_LITERAL = re.compile(rf"[\"']({SNAKE})[\"']")

# Code-shaped literals that are not codes sent to clients.
NOT_CODES: dict[str, str] = {
    "FIRST_COMPLETED": "asyncio.wait(return_when=...) in the webhook relay",
}
NOT_CODE_PREFIXES = ("RUJUKAN_",)  # environment variable names
# Catalogued codes no source line names literally (with the reason).
UNUSED_ALLOWED: dict[str, str] = {
    # Set by migration 0003 on stored referrals whose consent lacks evidence; the next
    # applied event of the case (which must carry evidence) clears it.
    "LEGACY_CONSENT": "migrations/versions/2026-12-03-1200_release_groups_bapas_consent.py",
}


def _without_catalogue(path: Path, text: str) -> str:
    """app/errors.py minus the CATALOGUE literal itself (its keys are not uses)."""
    if path.name != "errors.py" or path.parent != APP:
        return text
    start = text.index("CATALOGUE: dict")
    end = text.index("\n}\n", start)
    return text[:start] + text[end:]


def sources() -> dict[str, str]:
    return {
        str(path.relative_to(APP.parent)): _without_catalogue(path, path.read_text("utf-8"))
        for path in sorted(APP.rglob("*.py"))
    }


def codes_in_context(files: dict[str, str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, text in files.items():
        patterns = [*_CONTEXTS, _TYPE_MAP] if name == _TYPE_MAP_FILE else _CONTEXTS
        for pattern in patterns:
            for code in pattern.findall(text):
                found.setdefault(code, set()).add(name)
    return found


def code_literals(files: dict[str, str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, text in files.items():
        for code in _ANY_LITERAL.findall(text):
            if code not in NOT_CODES and not code.startswith(NOT_CODE_PREFIXES):
                found.setdefault(code, set()).add(name)
    return found


def uncatalogued(files: dict[str, str]) -> dict[str, set[str]]:
    used = codes_in_context(files)
    for code, where in code_literals(files).items():
        used.setdefault(code, set()).update(where)
    return {code: where for code, where in used.items() if code not in CATALOGUE}


def test_every_code_used_in_the_source_is_catalogued() -> None:
    missing = uncatalogued(sources())
    assert missing == {}, (
        "codes used in app/ but missing from app/errors.py CATALOGUE (add them, or list a "
        f"literal that is not a code in NOT_CODES): {missing}"
    )


def test_the_scan_finds_codes_in_every_context() -> None:
    """The scanner itself can fail: each context of a made-up source is reported."""
    made_up = {
        "app/validation.py": '_TYPE_CODES = {"some_type": "NEW_MAPPED_FOUR"}',
        "app/example.py": """
raise ProblemError(
    "NEW_PROBLEM_ONE", "detail")
errors.append(FieldError(code="NEW_FIELD_TWO", detail="x", pointer="/a"))
result.error("NEW_RULE_THREE", "/b", "detail")
flags.append("NEW_FLAG_FIVE")
if e.code == "NEWCODESIX": pass
description = "mentions NEW_IN_PROSE in a sentence, which is not a code"
raise PydanticCustomError("INVALID_TEXT", "known codes are not reported")
raise ProblemError("UNAUTHENTICATED")
""",
    }
    assert set(uncatalogued(made_up)) == {
        "NEW_PROBLEM_ONE",
        "NEW_FIELD_TWO",
        "NEW_RULE_THREE",
        "NEW_MAPPED_FOUR",
        "NEW_FLAG_FIVE",
        "NEWCODESIX",
    }


def test_problem_codes_have_a_status() -> None:
    without_status = {
        code
        for text in sources().values()
        for code in _PROBLEM_CONTEXT.findall(text)
        if code in CATALOGUE and CATALOGUE[code].status is None
    }
    assert without_status == set(), (
        f"raised as problems but catalogued without a status: {without_status}"
    )


def test_every_catalogue_entry_is_used() -> None:
    text = "\n".join(sources().values())
    unused = sorted(
        code
        for code in CATALOGUE
        if f'"{code}"' not in text and f"'{code}'" not in text and code not in UNUSED_ALLOWED
    )
    assert unused == [], (
        f"catalogued but used nowhere in app/ (remove, or explain in UNUSED_ALLOWED): {unused}"
    )


def test_the_openapi_description_renders_the_catalogue() -> None:
    """In the last tag, "Conventions and errors": after the operations, not above them."""
    [last] = openapi_document()["tags"][-1:]
    assert last["name"] == "Conventions and errors"
    description = last["description"]
    for code, entry in CATALOGUE.items():
        assert f"| `{code}` |" in description
        if entry.status is not None:
            assert f"| `{code}` | {entry.status} |" in description
