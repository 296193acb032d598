"""A prison's synthetic backlog of release events as JSON Lines, for `rujukan import`.

The mix of a real backlog, case by case: most cases scheduled and then completed, some
completed only, some scheduled and cancelled, some corrected afterwards (`case.updated`),
a few with an older event arriving late (stale), a few lines written twice (replayed) and
a few the rules refuse (an impossible NIK). Every person is invented; all dates lie in
the past so the events are accepted on the day they are imported.

    python -m bench.backlog --events 100000 --facility LP-IMPORT > backlog.jsonl
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import random
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from app.intake.schemas import EXAMPLE_EVENT

JAKARTA = dt.timezone(dt.timedelta(hours=7))

# Kind of case → its share of cases. Each yields one to three lines.
MIX = (
    ("scheduled_completed", 55),
    ("completed", 20),
    ("scheduled_cancelled", 8),
    ("completed_corrected", 8),
    ("late_reschedule", 4),  # completed, then an older rescheduled: stale
    ("written_twice", 3),  # the same line twice: the second replays
    ("impossible_nik", 2),  # refused by the rules
)


def _person(n: int) -> dict[str, Any]:
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=n % 15_000)
    return {
        "nik": f"317101{birth:%d%m%y}{n // 15_000 % 9_999 + 1:04d}",
        "birth_date": birth.isoformat(),
        "full_name": f"Warga Binaan Sintetis {n}",
    }


class Backlog:
    def __init__(self, facility: str, *, seed: int = 2026, today: dt.date | None = None) -> None:
        self.facility = facility
        self.rng = random.Random(seed)
        self.today = today or dt.datetime.now(JAKARTA).date()
        kinds, weights = zip(*MIX, strict=True)
        self.kinds: tuple[str, ...] = kinds
        self.weights: tuple[int, ...] = weights
        self.expected: Counter[str] = Counter()

    def _event(self, n: int, kind: str, event_type: str, at: dt.datetime) -> dict[str, Any]:
        event: dict[str, Any] = copy.deepcopy(EXAMPLE_EVENT)
        event["event_id"] = f"IMP-{self.facility}-{n:07d}-{kind}-{event_type}"
        event["event_type"] = event_type
        event["occurred_at"] = at.isoformat(timespec="seconds")
        event["facility"]["code"] = self.facility
        event["case_ref"] = f"IMP/{n:07d}/2026"
        event["person"].update(_person(n))
        event["consent"]["evidence_ref"] = f"IMP/PERSETUJUAN/{n:07d}"
        event["consent"]["recorded_at"] = (at - dt.timedelta(days=30)).isoformat(timespec="seconds")
        event["in_custody_programmes"][0]["completed_on"] = None
        return event

    def case(self, n: int) -> list[dict[str, Any]]:
        """The lines of case `n`; `expected` counts the outcome each should get."""
        kind = self.rng.choices(self.kinds, self.weights)[0]
        release = self.today - dt.timedelta(days=self.rng.randint(2, 700))
        released_at = dt.datetime.combine(release, dt.time(8, 0), JAKARTA)
        scheduled_at = released_at - dt.timedelta(days=self.rng.randint(5, 60))

        def at_release(event_type: str, at: dt.datetime) -> dict[str, Any]:
            event = self._event(n, kind, event_type, at)
            event["release"]["date"] = release.isoformat()
            return event

        if kind == "scheduled_completed":
            lines = [
                at_release("release.scheduled", scheduled_at),
                at_release("release.completed", released_at),
            ]
            self.expected.update(["created", "updated"])
        elif kind == "completed":
            lines = [at_release("release.completed", released_at)]
            self.expected.update(["created"])
        elif kind == "scheduled_cancelled":
            lines = [
                at_release("release.scheduled", scheduled_at),
                at_release("release.cancelled", scheduled_at + dt.timedelta(days=1)),
            ]
            self.expected.update(["created", "cancelled"])
        elif kind == "completed_corrected":
            corrected = at_release("case.updated", released_at + dt.timedelta(hours=2))
            corrected["person"]["phone"] = "+6281300000000"
            lines = [at_release("release.completed", released_at), corrected]
            self.expected.update(["created", "updated"])
        elif kind == "late_reschedule":
            lines = [
                at_release("release.completed", released_at),
                at_release("release.rescheduled", scheduled_at),
            ]
            self.expected.update(["created", "stale"])
        elif kind == "written_twice":
            event = at_release("release.completed", released_at)
            lines = [event, event]
            self.expected.update(["created", "replayed"])
        else:
            event = at_release("release.completed", released_at)
            event["person"]["nik"] = "3171019999990001"  # day 99, month 99: no birth date
            lines = [event]
            self.expected.update(["refused"])
        return lines

    def lines(self, events: int) -> Iterator[dict[str, Any]]:
        """At least `events` lines (whole cases), in the order a prison would send them."""
        written, n = 0, 0
        while written < events:
            for event in self.case(n):
                written += 1
                yield event
            n += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="lines to write (at least)")
    parser.add_argument("--facility", default="LP-IMPORT", help="the cases' facility code")
    parser.add_argument("--seed", type=int, default=2026, help="the mix's random seed")
    args = parser.parse_args()
    out = sys.stdout.buffer
    backlog = Backlog(args.facility, seed=args.seed)
    for event in backlog.lines(args.events):
        out.write(orjson.dumps(event) + b"\n")
    print(orjson.dumps(dict(backlog.expected)).decode(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
