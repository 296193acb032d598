"""Every sample of the guides does what the guide says, against bin/demo's server, today.

As a reader would: a fresh `rujukan serve` on the embedded SQLite, seeded by `rujukan
demo` (what bin/demo runs), on 127.0.0.1 and a free port, with the real clock. The
samples are taken from the markdown as printed and run in document order:

- a ```sh block after `<!-- guide-call: key=ROLE status=S,… [rerun=S,…] -->` is run by
  bash (and curl) with `RUJUKAN_URL`, `RUJUKAN_KEY` (the demo's key of ROLE) and `ID`
  (a `received` referral of the demo), and each curl call in it must answer the status
  listed; `items=S:OUTCOME_OR_CODE,…` checks the results of a batch, `names=NAME` the
  client named by a history's last entry (`_` for a space);
- the block marked `each=guide-event` is the command every ```json block marked
  `<!-- guide-event: status=S outcome=O -->` is posted with (saved as event.json);
- a ```json block after `<!-- guide-file: NAME -->` is saved as NAME for the calls after it,
  and the one after `<!-- guide-problem: request -->` as event.json.

Then, as a reader rerunning them would, `rujukan demo` again (new keys, same clients) and
every sample once more: an event replays its first answer (`Idempotent-Replayed: true`),
a call answers its `rerun` statuses (the same unless the guide says otherwise). Each guide
gets a fresh server. Every ```sh block that calls the service must be marked, so a new
sample cannot escape the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.ops.server import IN_CI, ROOT, rujukan, serve, service_env

DOCS = ROOT / "docs"
GUIDES = ["integration-guide.md", "integration-guide.id.md", "portal-guide.md"]
_BLOCK = re.compile(r"(?:<!-- (guide-[a-z]+):?([^>]*?) -->\s*)?```(\w*)\n(.*?)\n```", re.DOTALL)
_STATUS = re.compile(r"\n<<status (\d{3})>>\n")
# The reader's command, observed: each call's status after its output, its headers in a file.
_CURL = """_n=0
curl() {
  _n=$((_n + 1))
  command curl --max-time 30 --dump-header "headers.$_n" \\
    --write-out '\\n<<status %{http_code}>>\\n' "$@"
}
"""


@dataclass
class Sample:
    kind: str  # "call", "event", "file"
    body: str
    options: dict[str, str] = field(default_factory=dict)


def samples(name: str) -> list[Sample]:
    """The guide's samples in document order; fails on an unmarked call of the service."""
    text = (DOCS / name).read_text(encoding="utf-8")
    found: list[Sample] = []
    for marker, args, language, body in _BLOCK.findall(text):
        options = dict(part.split("=", 1) for part in args.split() if "=" in part)
        if marker == "guide-call":
            assert language == "sh", f"{name}: guide-call marks a {language} block"
            found.append(Sample("call", body, options))
        elif marker == "guide-event":
            found.append(Sample("event", body, options))
        elif marker == "guide-file":
            found.append(Sample("file", body, {"name": args.strip()}))
        elif marker == "guide-problem" and args.strip() == "request":
            # The Indonesian guide's refused event (tests/core/test_language_api.py checks
            # its answer word for word): the calls after it post it as event.json.
            found.append(Sample("problem", body, {"name": "event.json"}))
        else:
            assert not (language == "sh" and "$RUJUKAN_URL" in body), (
                f"{name}: a sample calling the service is not marked guide-call:\n{body}"
            )
    return found


def events(name: str) -> list[tuple[int, str, dict[str, Any]]]:
    return [
        (int(s.options["status"]), s.options["outcome"], json.loads(s.body))
        for s in samples(name)
        if s.kind == "event"
    ]


def test_both_integration_guides_carry_the_same_samples() -> None:
    english = events("integration-guide.md")
    assert len(english) >= 9
    assert {body["event_type"] for _, _, body in english} >= {
        "release.scheduled",
        "release.rescheduled",
        "release.completed",
        "release.cancelled",
        "release.revoked",
        "supervision.ended",
        "case.updated",
    }
    assert events("integration-guide.id.md") == english
    files = [s.body for s in samples("integration-guide.md") if s.kind == "file"]
    assert files == [s.body for s in samples("integration-guide.id.md") if s.kind == "file"]


