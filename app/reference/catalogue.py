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
        "Children under 18, including ABH (anak yang berhadapan dengan hukum). Required for "
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
        "People convicted: required with a release of the convicted or supervised group, "
        "refused with a not_convicted one (a detainee or an acquitted person is no ex-inmate).",
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
    # convicted, unsupervised
    bebas_murni = "bebas_murni"
    bebas_remisi = "bebas_remisi"
    amnesti = "amnesti"
    grasi = "grasi"
    # convicted, supervised by a Bapas until `supervision_end_date`
    pembebasan_bersyarat = "pembebasan_bersyarat"
    cuti_bersyarat = "cuti_bersyarat"
    cuti_menjelang_bebas = "cuti_menjelang_bebas"
    asimilasi = "asimilasi"
    # not convicted: detainees (tahanan) and children diverted
    bebas_demi_hukum = "bebas_demi_hukum"
    putusan_bebas = "putusan_bebas"
    putusan_lepas = "putusan_lepas"
    abolisi = "abolisi"
    diversi = "diversi"


class ReleaseGroup(StrEnum):
    """Who the released person is (SPEC §3): convicted and free, convicted and still
    serving the sentence under a Bapas (a *klien*), or never convicted."""

    convicted = "convicted"
    supervised = "supervised"
    not_convicted = "not_convicted"


@dataclass(frozen=True, slots=True)
class ReleaseTypeInfo:
    code: ReleaseType
    name_id: str
    name_en: str
    group: ReleaseGroup

    @property
    def supervised(self) -> bool:
        return self.group is ReleaseGroup.supervised


_C, _S, _N = ReleaseGroup.convicted, ReleaseGroup.supervised, ReleaseGroup.not_convicted
RELEASE_TYPES: tuple[ReleaseTypeInfo, ...] = (
    ReleaseTypeInfo(ReleaseType.bebas_murni, "Bebas murni", "Sentence fully served", _C),
    ReleaseTypeInfo(ReleaseType.bebas_remisi, "Bebas karena remisi", "Freed by remission", _C),
    ReleaseTypeInfo(ReleaseType.amnesti, "Amnesti", "Amnesty", _C),
    ReleaseTypeInfo(ReleaseType.grasi, "Grasi", "Clemency by the President", _C),
    ReleaseTypeInfo(ReleaseType.pembebasan_bersyarat, "Pembebasan bersyarat (PB)", "Parole", _S),
    ReleaseTypeInfo(ReleaseType.cuti_bersyarat, "Cuti bersyarat (CB)", "Conditional leave", _S),
    ReleaseTypeInfo(
        ReleaseType.cuti_menjelang_bebas, "Cuti menjelang bebas (CMB)", "Leave before release", _S
    ),
    ReleaseTypeInfo(
        ReleaseType.asimilasi,
        "Asimilasi di rumah",
        "Assimilation at home, until the sentence ends",
        _S,
    ),
    ReleaseTypeInfo(
        ReleaseType.bebas_demi_hukum,
        "Dikeluarkan demi hukum",
        "Detention period lapsed (a detainee, never convicted)",
        _N,
    ),
    ReleaseTypeInfo(ReleaseType.putusan_bebas, "Putusan bebas", "Acquitted by the court", _N),
    ReleaseTypeInfo(
        ReleaseType.putusan_lepas,
        "Putusan lepas dari segala tuntutan hukum",
        "Discharged by the court",
        _N,
    ),
    ReleaseTypeInfo(ReleaseType.abolisi, "Abolisi", "Prosecution stopped by the President", _N),
    ReleaseTypeInfo(
        ReleaseType.diversi, "Diversi", "A child's case settled outside court (UU 11/2012)", _N
    ),
)
RELEASE_GROUPS: dict[ReleaseType, ReleaseGroup] = {r.code: r.group for r in RELEASE_TYPES}
SUPERVISED_RELEASES: frozenset[ReleaseType] = frozenset(
    r.code for r in RELEASE_TYPES if r.group is ReleaseGroup.supervised
)
CONVICTED_RELEASES: frozenset[ReleaseType] = frozenset(
    r.code for r in RELEASE_TYPES if r.group is not ReleaseGroup.not_convicted
)


@dataclass(frozen=True, slots=True)
class PpksType:
    """One of the 26 PPKS types of Permensos 08/2012, and the PAS category it now falls in."""

    number: int
    name_id: str
    name_en: str


