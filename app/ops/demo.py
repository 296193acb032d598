"""`rujukan demo`: demo clients, the sentra named in DOMAIN.md, and synthetic referrals.

Every person here is invented; NIKs are built to pass the checks, names are common ones.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from app.auth.principal import Principal
from app.auth.roles import Role
from app.clients.schemas import ClientCreate
from app.clients.service import create_client
from app.core import audit
from app.core.clock import Clock
from app.core.config import Settings
from app.intake.service import Intake, Sender, receive_event
from app.reference.catalogue import SUPERVISED_RELEASES, ReleaseType
from app.reference.models import Sentra
from app.referrals import service as referrals
from app.referrals.domain import Action
from app.referrals.schemas import TransitionRequest
from app.runtime import build_runtime

DEMO_SENTRA: list[tuple[str, str, str, str, list[str]]] = [
    ("HANDAYANI", "Sentra Handayani", "31", "3175", ["3175"]),
    ("MULYA-JAYA", "Sentra Mulya Jaya", "31", "3175", ["3171", "3172", "3173", "3174", "3101"]),
    ("PANGUDI-LUHUR", "Sentra Terpadu Pangudi Luhur", "32", "3275", ["3216", "3275"]),
    ("INTEN-SOEWENO", "Sentra Terpadu Inten Soeweno", "32", "3201", ["3201"]),
    ("GALIH-PAKUAN", "Sentra Galih Pakuan", "32", "3201", ["3271", "3276"]),
    ("SATRIA", "Sentra Satria", "33", "3302", ["3302", "3301", "3303"]),
    ("ABISEKA", "Sentra Abiseka", "14", "1471", ["1471"]),
    ("WYATA-GUNA", "Sentra Wyata Guna", "32", "3273", ["3273", "3204"]),
    ("NIPOTOWE", "Sentra Nipotowe", "72", "7271", ["7271"]),
    ("KARTINI", "Sentra Kartini", "33", "3323", ["3323"]),
]

# (case, name, sex, birth, regency, district, release type, days from today, categories)
DEMO_PEOPLE: list[tuple[str, str, str, str, str, str, str, int, list[str]]] = [
    (
        "A-001",
        "Budi Santoso",
        "male",
        "1985-03-12",
        "3175",
        "317501",
        "bebas_murni",
        -3,
        ["warga_binaan", "korban_napza_hiv"],
    ),
    (
        "A-002",
        "Siti Nurhaliza",
        "female",
        "1992-07-04",
        "3174",
        "317401",
        "pembebasan_bersyarat",
        14,
        ["warga_binaan", "perempuan_rentan"],
    ),
    (
        "A-003",
        "Agus Salim",
        "male",
        "1960-01-20",
        "3201",
        "320101",
        "bebas_remisi",
        -20,
        ["warga_binaan", "lansia_terlantar", "fakir_miskin"],
    ),
    (
        "A-004",
        "Dewi Lestari",
        "female",
        "1998-11-30",
        "3273",
        "327301",
        "amnesti",
        -1,
        ["warga_binaan", "korban_napza_hiv"],
    ),
    (
        "A-005",
        "Rudi Hartono",
        "male",
        "1979-05-05",
        "1471",
        "147101",
        "bebas_murni",
        30,
        ["warga_binaan", "masyarakat_berpendapatan_rendah"],
    ),
    (
        "A-006",
        "Andi Pratama",
        "male",
        "1990-09-17",
        "7271",
        "727101",
        "cuti_bersyarat",
        -40,
        ["warga_binaan", "penyandang_disabilitas"],
    ),
    (
        "A-007",
        "Wahyu Nugroho",
        "male",
        "1988-02-29",
        "3302",
        "330201",
        "bebas_murni",
        -2,
        ["warga_binaan"],
    ),
    (
        "A-008",
        "Nur Aini",
        "female",
        "1983-12-01",
        "3323",
        "332301",
        "asimilasi",
        7,
        ["warga_binaan", "korban_kekerasan"],
    ),
]


def _nik(regency: str, district: str, sex: str, birth: dt.date, serial: int) -> str:
    day = birth.day + (40 if sex == "female" else 0)
    return f"{district}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def _event(
    index: int, person: tuple[str, str, str, str, str, str, str, int, list[str]], today: dt.date
) -> dict[str, Any]:
    case, name, sex, birth_s, regency, district, release_type, offset, pas = person
    birth = dt.date.fromisoformat(birth_s)
    release = today + dt.timedelta(days=offset)
    supervised = ReleaseType(release_type) in SUPERVISED_RELEASES
    completed = offset <= 0
    occurred = dt.datetime.combine(min(release, today), dt.time(1, 0), tzinfo=dt.UTC)
    health: dict[str, Any] = {"napza_history": None, "hiv_positive": None, "disability_types": []}
    if "korban_napza_hiv" in pas:
        health["napza_history"] = True
    if "penyandang_disabilitas" in pas:
        health["disability_types"] = ["fisik"]
    return {
        "event_id": f"DEMO-{case}-{'completed' if completed else 'scheduled'}",
        "event_type": "release.completed" if completed else "release.scheduled",
        "occurred_at": occurred.isoformat(),
        "facility": {"code": "LP-CIPINANG", "name": "Lapas Kelas I Cipinang", "type": "lapas"},
        "case_ref": f"DEMO/{case}/2024",
        "person": {
            "full_name": name,
            "nik": _nik(regency, district, sex, birth, index + 1),
            "birth_date": birth_s,
            "birth_place": "Jakarta",
            "sex": sex,
            "domicile": {
                "province_code": regency[:2],
                "regency_code": regency,
                "district_code": district,
                "address": f"Jl. Contoh No. {index + 1}",
            },
            "phone": f"+62812000000{index:02d}",
        },
        "release": {
            "type": release_type,
            "date": release.isoformat(),
            "supervision_end_date": (release + dt.timedelta(days=180)).isoformat()
            if supervised
            else None,
            "bapas_code": "BAPAS-JAKTIM" if supervised else None,
        },
        "pas_categories": pas,
        "needs": {"summary": "Pendampingan reintegrasi sosial", "health": health},
        "in_custody_programmes": [
            {"kind": "pembinaan_kepribadian", "name": "Pembinaan kepribadian", "completed_on": None}
        ],
        "consent": {
            "basis": "consent",
            "given_by": "person",
            "method": "written",
            "evidence_ref": f"DEMO/PERSETUJUAN/{case}",
            "scope": ["health", "contact"],
            "recorded_at": occurred.isoformat(),
        },
    }


async def seed_demo(settings: Settings) -> dict[str, Any]:
    runtime = build_runtime(settings)
    try:
        keys: dict[str, Any] = {}
        async with runtime.db.transaction() as session:
            for role, name, facilities, sentra in (
                (Role.prison, "Demo SDP Lapas Cipinang", ["LP-CIPINANG"], []),
                (Role.kemensos, "Demo portal Kemensos", [], []),
                (Role.sentra, "Demo Sentra Handayani", [], ["HANDAYANI"]),
                (Role.auditor, "Demo auditor", [], []),
                (Role.admin, "Demo admin", [], []),
            ):
                # As `rujukan clients create` does: the operator (no principal) created it.
                body = ClientCreate(
                    name=name, role=role, facility_codes=facilities, sentra_codes=sentra
                )
                issued = await create_client(session, None, body)
                keys[role.value] = {"client_id": str(issued.client.id), "api_key": issued.api_key}
            for code, sname, province, regency, coverage in DEMO_SENTRA:
                existing = await session.get(Sentra, code)
                if existing is None:
                    session.add(
                        Sentra(
                            code=code,
                            name=sname,
                            province_code=province,
                            regency_code=regency,
                            coverage_regency_codes=coverage,
                            active=True,
                        )
                    )
                    audit.record(session, None, "sentra.create", "success")

        def principal(role: str, facilities: frozenset[str], sentra: frozenset[str]) -> Principal:
            return Principal(
                uuid.UUID(keys[role]["client_id"]), "demo", Role(role), facilities, sentra, "demo"
            )

        prison = principal("prison", frozenset({"LP-CIPINANG"}), frozenset())
        kemensos = principal("kemensos", frozenset(), frozenset())
        clock = Clock(now=dt.datetime.now(dt.UTC), tz=settings.tz)
        sender = Sender(prison, Intake(runtime.db, runtime.cipher, runtime.intake_groups), clock)
        referral_ids: list[str] = []
        for index, person in enumerate(DEMO_PEOPLE):
            result = await receive_event(sender, _event(index, person, clock.today))
            referral_ids.append(result.body["referral"]["id"])
        # Walk the first referral to a sentra so the demo sentra key sees something.
        first = referral_ids[0]
        for request in (
            TransitionRequest(action=Action.accept),
            TransitionRequest(action=Action.assign, sentra_code="HANDAYANI"),
        ):
            view = referrals.DetailView(
                runtime.cipher, settings.triage_days, runtime.sentra_coverage, clock
            )
            async with runtime.db.transaction() as session:
                current, tag = await referrals.read_detail(session, kemensos, first, view)
                if request.action.value in current.allowed_actions:
                    await referrals.transition(session, kemensos, first, request, tag, view)
        return {
            "clients": keys,
            "referral_ids": referral_ids,
            "try": (
                "curl -s -H 'Authorization: Bearer "
                + keys["kemensos"]["api_key"]
                + "' http://127.0.0.1:8000/v1/referrals/"
                + first
            ),
        }
    finally:
        await runtime.db.dispose()
