"""How a referral's case data is stored: query columns, plain JSON, and the encrypted part.

The case data is kept in the event's own shape. NIK, phone, guardian and needs.health are
split off into `sensitive_data`, encrypted with the referral id as associated data (a
ciphertext copied onto another row does not decrypt).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from app.core.crypto import DataCipher
from app.reference.catalogue import PAS_CATEGORIES
from app.referrals.domain import handover_date
from app.referrals.models import Referral

CASE_FIELDS = (
    "facility",
    "case_ref",
    "person",
    "release",
    "pas_categories",
    "ppks_types",
    "needs",
    "in_custody_programmes",
    "consent",
)


NAME_SEARCH_MAX = 400  # referrals.name_search
# Runs of what is not a letter or digit (`str.isalnum`): `\w` is isalnum and "_".
_NOT_ALNUM = re.compile(r"[\W_]+")


def normalise_name(name: str) -> str:
    """Lower case, accents stripped, single spaces: 'Nurhalíza' → 'nurhaliza'."""
    if not name.isascii():  # ASCII has nothing to decompose and folds as it lowers
        decomposed = unicodedata.normalize("NFKD", name)
        name = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    else:
        name = name.lower()
    return " ".join(_NOT_ALNUM.sub(" ", name).split())


# Bit i is the i-th category of SPEC §6. Stored in rows: never reorder, only append.
PAS_BITS: dict[str, int] = {c.code: 1 << i for i, c in enumerate(PAS_CATEGORIES)}


def pas_mask(codes: Iterable[str]) -> int:
    mask = 0
    for code in codes:
        mask |= PAS_BITS[code]
    return mask


def ppks_mask(numbers: Iterable[int]) -> int:
    """Bit n-1 for PPKS-26 type n."""
    mask = 0
    for number in numbers:
        mask |= 1 << (number - 1)
    return mask


def mask_nik(nik: str | None) -> str | None:
    """The province digits only (SPEC §5): beside a birth date, sex and domicile, more
    digits of a NIK would all but rebuild it."""
    if nik is None:
        return None
    return nik[:2] + "*" * (len(nik) - 2) if len(nik) > 2 else "*" * len(nik)


def split_case(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain, sensitive) parts of an event-shaped case. The parts share the untouched
    nested values with `case` (no deep copy: this runs for every event of a batch)."""
    plain = dict(case)
    person = plain["person"] = dict(case["person"])
    sensitive: dict[str, Any] = {
        "nik": person.pop("nik", None),
        "phone": person.pop("phone", None),
        "guardian": person.pop("guardian", None),
        "health": None,
    }
    needs = plain.get("needs")
    if isinstance(needs, dict):
        needs = plain["needs"] = dict(needs)
        sensitive["health"] = needs.pop("health", None)
    return plain, sensitive


def join_case(plain: dict[str, Any], sensitive: dict[str, Any]) -> dict[str, Any]:
    """The event-shaped case of its two parts. `plain` is not changed: the levels that get
    the sensitive values are copied, the rest is shared (no deep copy, as `split_case`)."""
    case = dict(plain)
    person = case["person"] = dict(plain["person"])
    person["nik"] = sensitive.get("nik")
    person["phone"] = sensitive.get("phone")
    person["guardian"] = sensitive.get("guardian")
    needs = case.get("needs")
    if isinstance(needs, dict):
        needs = case["needs"] = dict(needs)
        needs["health"] = sensitive.get("health")
    return case


def read_case(referral: Referral, cipher: DataCipher) -> dict[str, Any]:
    sensitive = cipher.decrypt_json(referral.sensitive_data, referral.id.bytes)
    return join_case(referral.case_data, sensitive)


def write_case(referral: Referral, case: dict[str, Any], cipher: DataCipher) -> None:
    """Set every stored form of the case on the row: columns, plain JSON, ciphertext.
    The row takes `case` over: the caller must not change it afterwards."""
    plain, sensitive = split_case(case)
    person = case["person"]
    release = case["release"]
    domicile = person["domicile"]
    nik: str | None = person.get("nik")
    referral.case_data = plain
    referral.sensitive_data = cipher.encrypt_json(sensitive, referral.id.bytes)
    referral.full_name = person["full_name"]
    # Decomposition can lengthen a name many times over ("ﷺ" is 18 letters): what the
    # column holds is its start, the words a search finds it by.
    referral.name_search = normalise_name(person["full_name"])[:NAME_SEARCH_MAX]
    referral.nik_index = cipher.blind_index(nik) if nik else None
    referral.nik_masked = mask_nik(nik)
    referral.birth_date = _date(person["birth_date"])
    referral.sex = person["sex"]
    referral.province_code = domicile["province_code"]
    referral.regency_code = domicile.get("regency_code")
    referral.district_code = domicile.get("district_code")
    referral.release_type = release["type"]
    referral.release_date = _date(release["date"])
    end = release.get("supervision_end_date")
    referral.supervision_end_date = _date(end) if end else None
    referral.handover_date = handover_date(referral.release_date, referral.supervision_end_date)
    referral.pas_mask = pas_mask(case["pas_categories"])
    referral.ppks_mask = ppks_mask(case.get("ppks_types") or [])
    referral.bapas_code = release.get("bapas_code")


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)