PPKS_TYPES: tuple[PpksType, ...] = (
    PpksType(1, "Anak balita terlantar", "Neglected children under five"),
    PpksType(2, "Anak terlantar", "Neglected children"),
    PpksType(3, "Anak yang berhadapan dengan hukum (ABH)", "Children in conflict with the law"),
    PpksType(4, "Anak jalanan", "Street children"),
    PpksType(5, "Anak dengan kedisabilitasan (ADK)", "Children with disabilities"),
    PpksType(
        6,
        "Anak yang menjadi korban tindak kekerasan atau diperlakukan salah",
        "Child victims of violence or maltreatment",
    ),
    PpksType(
        7, "Anak yang memerlukan perlindungan khusus", "Children in need of special protection"
    ),
    PpksType(8, "Lanjut usia terlantar", "Neglected older persons"),
    PpksType(9, "Penyandang disabilitas", "Persons with disabilities"),
    PpksType(10, "Tuna susila", "Sex workers"),
    PpksType(11, "Gelandangan", "Homeless people"),
    PpksType(12, "Pengemis", "Beggars"),
    PpksType(13, "Pemulung", "Scavengers"),
    PpksType(14, "Kelompok minoritas", "Minority groups"),
    PpksType(
        15,
        "Bekas warga binaan lembaga pemasyarakatan",
        "Former inmates of correctional institutions",
    ),
    PpksType(16, "Orang dengan HIV/AIDS (ODHA)", "People living with HIV/AIDS"),
    PpksType(17, "Korban penyalahgunaan NAPZA", "Victims of drug abuse (NAPZA)"),
    PpksType(18, "Korban perdagangan orang (trafficking)", "Victims of trafficking"),
    PpksType(19, "Korban tindak kekerasan", "Victims of violence"),
    PpksType(20, "Pekerja migran bermasalah sosial", "Migrant workers with social problems"),
    PpksType(21, "Korban bencana alam", "Victims of natural disasters"),
    PpksType(22, "Korban bencana sosial", "Victims of social disasters"),
    PpksType(23, "Perempuan rawan sosial ekonomi", "Socio-economically vulnerable women"),
    PpksType(24, "Fakir miskin", "The destitute poor"),
    PpksType(25, "Keluarga bermasalah sosial psikologis", "Families with psychosocial problems"),
    PpksType(26, "Komunitas adat terpencil", "Remote indigenous communities"),
)


# Each PPKS-26 type falls in one PAS category (SPEC §6).
PPKS_CATEGORY: dict[int, str] = {n: c.code for c in PAS_CATEGORIES for n in c.ppks_types}
PPKS_NUMBERS: frozenset[int] = frozenset(PPKS_CATEGORY)


class DisabilityType(StrEnum):
    """The kinds of disability Kemensos records (UU 8/2016: physical, intellectual, mental,
    sensory)."""

    fisik = "fisik"
    intelektual = "intelektual"
    mental = "mental"
    sensorik = "sensorik"


class AtensiComponent(StrEnum):
    """The seven components of ATENSI (Asistensi Rehabilitasi Sosial, Permensos 7/2021)."""

    hidup_layak = "hidup_layak"
    perawatan_pengasuhan = "perawatan_pengasuhan"
    dukungan_keluarga = "dukungan_keluarga"
    terapi = "terapi"
    vokasional_kewirausahaan = "vokasional_kewirausahaan"
    bantuan_sosial = "bantuan_sosial"
    aksesibilitas = "aksesibilitas"


@dataclass(frozen=True, slots=True)
class AtensiComponentInfo:
    code: AtensiComponent
    name_id: str
    name_en: str


# In the order of Permensos 7/2021; the names as the regulation gives them.
ATENSI_COMPONENTS: tuple[AtensiComponentInfo, ...] = (
    AtensiComponentInfo(
        AtensiComponent.hidup_layak,
        "Dukungan pemenuhan kebutuhan hidup layak",
        "Support for the basic needs of a decent life, including identity documents "
        "(KTP, KK, birth certificate)",
    ),
    AtensiComponentInfo(
        AtensiComponent.perawatan_pengasuhan,
        "Perawatan sosial dan/atau pengasuhan anak",
        "Social care and/or childcare",
    ),
    AtensiComponentInfo(AtensiComponent.dukungan_keluarga, "Dukungan keluarga", "Family support"),
    AtensiComponentInfo(
        AtensiComponent.terapi,
        "Terapi fisik, terapi psikososial, dan terapi mental spiritual",
        "Physical, psychosocial and mental-spiritual therapy",
    ),
    AtensiComponentInfo(
        AtensiComponent.vokasional_kewirausahaan,
        "Pelatihan vokasional dan/atau pembinaan kewirausahaan",
        "Vocational training and/or entrepreneurship coaching",
    ),
    AtensiComponentInfo(
        AtensiComponent.bantuan_sosial,
        "Bantuan sosial dan asistensi sosial",
        "Social assistance",
    ),
    AtensiComponentInfo(
        AtensiComponent.aksesibilitas, "Dukungan aksesibilitas", "Accessibility support"
    ),
)
