"""The 12 PAS categories and the release types: fixed reference data (SPEC §6, DOMAIN.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class PasCategory:
    code: str
    name_id: str
    name_en: str
    description: str
    ppks_types: tuple[int, ...]


PAS_CATEGORIES: tuple[PasCategory, ...] = (
    PasCategory(
        "anak_rentan",
        "Anak-anak rentan (termasuk ABH)",
        "Vulnerable children (incl. children in conflict with the law)",
        "Children under 18, including ABH (anak berhadapan dengan hukum). Required for "
        "anyone under 18 at release.",
        (1, 2, 3, 4, 5, 6, 7),
    ),
    PasCategory(
        "penyandang_disabilitas",
        "Penyandang disabilitas",
        "Persons with disabilities",
        "Needs `needs.health.disability_types`.",
        (9,),
    ),
    PasCategory(
        "lansia_terlantar",
        "Lanjut usia terlantar",
        "Neglected older persons",
        "Age 60 or more at release.",
        (8,),
    ),
    PasCategory(
        "masyarakat_berpendapatan_rendah",
        "Masyarakat berpendapatan rendah",
        "Low-income people",
        "Includes the homeless, beggars and scavengers of PPKS-26.",
        (11, 12, 13),
    ),
    PasCategory(
        "korban_bencana",
        "Korban bencana",
        "Disaster victims",
        "Victims of natural or social disasters.",
        (21, 22),
    ),
    PasCategory(
        "komunitas_adat_terpencil",
        "Afirmasi khusus komunitas adat terpencil",
        "Remote indigenous communities (affirmative)",
        "Members of a remote customary community.",
        (26,),
    ),
    PasCategory(
        "warga_binaan",
        "(Mantan) warga binaan pemasyarakatan",
        "(Former) inmates of the correctional system",
        "Always present on a Rujukan referral.",
        (15,),
    ),
    PasCategory(
        "korban_kekerasan",
        "Korban kekerasan",
        "Victims of violence",
        "Victims of trafficking, violence, or migrant workers with social problems.",
        (18, 19, 20),
    ),
    PasCategory(
        "korban_napza_hiv",
        "Korban NAPZA dan HIV/AIDS",
        "Victims of drug abuse (NAPZA) and people living with HIV/AIDS",
        "Needs `needs.health.napza_history` or `needs.health.hiv_positive` true.",
        (16, 17),
    ),
    PasCategory(
        "kelompok_bermasalah_sosial",
        "Kelompok bermasalah sosial",
        "Groups with social problems",
        "Includes sex workers, minorities and families with psychosocial problems.",
        (10, 14, 25),
    ),
    PasCategory(
        "perempuan_rentan",
        "Perempuan rentan",
        "Vulnerable women",
        "Needs `person.sex = female`.",
        (23,),
    ),
    PasCategory(
        "fakir_miskin",
        "Fakir miskin",
        "The destitute poor",
        "People in extreme poverty.",
        (24,),
    ),
)

PAS_CODES: frozenset[str] = frozenset(c.code for c in PAS_CATEGORIES)


class ReleaseType(StrEnum):
    bebas_murni = "bebas_murni"
    bebas_remisi = "bebas_remisi"
    amnesti = "amnesti"
    bebas_demi_hukum = "bebas_demi_hukum"
    pembebasan_bersyarat = "pembebasan_bersyarat"
    cuti_bersyarat = "cuti_bersyarat"
    cuti_menjelang_bebas = "cuti_menjelang_bebas"
    asimilasi = "asimilasi"


SUPERVISED_RELEASES: frozenset[ReleaseType] = frozenset(
    {
        ReleaseType.pembebasan_bersyarat,
        ReleaseType.cuti_bersyarat,
        ReleaseType.cuti_menjelang_bebas,
        ReleaseType.asimilasi,
    }
)


@dataclass(frozen=True, slots=True)
class ReleaseTypeInfo:
    code: ReleaseType
    name_id: str
    name_en: str
    supervised: bool


RELEASE_TYPES: tuple[ReleaseTypeInfo, ...] = (
    ReleaseTypeInfo(ReleaseType.bebas_murni, "Bebas murni", "Sentence fully served", False),
    ReleaseTypeInfo(ReleaseType.bebas_remisi, "Bebas karena remisi", "Freed by remission", False),
    ReleaseTypeInfo(ReleaseType.amnesti, "Amnesti", "Amnesty", False),
    ReleaseTypeInfo(
        ReleaseType.bebas_demi_hukum, "Bebas demi hukum", "Detention period lapsed", False
    ),
    ReleaseTypeInfo(ReleaseType.pembebasan_bersyarat, "Pembebasan bersyarat (PB)", "Parole", True),
    ReleaseTypeInfo(ReleaseType.cuti_bersyarat, "Cuti bersyarat (CB)", "Conditional leave", True),
    ReleaseTypeInfo(
        ReleaseType.cuti_menjelang_bebas,
        "Cuti menjelang bebas (CMB)",
        "Leave before release",
        True,
    ),
    ReleaseTypeInfo(ReleaseType.asimilasi, "Asimilasi", "Assimilation (incl. at home)", True),
)
