"""The CSV export as a Kemensos office opens it (SPEC §5): a spreadsheet program reads
the names intact and shows the outcome of a closed referral.

LibreOffice converts it headless. Given no import options, LibreOffice 7.4 headless reads
any CSV as Windows-1252 and skips a UTF-8 BOM only when told the file is UTF-8 (its
import dialog, like Excel, picks UTF-8 from the BOM): the conversion names the charset as
that dialog does; the BOM itself is checked in tests/referrals/test_corrections_api.py."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, Clients
from tests.intake.test_rules_api import event_for
from tests.support.referrals import drive, post_event, sentra_code

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
NAMES = [
    "Ni Luh Putu Ayu Déwi",
    "Nurhalíza binti Abdullah",
    "Ṡiti Aisyah",
    "Yohanes Ngongo Ndjurumana",
]


class _Cells(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


async def test_a_spreadsheet_reads_the_names_and_the_outcome(
    http: httpx.AsyncClient, clients: Clients, facility: str, tmp_path: Path
) -> None:
    if SOFFICE is None:
        # .ci/run installs it; elsewhere the test says why it did not run.
        if IN_CI:
            pytest.fail("LibreOffice (soffice) is not installed and CI=true")
        pytest.skip("LibreOffice (soffice) is not installed here")
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    ids = []
    for name in NAMES:
        ids.append(await post_event(http, prison, event_for(facility, person__full_name=name)))
    await drive(http, kemensos, ids[0], ["accept", "assign", "start_service", "close"], code)
    export = await http.get(
        "/v1/referrals/export.csv", params={"facility_code": facility}, headers=kemensos.headers
    )
    assert export.status_code == 200
    source = tmp_path / "rujukan.csv"
    source.write_bytes(export.content)
    profile = tmp_path / "profile"  # a throwaway LibreOffice user profile
    done = subprocess.run(  # noqa: ASYNC221 - the test waits for the conversion anyway
        [
            str(SOFFICE), f"-env:UserInstallation=file://{profile}", "--headless",
            "--infilter=Text - txt - csv (StarCalc):44,34,UTF-8",
            "--convert-to", "html", "--outdir", str(tmp_path), str(source),
        ],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cells = _Cells()
    cells.feed((tmp_path / "rujukan.html").read_text(encoding="utf-8"))
    header, *rows = [r for r in cells.rows if r]
    assert not header[0].startswith("\ufeff"), header[0]  # the BOM is no part of a cell
    by_name = {row[header.index("full_name")]: dict(zip(header, row, strict=False)) for row in rows}
    assert sorted(by_name) == sorted(NAMES)
    closed = by_name[NAMES[0]]
    assert (closed["status"], closed["outcome"]) == ("closed", "completed")
    assert closed["closed_at"].endswith("+07:00")