def test_every_event_sample_states_its_answer_in_print() -> None:
    """The marker is invisible in the rendered guide: the line above it says the same."""
    for name, word in (("integration-guide.md", "Answer"), ("integration-guide.id.md", "Jawaban")):
        text = (DOCS / name).read_text(encoding="utf-8")
        markers = re.findall(r"<!-- guide-event: status=(\d+) outcome=(\w+) -->", text)
        printed = re.findall(
            rf"{word}: \*\*(\d+)\*\*, `outcome: (\w+)`\.\n\n<!-- guide-event", text
        )
        assert printed == markers, name


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def _run(block: str, env: dict[str, str], workdir: Path) -> list[Answer]:
    """`block` as the reader runs it; one answer per curl call."""
    for old in workdir.glob("headers.*"):
        old.unlink()
    done = subprocess.run(
        ["bash", "-c", _CURL + block],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{block}\nfailed: {done.stderr}"
    parts = _STATUS.split(done.stdout)
    answers = []
    for index, (output, status) in enumerate(zip(parts[0::2], parts[1::2], strict=False)):
        if output.startswith("HTTP/"):  # curl -i: the headers precede the body
            output = re.split(r"\r?\n\r?\n", output, maxsplit=1)[1]
        raw = (workdir / f"headers.{index + 1}").read_text(errors="replace")
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in raw.splitlines()[1:])
            if value
        )
        answers.append(Answer(int(status), headers, output))
    return answers


def _check_items(answer: Answer, spec: str, rerun: bool) -> None:
    """`spec` is `status:outcome-or-code,…`, one per batch result, in order."""
    results = answer.json()["results"]
    wanted = [item.split(":") for item in spec.split(",")]
    got = [
        [str(r["status"]), r.get("outcome") or r["problem"]["code"]]
        for r in results  # a 2xx has an outcome, a 4xx a problem
    ]
    assert got == wanted, answer.body
    for result in results:
        # `replayed` marks an item answered from the event_id's first answer (SPEC §3).
        assert result.get("replayed", False) is (rerun and result["status"] < 300), answer.body


def _walk(name: str, keys: dict[str, str], env: dict[str, str], workdir: Path, rerun: bool) -> int:
    found = samples(name)
    each = [s for s in found if s.kind == "call" and s.options.get("each") == "guide-event"]
    checked = 0
    for sample in found:
        if sample.kind in ("file", "problem"):
            (workdir / sample.options["name"]).write_text(sample.body + "\n", encoding="utf-8")
            continue
        if sample.kind == "event":
            (workdir / "event.json").write_text(sample.body + "\n", encoding="utf-8")
            [command] = each
            [answer] = _run(command.body, env | {"RUJUKAN_KEY": keys["prison"]}, workdir)
            event_id = json.loads(sample.body)["event_id"]
            assert answer.status == int(sample.options["status"]), (event_id, answer.body)
            assert answer.json()["outcome"] == sample.options["outcome"], event_id
            assert answer.json()["warnings"] == [], event_id
            assert (answer.headers.get("idempotent-replayed") == "true") is rerun, event_id
            checked += 1
            continue
        if "each" in sample.options:
            continue  # run with each event
        statuses = sample.options["status"]
        if rerun:
            statuses = sample.options.get("rerun", statuses)
        answers = _run(sample.body, env | {"RUJUKAN_KEY": keys[sample.options["key"]]}, workdir)
        assert [str(a.status) for a in answers] == statuses.split(","), (
            sample.body,
            [a.body for a in answers],
        )
        if "items" in sample.options:
            _check_items(answers[0], sample.options["items"], rerun)
        if "names" in sample.options:  # a history naming the client that made the last change
            named = [entry["client_name"] for entry in answers[0].json()["items"]]
            assert named[-1] == sample.options["names"].replace("_", " "), named
        checked += len(answers)
    return checked


def _demo_keys(env: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    demo: dict[str, Any] = rujukan(env, "demo")
    return {role: client["api_key"] for role, client in demo["clients"].items()}, demo


@pytest.mark.parametrize("name", GUIDES)
def test_the_guide_samples_do_what_the_guide_says(name: str, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        if IN_CI:
            pytest.fail("curl is not installed and CI=true: the guides' samples are curl lines")
        pytest.skip("curl is not installed (the guides' samples are curl lines)")
    workdir = tmp_path / "reader"
    workdir.mkdir()
    env = service_env(tmp_path)
    keys, demo = _demo_keys(env)  # bin/demo: seed, then serve
    # The portal guide walks a referral the demo left `received` (its first is assigned).
    reader = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "ID": demo["referral_ids"][1]}
    with serve(tmp_path, env) as served:
        first = _walk(name, keys, reader | {"RUJUKAN_URL": served.base_url}, workdir, False)
    assert first > 0
    keys, _ = _demo_keys(env)  # a reader restarting bin/demo: new keys, same clients and data
    with serve(tmp_path, env) as served:
        again = _walk(name, keys, reader | {"RUJUKAN_URL": served.base_url}, workdir, True)
    assert again == first
