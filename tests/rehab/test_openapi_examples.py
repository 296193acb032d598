"""Every path of the rehabilitation record is documented with examples in the integrators'
language (ATENSI terms in Indonesian, English glosses in the summaries)."""

from __future__ import annotations

from typing import Any

import pytest

from app.cli import openapi_document

BASE = "/v1/referrals/{referral_id}"


@pytest.fixture(scope="module")
def paths() -> dict[str, Any]:
    document: dict[str, Any] = openapi_document()
    return document["paths"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/assessments"),
        ("put", "/plan"),
        ("post", "/appointments"),
        ("post", "/appointments/{appointment_id}/attendance"),
        ("post", "/services"),
        ("post", "/notes"),
    ],
)
def test_every_write_has_request_examples(paths: dict[str, Any], method: str, path: str) -> None:
    operation = paths[BASE + path][method]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert examples
    for example in examples.values():
        assert example["summary"] and example["value"]
    assert operation["tags"] == ["Rehabilitation record"]


@pytest.mark.parametrize("path", ["/plan", "/appointments", "/notes", "/report"])
def test_the_reads_show_an_answer(paths: dict[str, Any], path: str) -> None:
    content = paths[BASE + path]["get"]["responses"]["200"]["content"]["application/json"]
    assert content["example"]


def test_the_codes_of_section_10_are_named_on_their_operations(paths: dict[str, Any]) -> None:
    text = str(paths)
    for code in (
        "REFERRAL_ENDED",
        "INVALID_STATE",
        "UNKNOWN_GOAL",
        "ATTENDANCE_RECORDED",
        "APPOINTMENT_NOT_DUE",
        "NO_PLAN",
        "NO_REPORT",
        "REPORT_REQUIRED",
        "REPORT_INCOMPLETE",
        "APPOINTMENT_NOT_FOUND",
    ):
        assert code in text, code
