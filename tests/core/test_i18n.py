"""Problem texts in Bahasa Indonesia (SPEC §9), without a server: the negotiation of
`Accept-Language`, and the completeness of the Indonesian catalogue.

- Every catalogue code has an Indonesian title and meaning.
- Every detail template in app/ (`msg("…")`) is a literal with an Indonesian entry in
  app/core/details.py whose `{fields}` are the same; no entry there is left unused.
- Pydantic's own errors get their Indonesian by type, with the code's meaning as fallback.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.details import INDONESIAN, PYDANTIC
from app.core.errors import CATALOGUE, FieldError, ProblemError, problem_body
from app.core.i18n import Msg, fields_of, language_var, msg, negotiate
from app.core.validation import body_errors

APP = Path(__file__).resolve().parents[2] / "app"


# -- Accept-Language -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("id", "id"),
        ("ID", "id"),
        ("id-ID", "id"),
        ("id-id", "id"),
        ("in", "id"),  # Indonesian's withdrawn code, still sent by old Java clients
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("id-ID,id;q=0.9,en-US;q=0.8,en;q=0.7", "id"),  # a browser set to Indonesian
        ("en;q=0.5, id;q=0.8", "id"),
        ("id;q=0.5, en;q=0.8", "en"),
        ("id;q=0.8, en;q=0.8", "id"),  # a tie goes to the first listed
        ("en;q=0.8, id;q=0.8", "en"),
        ("fr, id;q=0.3", "id"),  # French is not offered: the best we have
        ("fr", "en"),
        ("*", "en"),
        ("id;q=0", "en"),  # "not Indonesian"
        ("id;q=0, *", "en"),
        ("id;q=abc", "en"),  # an unreadable q-value counts as 0
        ("id;q=1.5", "en"),
        ("id;q=nan", "en"),
        (" id ; q=0.9 ", "id"),
        (",,;;=", "en"),
        ("jv, su;q=0.9, id;q=0.8", "id"),  # Javanese, Sundanese, then Indonesian
    ],
)
def test_negotiation(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


# -- The catalogue's codes ---------------------------------------------------------------


# Indonesian that is rightly the same as the English (a header or a term kept as sent).
SAME_IN_BOTH = {"UNSUPPORTED_MEDIA_TYPE"}


def test_every_code_has_its_indonesian_title_and_meaning() -> None:
    missing = sorted(
        code
        for code, entry in CATALOGUE.items()
        if not entry.title_id.strip() or not entry.meaning_id.strip()
    )
    assert missing == [], f"catalogue codes without an Indonesian title or meaning: {missing}"
    untranslated = sorted(
        code
        for code, entry in CATALOGUE.items()
        if code not in SAME_IN_BOTH
        and (entry.title_id == entry.title or entry.meaning_id == entry.meaning)
    )
    assert untranslated == [], f"Indonesian identical to the English: {untranslated}"


def test_a_problem_without_a_detail_takes_the_meaning_in_its_language() -> None:
    english = problem_body("REFERRAL_NOT_FOUND", 404, None, "r1", lang="en")
    indonesian = problem_body("REFERRAL_NOT_FOUND", 404, None, "r1", lang="id")
    assert (english["title"], english["detail"]) == (
        CATALOGUE["REFERRAL_NOT_FOUND"].title,
        CATALOGUE["REFERRAL_NOT_FOUND"].meaning,
    )
    assert (indonesian["title"], indonesian["detail"]) == (
        "Rujukan tidak ditemukan",
        CATALOGUE["REFERRAL_NOT_FOUND"].meaning_id,
    )
    assert {k: v for k, v in english.items() if k not in ("title", "detail")} == {
        k: v for k, v in indonesian.items() if k not in ("title", "detail")
    }


# -- Detail templates --------------------------------------------------------------------


def templates_in(files: dict[str, str]) -> tuple[dict[str, set[str]], list[str]]:
    """Each `msg()` template in `files` (name → source) with where it is used, and the
    calls whose template is not a string literal (which no catalogue could hold)."""
    found: dict[str, set[str]] = {}
    not_literal: list[str] = []
    for name, text in files.items():
        for node in ast.walk(ast.parse(text)):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "msg"
            ):
                continue
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.setdefault(first.value, set()).add(f"{name}:{node.lineno}")
            else:
                not_literal.append(f"{name}:{node.lineno}")
    return found, not_literal


def sources() -> dict[str, str]:
    return {
        str(path.relative_to(APP.parent)): path.read_text("utf-8")
        for path in sorted(APP.rglob("*.py"))
    }


def untranslated(found: dict[str, set[str]]) -> dict[str, set[str]]:
    return {template: where for template, where in found.items() if template not in INDONESIAN}


def test_every_detail_template_has_its_indonesian() -> None:
    found, not_literal = templates_in(sources())
    assert not_literal == [], f"msg() needs a literal template (the catalogue's key): {not_literal}"
    missing = untranslated(found)
    assert missing == {}, f"templates without Indonesian in app/core/details.py: {missing}"
    mismatched = {
        template: (sorted(fields_of(template)), sorted(fields_of(INDONESIAN[template])))
        for template in found
        if fields_of(template) != fields_of(INDONESIAN[template])
    }
    assert mismatched == {}, f"fields differ between English and Indonesian: {mismatched}"
    unused = sorted(set(INDONESIAN) - set(found))
    assert unused == [], f"Indonesian for templates no longer used (remove them): {unused}"


def test_the_scan_finds_an_untranslated_template_and_a_computed_one() -> None:
    """The scanner itself can fail."""
    made_up = {
        "app/example.py": (
            'FieldError("INVALID_VALUE", msg("a sentence nobody translated"), pointer="/a")\n'
            'ProblemError("NOT_FOUND", msg("listed twice"))\n'
            'ProblemError("NOT_FOUND", msg(f"computed {x}"))\n'
        )
    }
    found, not_literal = templates_in(made_up)
    assert set(untranslated(found)) == {"a sentence nobody translated"}
    assert not_literal == ["app/example.py:3"]


def test_the_indonesian_pydantic_templates_name_real_error_types() -> None:
    from pydantic_core.core_schema import ErrorType

    known = set(get_args(ErrorType))
    assert set(PYDANTIC) <= known, set(PYDANTIC) - known


def test_a_detail_renders_in_the_language_asked_or_the_request_s() -> None:
    detail = msg("age at release over {max_age}", max_age=100)
    assert detail.render("en") == "age at release over 100"
    assert detail.render("id") == "usia saat keluar dari UPT lebih dari 100 tahun"
    assert str(detail) == "age at release over 100"
    token = language_var.set("id")
    try:
        assert detail.render() == "usia saat keluar dari UPT lebih dari 100 tahun"
        error = FieldError("INVALID_DATE", detail, pointer="/person/birth_date")
        body = ProblemError("VALIDATION_FAILED", errors=[error]).body("r1")
    finally:
        language_var.reset(token)
    assert body["title"] == "Validasi gagal"
    assert body["errors"] == [
        {
            "pointer": "/person/birth_date",
            "code": "INVALID_DATE",
            "detail": "usia saat keluar dari UPT lebih dari 100 tahun",
        }
    ]


# -- Pydantic's own errors -------------------------------------------------------------------


class _Sample(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(max_length=3)
    count: int = Field(ge=1)
    kind: str = Field(pattern="^[a-z]+$")
    day: dt.date
    flag: bool
    items: list[int] = Field(min_length=1)


def _errors(data: dict[str, Any]) -> dict[str, FieldError]:
    try:
        _Sample.model_validate(data)
    except ValidationError as exc:
        return {e.pointer or "": e for e in body_errors(exc.errors())}
    raise AssertionError("expected validation errors")


def test_pydantic_errors_in_indonesian_by_type() -> None:
    errors = _errors(
        {"name": "abcd", "count": 0, "kind": "A1", "day": "x", "flag": "yes", "items": [], "z": 1}
    )
    assert {p: e.detail.render("id") for p, e in errors.items()} == {
        "/name": "Teks harus berisi paling banyak 3 karakter",
        "/count": "Nilai harus lebih besar dari atau sama dengan 1",
        "/kind": "Teks harus sesuai dengan pola '^[a-z]+$'",
        "/day": "Nilai harus berupa tanggal YYYY-MM-DD",
        "/flag": "Nilai harus berupa boolean (true atau false)",
        "/items": "Daftar harus berisi sedikitnya 1 item",
        "/z": "Field tambahan tidak diperbolehkan",
    }
    # English stays pydantic's own.
    assert errors["/z"].detail.render("en") == "Extra inputs are not permitted"
    assert {p: e.code for p, e in errors.items()}["/name"] == "INVALID_TEXT"


def test_an_unknown_pydantic_type_falls_back_to_the_code_s_meaning() -> None:
    detail = body_errors(
        [{"type": "some_future_check", "loc": ("a",), "msg": "Something new", "ctx": {}}]
    )[0]
    assert detail.code == "INVALID_VALUE"
    assert detail.detail.render("en") == "Something new"
    assert detail.detail.render("id") == CATALOGUE["INVALID_VALUE"].meaning_id


def test_a_pydantic_template_whose_context_is_missing_falls_back_too() -> None:
    detail = body_errors([{"type": "greater_than_equal", "loc": ("a",), "msg": "x"}])[0].detail
    assert detail.render("id") == CATALOGUE["INVALID_VALUE"].meaning_id


def test_our_errors_raised_inside_pydantic_keep_their_template() -> None:
    from app.intake.schemas import ReleaseEventBatch

    with pytest.raises(ValidationError) as caught:
        ReleaseEventBatch.model_validate({"events": []})
    [error] = body_errors(caught.value.errors())
    assert error.code == "BATCH_SIZE"
    assert isinstance(error.detail, Msg)
    assert error.detail.render("en") == "1 to 500 events"
    assert error.detail.render("id") == "1 sampai 500 event"


def _leaves(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict):
        return [leaf for key, child in node.items() for leaf in _leaves(child, (*path, key))]
    if isinstance(node, list) and node:
        return [leaf for i, child in enumerate(node) for leaf in _leaves(child, (*path, i))]
    return [path]


@pytest.mark.parametrize("wrong", [{"x": 1}, [1], "zz", -1, 1.5, True, None, "x" * 5000])
def test_every_schema_error_of_an_event_has_its_own_indonesian(wrong: Any) -> None:
    """Each field of a valid event given a value of the wrong kind: the pydantic error types
    intake can answer all have their Indonesian (none falls back to the code's meaning)."""
    import copy

    from app.intake.parsing import parse_event
    from tests.factories import make_event

    event = make_event()
    fallbacks: dict[str, str] = {}
    for path in _leaves(event):
        broken = copy.deepcopy(event)
        node: Any = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = wrong
        try:
            parse_event(broken)
        except ProblemError as problem:
            for error in problem.errors:
                if error.detail.render("id") == CATALOGUE[error.code].meaning_id:
                    fallbacks[error.pointer or ""] = error.detail.render("en")
    assert fallbacks == {}


def test_the_review_document_holds_every_text() -> None:
    """docs/i18n-review.md is what the lead sends to a fluent reader: it must be current."""
    from tests.core.i18n_review import ROOT, render

    document = (ROOT / "docs" / "i18n-review.md").read_text(encoding="utf-8")
    assert document == render(), (
        "regenerate: .venv/bin/python -m tests.core.i18n_review > docs/i18n-review.md"
    )
