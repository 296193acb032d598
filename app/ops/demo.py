"""`rujukan demo`: demo clients, the sentra named in DOMAIN.md, and synthetic referrals.

Every person here is invented; NIKs are built to pass the checks, names are common ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Client
from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.service import principal_of, rotate_key
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
from app.referrals.models import Referral
from app.referrals.schemas import TransitionRequest
from app.runtime import Runtime, build_runtime

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


DEMO_FACILITY = "LP-CIPINANG"
DEMO_BAPAS = "BAPAS-JAKTIM"


def _case_ref(case: str) -> str:
    return f"DEMO/{case}/2024"


def _nik(regency: str, district: str, sex: str, birth: dt.date, serial: int) -> str:
    day = birth.day + (40 if sex == "female" else 0)
    return f"{district}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def _event(
    index: int, person: tuple[str, str, str, str, str, str, str, int, list[str]], clock: Clock
) -> dict[str, Any]:
    case, name, sex, birth_s, regency, district, release_type, offset, pas = person
    birth = dt.date.fromisoformat(birth_s)
    today = clock.today
    release = today + dt.timedelta(days=offset)
    supervised = ReleaseType(release_type) in SUPERVISED_RELEASES
    completed = offset <= 0
    # 01:00 local time on the day, never later than now: in the first hour of a local day
    # that hour is still ahead (the event would be in the future).
    occurred = min(
        dt.datetime.combine(min(release, today), dt.time(1, 0), tzinfo=clock.tz), clock.now
    )
    health: dict[str, Any] = {"napza_history": None, "hiv_positive": None, "disability_types": []}
    if "korban_napza_hiv" in pas:
        health["napza_history"] = True
    if "penyandang_disabilitas" in pas:
        health["disability_types"] = ["fisik"]
    return {
        "event_id": f"DEMO-{case}-{'completed' if completed else 'scheduled'}",
        "event_type": "release.completed" if completed else "release.scheduled",
        "occurred_at": occurred.isoformat(),
        "facility": {"code": DEMO_FACILITY, "name": "Lapas Kelas I Cipinang", "type": "lapas"},
        "case_ref": _case_ref(case),
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
            "bapas_code": DEMO_BAPAS if supervised else None,
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


# (role, name, facilities, sentra, Bapas). The prison is bound to the facilities the
# integration guides post for, so their samples work with the key the demo prints.
DEMO_CLIENTS: list[tuple[Role, str, list[str], list[str], list[str]]] = [
    (
        Role.prison,
        "Demo SDP Pemasyarakatan",
        [DEMO_FACILITY, "LPP-BANDUNG", "RUTAN-JAKPUS"],
        [],
        [],
    ),
    (Role.bapas, "Demo Bapas Jakarta Timur", [], [], [DEMO_BAPAS]),
    (Role.kemensos, "Demo portal Kemensos", [], [], []),
    (Role.sentra, "Demo Sentra Handayani", [], ["HANDAYANI"], []),
    (Role.auditor, "Demo auditor", [], [], []),
    (Role.admin, "Demo admin", [], [], []),
]


async def _demo_client(
    session: AsyncSession, spec: tuple[Role, str, list[str], list[str], list[str]], now: dt.datetime
) -> tuple[Client, str]:
    """The demo client of this name and role with a fresh key: created the first time, its
    key renewed on a rerun (keys are shown once; the old one stops working)."""
    role, name, facilities, sentra, bapas = spec
    client = (
        await session.execute(
            select(Client)
            .where(Client.name == name, Client.role == role.value, Client.active.is_(True))
            .order_by(Client.created_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    if client is None:
        # As `rujukan clients create` does: the operator (no principal) created it.
        body = ClientCreate(
            name=name, role=role, facility_codes=facilities, sentra_codes=sentra, bapas_codes=bapas
        )
        issued = await create_client(session, None, body)
        return issued.client, issued.api_key
    client.facility_codes, client.sentra_codes, client.bapas_codes = facilities, sentra, bapas
    key = await rotate_key(session, client, now, dt.timedelta(0))
    audit.record(session, None, "client.rotate_key", "success", target_id=client.id)
    return client, key


async def seed_demo(settings: Settings) -> dict[str, Any]:
    """Demo clients, sentra and referrals; run again, it adds nothing and renews the keys."""
    runtime = build_runtime(settings)
    clock = Clock(now=dt.datetime.now(dt.UTC), tz=settings.tz)
    try:
        keys: dict[str, Any] = {}
        principals: dict[str, Principal] = {}
        async with runtime.db.transaction() as session:
            for spec in DEMO_CLIENTS:
                client, key = await _demo_client(session, spec, clock.now)
                keys[client.role] = {"client_id": str(client.id), "api_key": key}
                principals[client.role] = principal_of(client)
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
        referral_ids = await _seed_referrals(runtime, principals["prison"], clock)
        await _walk_first(runtime, settings, principals["kemensos"], referral_ids[0], clock)
        return {"clients": keys, "referral_ids": referral_ids}
    finally:
        await runtime.db.dispose()


async def _seed_referrals(runtime: Runtime, prison: Principal, clock: Clock) -> list[str]:
    """One referral per demo person; a person already seeded (on an earlier day: other
    dates, so another body under the same event_id) is left as it is."""
    async with runtime.db.read_session() as session:
        rows = await session.execute(
            select(Referral.case_ref, Referral.id).where(
                Referral.facility_code == DEMO_FACILITY,
                Referral.case_ref.in_([_case_ref(p[0]) for p in DEMO_PEOPLE]),
            )
        )
        seeded = {case_ref: referral_id for case_ref, referral_id in rows}
    sender = Sender(prison, Intake(runtime.db, runtime.cipher, runtime.intake_groups), clock)
    referral_ids: list[str] = []
    for index, person in enumerate(DEMO_PEOPLE):
        existing = seeded.get(_case_ref(person[0]))
        if existing is not None:
            referral_ids.append(str(existing))
            continue
        result = await receive_event(sender, _event(index, person, clock))
        referral_ids.append(result.body["referral"]["id"])
    return referral_ids


async def _walk_first(
    runtime: Runtime, settings: Settings, kemensos: Principal, referral_id: str, clock: Clock
) -> None:
    """The first referral accepted and assigned to the demo sentra, so that its key sees
    something; only from `received` (a rerun does not reassign it)."""
    view = referrals.DetailView(
        runtime.cipher, settings.triage_days, runtime.sentra_coverage, clock
    )
    for request in (
        TransitionRequest(action=Action.accept),
        TransitionRequest(action=Action.assign, sentra_code="HANDAYANI"),
    ):
        async with runtime.db.transaction() as session:
            current, tag = await referrals.read_detail(session, kemensos, referral_id, view)
            wanted = {Action.accept: "received", Action.assign: "accepted"}[request.action]
            if current.status == wanted and request.action.value in current.allowed_actions:
                await referrals.transition(session, kemensos, referral_id, request, tag, view)
