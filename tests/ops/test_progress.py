"""Progress on stderr: plain lines when stderr is no terminal (a log file, CI)."""

from __future__ import annotations

import io

import pytest

from app.ops import progress
from app.ops.progress import Progress


def test_plain_lines_with_rate_and_eta_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([0.0, 6.0, 7.0, 12.5, 13.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(ticks))
    out = io.StringIO()
    with Progress("import", total=1_000, unit="events", stream=out) as bar:
        bar.advance(300)  # t=6: a line (5 s since the start)
        bar.advance(100)  # t=7: too soon for another
        bar.advance(100)  # t=12.5: a line
    lines = out.getvalue().splitlines()
    assert lines[0] == "import: 300/1,000, 50 events/s, ETA 14 s"
    assert lines[1] == "import: 500/1,000, 40 events/s, ETA 12 s"
    assert lines[-1].startswith("import: 500/1,000")  # the closing line
    assert "\r" not in out.getvalue()


def test_without_a_total_no_eta() -> None:
    out = io.StringIO()
    with Progress("retention", unit="referrals", stream=out) as bar:
        bar.advance(20)
    assert out.getvalue().startswith("retention: 20, ")
    assert "ETA" not in out.getvalue()
