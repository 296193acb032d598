"""Progress of a long command on stderr: a tqdm bar on a terminal, plain lines otherwise
(a log file or a CI job gets a line every few seconds, not carriage returns)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm

PLAIN_EVERY_SECONDS = 5.0


class Progress:
    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "rows",
        stream: TextIO | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.done = 0
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: tqdm[Any] | None = None
        if self.stream.isatty():
            self._bar = tqdm(total=total, desc=label, unit=f" {unit}", file=self.stream)

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_EVERY_SECONDS:
            self._last_line = now
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.label}: {self.done:,}"]
        if self.total:
            parts[0] += f"/{self.total:,}"
            left = (self.total - self.done) / rate if rate > 0 else 0.0
            parts.append(f"ETA {left:,.0f} s")
        parts.insert(1, f"{rate:,.0f} {self.unit}/s")
        print(", ".join(parts), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self._line(time.monotonic())

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
