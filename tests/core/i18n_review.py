"""docs/i18n-review.md: every Indonesian text the service sends, beside its English, for a
fluent reader to review. Regenerate after changing a text:

    .venv/bin/python -m tests.core.i18n_review > docs/i18n-review.md

tests/core/test_i18n.py fails when the document and the catalogue disagree.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_core import PydanticKnownError

from app.core.details import INDONESIAN, PYDANTIC
from app.core.errors import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "integration-guide.id.md"
GUIDE_SECTION = "### Pesan kesalahan dalam Bahasa Indonesia"

HEADER = """\
# Indonesian texts for review

Every Indonesian text Rujukan sends in a problem (`title`, `detail`, `errors[].detail`) when
the caller asks for Bahasa Indonesia (`Accept-Language: id`, SPEC §9), beside its English.
Written by a non-native writer: please have a fluent reader who knows the corrections and
social-rehabilitation vocabulary (a Kemensos social worker, a Bapas PK) check them.
Generated from the code (`.venv/bin/python -m tests.core.i18n_review > docs/i18n-review.md`);
a test fails when this file and the code disagree, so corrections go into
`app/core/errors.py` (codes) and `app/core/details.py` (details), then regenerate.

## Choices a reviewer should check

- **Person leaving a facility**: "keluar dari UPT", never "bebas", since a person on PB,
  CB, CMB or asimilasi is still serving the sentence (DOMAIN.md); "pembebasan" only for
  the event or a release that really frees the person ("pembebasan murni", "pembebasan
  tanpa pembimbingan Bapas", "pembebasan `not_convicted`").
- **The `supervised` group** is named by the officers' legal terms: "integrasi (PB, CB,
  CMB) atau asimilasi" (the regulations on them speak of "pencabutan" of each), not
  "pembebasan yang dibimbing Bapas" (asimilasi is pembinaan, not a pembebasan, and a
  pembebasan is not "dibimbing": a person is). Supervision itself is "pembimbingan Bapas";
  its end is "tanggal akhir pembimbingan"; `NOT_SUPERVISED` is "Tidak dalam pembimbingan
  Bapas". Check: some Bapas say "masa bimbingan" or "pengawasan" instead.
- **The convicted**: "orang yang dipidana" (covers narapidana and anak binaan), not
  "narapidana" alone; a never-convicted person is "tidak pernah dipidana".
- **Guardian**: "orang tua/wali" (UU 27/2022 Pasal 25 names both), as in the OpenAPI gloss.
- **Titles** say what is missing: "... wajib diisi" / "... wajib dicantumkan" /
  "... diperlukan", never a bare "... wajib".
- **Bound to**: "terikat pada" (not "terikat ke"); a sentra registry is "daftar sentra";
  "nomor/acuan", not "nomor rujukan", for `evidence_ref`, since "rujukan" is the referral.
- **API client vs. Bapas client**: "klien" is also the person under Bapas supervision
  (klien pemasyarakatan), so an API client is "klien API" wherever it could be misread.
- **Case**: "kasus" for the custody episode (`facility.code`, `case_ref`), as in the guide.
- **Kept in English** because the guides and the API use them so: field names, codes, enum
  values, "body", "field", "event", "batch", "cursor", "API key", "webhook", "endpoint".
- **"warga binaan"** is kept as the PAS category code `warga_binaan`; the detail for a
  never-convicted release reads "tidak pernah dipidana: bukan (mantan) warga binaan".
- **Pydantic's own messages** (schema stage) are translated by error type; the English
  ones sometimes add pydantic's reason (`..., input is too short`), the Indonesian do not.
  An error type not listed falls back to the Indonesian meaning of its code.
- Law citations: "Pasal" (capitalised, as in legal drafting) for "art." (UU 27/2022 Pasal 22,
  Pasal 24).
- **Actor** (`X-Actor`): "petugas" (the officer), never "pelaku", which in this field reads
  as the offender (pelaku tindak pidana): `ACTOR_REQUIRED` is "Petugas wajib dicantumkan".
  The person a right is exercised for is "orang yang bersangkutan"; `SUBJECT_NOT_FOUND`
  is "Subjek data tidak ditemukan" (UU 27/2022 speaks of "Subjek Data Pribadi").
- **Rights**: "permintaan perbaikan data" for a rectification request (UU 27/2022 speaks
  of "memperbaiki kesalahan dan/atau ketidakakuratan Data Pribadi"); a declined one is
  "ditolak", a resolved one "diselesaikan". Withdrawing consent is "menarik kembali
  persetujuan" / "penarikan kembali persetujuan" (the law's words, Pasal 9 and 40), not a
  bare "menarik persetujuan"; `consent.basis` is the "dasar pemrosesan" (Pasal 20). Write
  "persetujuan orang yang bersangkutan": "persetujuan yang bersangkutan" reads as "the
  consent in question".
- **Aftercare**: "bimbingan lanjut" (ATENSI's term for the stage); a follow-up is a
  "kegiatan bimbingan lanjut", its record a "catatan bimbingan lanjut"; `in_training` is
  "pelatihan vokasional" as in ATENSI. Check: some sentra say "monitoring" or
  "pemantauan" for the 3/6/12-month contacts.
- **Rehabilitation record**: the person in the ATENSI examples is the "penerima manfaat"
  (the sentra's term), not "klien", which is the Bapas client or the API client; a
  missing end-of-service report is "Laporan akhir layanan wajib dilampirkan"; a
  psychologist is "konsultasi dengan psikolog", not "rujukan" (the referral); the civil
  registry office is "Disdukcapil" throughout.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _pydantic_english(error_type: str) -> str:
    # The template is not filled in: the context only has to be of the right types.
    numbers = ("min_length", "max_length", "actual_length", "gt", "ge", "lt", "le")
    texts = ("pattern", "class_name", "expected", "field_type", "error", "discriminator")
    context: dict[str, object] = {name: 0 for name in numbers}
    context.update({name: "" for name in (*texts, "tag", "expected_tags")})
    template: str = PydanticKnownError(error_type, context).message_template  # type: ignore[arg-type]
    return template.replace("{expected_plural}", "(s)")


def render() -> str:
    lines = [HEADER, "## Codes: title and meaning", ""]
    lines += ["| code | | English | Indonesian |", "|---|---|---|---|"]
    for code, entry in CATALOGUE.items():
        lines.append(f"| `{code}` | title | {_cell(entry.title)} | {_cell(entry.title_id)} |")
        lines.append(f"| | meaning | {_cell(entry.meaning)} | {_cell(entry.meaning_id)} |")
    lines += ["", "## Details (`{name}` is filled in when sent)", ""]
    lines += ["| English | Indonesian |", "|---|---|"]
    for english, indonesian in INDONESIAN.items():
        lines.append(f"| {_cell(english)} | {_cell(indonesian)} |")
    lines += ["", "## Schema errors (pydantic's, by error type)", ""]
    lines += ["| type | English (pydantic) | Indonesian |", "|---|---|---|"]
    for error_type, indonesian in PYDANTIC.items():
        english = _pydantic_english(error_type)
        lines.append(f"| `{error_type}` | {_cell(english)} | {_cell(indonesian)} |")
    guide = GUIDE.read_text(encoding="utf-8")
    start = guide.index(GUIDE_SECTION)
    end = guide.index("\n## ", start)
    section = guide[start:end].strip()
    lines += [
        "",
        "## The Indonesian integration guide's section (docs/integration-guide.id.md §6)",
        "",
        "The English guide says only that texts come in Indonesian with `Accept-Language: id`.",
        "",
        *(f"> {line}".rstrip() for line in section.splitlines()),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
