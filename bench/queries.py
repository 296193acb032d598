"""Portal query benchmark: list, search, detail and stats latency over HTTP at scale.

    .venv/bin/python -m bench.queries [--rows 1000000] [--requests 200] [--reseed]

Needs PostgreSQL (RUJUKAN_BENCH_POSTGRES_URL, default the local server, trust auth).

1. Database `rujukan_bench`, migrated with `app.migrate.upgrade`. Reused when it already
   holds `--rows` referrals (seeding 1M takes minutes; a newer schema is migrated onto it
   and analysed); `--reseed` starts afresh.
2. Seeding: synthetic referrals built like intake builds them (query columns, event-shaped
   JSON, AES-GCM ciphertext, NIK blind index) and sent with COPY; the referral indexes
   are dropped for the load and rebuilt from their migrated definitions, then VACUUM
   ANALYZE. Every person is invented.
3. The service under uvicorn on 127.0.0.1 (a subprocess; RUJUKAN_DATABASE_URL,
   RUJUKAN_DATA_KEY, a rate limit high enough not to interfere), stopped at the end.
4. Sequential requests (one at a time: latency, not throughput) per scenario, after a
   warm-up; p50/p95/p99/max. Then `EXPLAIN (ANALYZE, BUFFERS)` of each list query and of
   the stats query, built by the same `app.referrals.queries` functions the service calls.
5. Figures and plans written to docs/benchmarks.md (`--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from alembic.script import ScriptDirectory
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url

from app.aftercare.analytics import durations_query
from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.service import create_client
from app.core.config import Settings
from app.core.crypto import DataCipher
from app.core.db import Database
from app.core.migrate import alembic_config, upgrade
from app.reference.catalogue import PAS_CODES, SUPERVISED_RELEASES
from app.reference.models import Sentra
from app.reference.regions import load_regions
from app.referrals.domain import handover_date
from app.referrals.models import Referral
from app.referrals.queries import (
    GroupBy,
    ListSort,
    QueryContext,
    ReferralFilters,
    page_query,
    stats_query,
)
from app.referrals.records import mask_nik, normalise_name, pas_mask
from app.referrals.scheduler import due_query
from bench.http1 import Answer, Connection

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get(
    "RUJUKAN_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
# RUJUKAN_BENCH_DB: another name, for runs beside another worktree's benchmark database.
DB_NAME = os.environ.get("RUJUKAN_BENCH_DB", "rujukan_bench")
# Fixed, so a reused database decrypts; a benchmark key, never a real one.
DATA_KEY = base64.b64encode(b"rujukan-bench-data-key-000000000").decode()
AUDIT_KEY = base64.b64encode(b"rujukan-bench-audit-key-00000000").decode()
TODAY = dt.date.today()
NOW = dt.datetime.now(dt.UTC)

# fmt: off
FIRST = (
    "Siti", "Agus", "Budi", "Dewi", "Made", "Wayan", "Nyoman", "Putu", "Ketut", "Ahmad",
    "Muhammad", "Nur", "Sri", "Eko", "Dwi", "Tri", "Rina", "Yusuf", "Rizky", "Fajar", "Andi",
    "Hendra", "Joko", "Slamet", "Bambang", "Wahyu", "Indah", "Ratna", "Yohanes", "Maria",
    "Fransiskus", "Teguh", "Bayu", "Imam", "Ilham", "Aditya", "Dimas", "Rudi", "Hadi", "Irwan",
    "Lukman", "Taufik", "Zainal", "Ismail", "Abdul", "Rahmat", "Arif", "Yuni", "Endang",
    "Tuti", "Wulan", "Ayu", "Citra", "Intan", "Fitri", "Nanda", "Reza", "Galih", "Bima",
    "Arjuna", "Gede", "Komang", "Kadek", "Hasan", "Husein", "Umar", "Ali", "Yosef", "Petrus",
    "Paulus", "Agustinus", "Mega", "Puspita", "Anisa", "Aisyah", "Fatimah", "Khadijah",
    "Zahra", "Dian", "Yudi", "Asep", "Ujang", "Cecep", "Dadang", "Ujang", "Iwan",
)
# fmt: on
# fmt: off
LAST = (
    "Santoso", "Wijaya", "Saputra", "Pratama", "Hidayat", "Nugroho", "Kurniawan", "Setiawan",
    "Siregar", "Nasution", "Harahap", "Lubis", "Simanjuntak", "Sitompul", "Tanjung", "Lestari",
    "Wati", "Rahayu", "Susanti", "Permata", "Hutapea", "Manurung", "Sinaga", "Purba",
    "Ginting", "Tarigan", "Sembiring", "Putra", "Putri", "Utami", "Salim", "Rahman", "Hakim",
    "Halim", "Gunawan", "Sulistyo", "Wibowo", "Prasetyo", "Hartono", "Nurhaliza", "Suryadi",
    "Firmansyah", "Maulana", "Ramadhan", "Syahputra", "Situmorang", "Panjaitan", "Pardede",
    "Tambunan", "Marpaung", "Sihombing", "Hasibuan", "Daulay", "Matondang", "Effendi",
    "Iskandar", "Kusuma", "Anggraini", "Handayani", "Kartika", "Sari", "Yulianti", "Wahyuni",
    "Septiani", "Oktaviani", "Novitasari", "Pangestu", "Mahendra", "Wicaksono", "Adiputra",
    "Tanoto",
)
# fmt: on
# Status mix of a service that has run for a few years.
STATUSES = (
    ("received", 25),
    ("accepted", 8),
    ("assigned", 12),
    ("in_service", 18),
    ("on_hold", 3),
    ("closed", 26),
    ("rejected", 5),
    ("cancelled", 3),
)
RELEASE_TYPES = (
    ("bebas_murni", 30),
    ("bebas_remisi", 8),
    ("amnesti", 2),
    ("bebas_demi_hukum", 2),
    ("pembebasan_bersyarat", 35),
    ("cuti_bersyarat", 10),
    ("cuti_menjelang_bebas", 5),
    ("asimilasi", 8),
)
OTHER_PAS = sorted(PAS_CODES - {"warga_binaan"})
JAVA = {"31", "32", "33", "34", "35", "36"}


def weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [p[0] for p in pairs], [p[1] for p in pairs]


@dataclass
class World:
    """Reference data the generator draws from."""

    provinces: list[str]
    province_weights: list[float]
    regencies: dict[str, list[str]]
    districts: dict[str, list[str]]
    facilities: list[tuple[str, str]]  # (code, province)
    facility_weights: list[float]
    sentra: list[tuple[str, str, list[str]]]  # (code, province, coverage)
    sentra_by_province: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, rng: random.Random) -> World:
        regions = load_regions()
        regencies: dict[str, list[str]] = {}
        for r in regions.regencies.values():
            regencies.setdefault(r.parent_code or "", []).append(r.code)
        districts: dict[str, list[str]] = {}
        for d in regions.districts.values():
            districts.setdefault(d.parent_code or "", []).append(d.code)
        provinces = sorted(p for p in regions.provinces if regencies.get(p))
        weights = [len(regencies[p]) * (4.0 if p in JAVA else 1.0) for p in provinces]
        facilities = [(f"LP-{i:04d}", rng.choices(provinces, weights)[0]) for i in range(1, 533)]
        facility_weights = [1.0 / (i**0.6) for i in range(1, 533)]
        sentra: list[tuple[str, str, list[str]]] = []
        for i, province in enumerate(rng.sample(provinces, 31), start=1):
            sentra.append((f"SENTRA-{i:02d}", province, sorted(regencies[province])))
        world = cls(
            provinces,
            weights,
            regencies,
            districts,
            facilities,
            facility_weights,
            sentra,
        )
        for code, province, _ in sentra:
            world.sentra_by_province.setdefault(province, []).append(code)
        return world


def referral_columns() -> list[str]:
    return [c.name for c in Referral.__table__.columns]


class Generator:
    """Synthetic referrals as COPY records, plus samples to query for."""

    def __init__(self, world: World, cipher: DataCipher, client_id: uuid.UUID, seed: int) -> None:
        self.world = world
        self.cipher = cipher
        self.client_id = client_id
        self.rng = random.Random(seed)
        self.columns = referral_columns()
        self.status_values, self.status_weights = weighted(STATUSES)
        self.release_values, self.release_weights = weighted(RELEASE_TYPES)
        self.sample_ids: list[uuid.UUID] = []
        self.sample_niks: list[str] = []
        self.total = 1

    def name(self) -> str:
        rng = self.rng
        parts = [rng.choice(FIRST)]
        if rng.random() < 0.35:
            parts.append(rng.choice(FIRST))
        if rng.random() < 0.9:
            parts.append(rng.choice(LAST))
        return " ".join(parts)

    def one(self, index: int) -> tuple[tuple[Any, ...], list[tuple[uuid.UUID, str]]]:
        rng = self.rng
        w = self.world
        facility, facility_province = rng.choices(w.facilities, w.facility_weights)[0]
        province = (
            facility_province
            if rng.random() < 0.8
            else rng.choices(w.provinces, w.province_weights)[0]
        )
        regency = rng.choice(w.regencies[province])
        district = rng.choice(w.districts.get(regency) or [regency + "01"])
        sex = "female" if rng.random() < 0.1 else "male"
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 56))
        day = birth.day + (40 if sex == "female" else 0)
        nik = (
            f"{district}{day:02d}{birth.month:02d}{birth.year % 100:02d}{rng.randint(1, 9999):04d}"
        )
        release_type = rng.choices(self.release_values, self.release_weights)[0]
        # Created over the last three years, oldest first; released 0-60 days after it.
        created = NOW - dt.timedelta(days=3 * 365) * (1 - index / self.total)
        created -= dt.timedelta(seconds=rng.random() * 60)
        release = (created + dt.timedelta(days=rng.randint(-5, 60))).date()
        supervised = release_type in {t.value for t in SUPERVISED_RELEASES}
        supervision_end = release + dt.timedelta(days=rng.randint(90, 720)) if supervised else None
        status = rng.choices(self.status_values, self.status_weights)[0]
        if release > TODAY:
            custody = "in_custody"
            if status not in ("received", "accepted", "assigned", "cancelled"):
                status = "accepted"
        else:
            custody = "released" if rng.random() < 0.97 else "returned_to_custody"
        sentra_code = None
        if status in ("assigned", "in_service", "on_hold", "closed"):
            local = w.sentra_by_province.get(province)
            sentra_code = rng.choice(local) if local else rng.choice(w.sentra)[0]
        categories = ["warga_binaan", *rng.sample(OTHER_PAS, rng.choice((0, 0, 1, 1, 1, 2)))]
        full_name = self.name()
        referral_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        case_ref = f"B.I-{index}/{created.year}"
        updated = created + dt.timedelta(days=rng.random() * 30)
        updated = min(updated, NOW)
        case = {
            "facility": {"code": facility, "name": f"Lapas {facility}", "type": "lapas"},
            "case_ref": case_ref,
            "person": {
                "full_name": full_name,
                "nik_unavailable_reason": None,
                "birth_date": birth.isoformat(),
                "birth_place": "Jakarta",
                "sex": sex,
                "domicile": {
                    "province_code": province,
                    "regency_code": regency,
                    "district_code": district,
                    "address": f"Jl. Contoh No. {rng.randint(1, 200)}",
                },
            },
            "release": {
                "type": release_type,
                "date": release.isoformat(),
                "supervision_end_date": supervision_end.isoformat() if supervision_end else None,
                "bapas_code": "BAPAS-01" if supervised else None,
            },
            "pas_categories": categories,
            "needs": {"summary": "Perlu pendampingan pasca pembebasan"},
            "in_custody_programmes": [
                {"kind": "pelatihan_kerja", "name": "Bengkel las", "completed_on": None}
            ],
            "consent": {
                "basis": "consent",
                "given_by": "person",
                "method": "written",
                "recorded_at": created.isoformat(),
            },
        }
        sensitive = {
            "nik": nik,
            "phone": f"+62812{rng.randint(10_000_000, 99_999_999)}",
            "guardian": None,
            "health": {
                "napza_history": rng.random() < 0.3,
                "hiv_positive": None,
                "disability_types": [],
            },
        }
        row: dict[str, Any] = {
            "id": referral_id,
            "facility_code": facility,
            "case_ref": case_ref,
            "origin_client_id": self.client_id,
            "status": status,
            "custody_status": custody,
            "version": 1 if status == "received" else 3,
            "sentra_code": sentra_code,
            "full_name": full_name,
            "name_search": normalise_name(full_name),
            "nik_index": self.cipher.blind_index(nik),
            "nik_masked": mask_nik(nik),
            "birth_date": birth,
            "sex": sex,
            "province_code": province,
            "regency_code": regency,
            "district_code": district,
            "release_type": release_type,
            "release_date": release,
            "supervision_end_date": supervision_end,
            "open_rectifications": 0,
            "handover_date": handover_date(release, supervision_end),
            "pas_mask": pas_mask(categories),
            "ppks_mask": 1 << 14,  # PPKS 15, bekas warga binaan
            "bapas_code": "BAPAS-01" if supervised else None,
            "supervision_ended": False,
            "closed_at": updated if status == "closed" else None,
            "case_data": json.dumps(case, separators=(",", ":")),
            "sensitive_data": self.cipher.encrypt_json(sensitive, referral_id.bytes),
            "data_quality_flags": "[]",
            "last_event_at": created,
            "created_at": created,
            "updated_at": updated,
        }
        row.update(self.timeline(status, created, updated))
        if index % 997 == 0:
            self.sample_ids.append(referral_id)
            self.sample_niks.append(nik)
        record = tuple(row.get(c) for c in self.columns)
        return record, [(referral_id, c) for c in categories]

    def timeline(self, status: str, created: dt.datetime, updated: dt.datetime) -> dict[str, Any]:
        """When the referral first entered each state it passed (SPEC §11 durations) and
        its place in the moment scheduler's queue: referrals not ended have a moment
        ahead (a triage deadline, a stall period), a few have one due now; a completed
        close has its next follow-up."""
        rng = self.rng
        stamps: dict[str, Any] = {"follow_ups_done": 0, "moments_from": created}
        order = ["accepted", "assigned", "in_service", "closed"]
        reached = {
            "received": 0,
            "rejected": rng.choice((0, 1)),
            "cancelled": rng.choice((0, 0, 1, 2)),
            "accepted": 1,
            "assigned": 2,
            "in_service": 3,
            "on_hold": 3,
            "closed": 4,
        }[status]
        at = created
        for state, days in zip(order[:reached], (14, 7, 30, 200), strict=False):
            at = at + dt.timedelta(days=rng.random() * days)
            stamps[f"{state}_at"] = at
        stamps["last_activity_at"] = at if reached else None
        if status not in ("closed", "rejected", "cancelled"):
            ahead = dt.timedelta(days=rng.random() * 30)
            stamps["next_moment_at"] = NOW - ahead if rng.random() < 0.001 else NOW + ahead
        elif status == "closed" and rng.random() < 0.5:
            due = (NOW + dt.timedelta(days=rng.randint(-30, 365))).date()
            stamps["next_follow_up_due"] = due
            stamps["next_moment_at"] = dt.datetime.combine(due, dt.time(0), tzinfo=dt.UTC)
        return stamps

    def batches(self, total: int, size: int) -> Iterator[tuple[list[tuple[Any, ...]], list[Any]]]:
        self.total = total
        for start in range(0, total, size):
            rows: list[tuple[Any, ...]] = []
            pas: list[tuple[uuid.UUID, str]] = []
            for i in range(start, min(start + size, total)):
                record, categories = self.one(i)
                rows.append(record)
                pas.extend(categories)
            yield rows, pas


def pg_dsn(database: str) -> str:
    url = make_url(PG_URL).set(database=database)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def sa_url(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


async def referral_count() -> int | None:
    admin = await asyncpg.connect(pg_dsn("postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME)
    finally:
        await admin.close()
    if not exists:
        return None
    conn = await asyncpg.connect(pg_dsn(DB_NAME))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM referrals"))
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()


async def recreate_database() -> None:
    admin = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await admin.close()


async def seed(rows: int, log: Callable[[str], None]) -> dict[str, Any]:
    """COPY `rows` referrals into the migrated database; returns timings and samples."""
    rng = random.Random(20261130)
    world = World.build(rng)
    cipher = DataCipher(base64.b64decode(DATA_KEY))
    db = Database(Settings(database_url=sa_url(DB_NAME), data_key=DATA_KEY))  # type: ignore[arg-type]
    async with db.transaction() as session:
        issued = await create_client(
            session, name="bench seed prison", role=Role.prison, facility_codes=["*"]
        )
        for code, province, coverage in world.sentra:
            session.add(
                Sentra(
                    code=code,
                    name=f"Sentra {code}",
                    province_code=province,
                    regency_code=coverage[0],
                    coverage_regency_codes=coverage,
                    active=True,
                )
            )
    await db.dispose()
    generator = Generator(world, cipher, issued.client.id, seed=7)

    conn = await asyncpg.connect(pg_dsn(DB_NAME))
    timings: dict[str, float] = {}
    try:
        await conn.execute("SET session_replication_role = replica")  # no FK triggers on load
        await conn.execute("SET maintenance_work_mem = '1GB'")
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('referrals', 'referral_pas_categories') AND indexname NOT LIKE 'pk_%' "
            "AND indexname NOT LIKE 'uq_%'"
        )
        # Per-column statistics targets of the indexes are not in their definitions.
        targets = await conn.fetch(
            "SELECT c.relname, a.attnum, a.attstattarget FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE i.indrelid = 'referrals'::regclass AND a.attstattarget > 0"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        started = time.monotonic()
        loaded = 0
        for batch, pas in generator.batches(rows, 20_000):
            await conn.copy_records_to_table("referrals", records=batch, columns=generator.columns)
            await conn.copy_records_to_table(
                "referral_pas_categories", records=pas, columns=["referral_id", "code"]
            )
            loaded += len(batch)
            if loaded % 100_000 == 0 or loaded == rows:
                log(f"  copied {loaded:,} referrals ({time.monotonic() - started:.0f} s)")
        timings["copy_s"] = time.monotonic() - started
        started = time.monotonic()
        await rebuild_durations_histogram(conn)
        timings["histogram_s"] = time.monotonic() - started
        started = time.monotonic()
        for index in indexes:
            await conn.execute(index["indexdef"])
        for target in targets:
            await conn.execute(
                f'ALTER INDEX "{target["relname"]}" ALTER COLUMN {target["attnum"]} '
                f"SET STATISTICS {target['attstattarget']}"
            )
        timings["index_s"] = time.monotonic() - started
        started = time.monotonic()
        await conn.execute("VACUUM (ANALYZE) referrals")
        await conn.execute("VACUUM (ANALYZE) referral_pas_categories")
        timings["vacuum_s"] = time.monotonic() - started
    finally:
        await conn.close()
    return {
        "timings": timings,
        "sample_ids": [str(i) for i in generator.sample_ids],
        "sample_niks": generator.sample_niks,
    }


async def rebuild_durations_histogram(conn: asyncpg.Connection) -> None:
    """The durations histogram of the loaded rows (SPEC §11): the load ran without
    triggers (`session_replication_role = replica`), so migration 0009's backfill again,
    from the revision itself."""
    revision = ScriptDirectory.from_config(alembic_config()).get_revision("0009_durations_pas")
    assert revision is not None and revision.module is not None
    zone = await conn.fetchval("SELECT zone FROM referral_duration_zone")
    await conn.execute("DELETE FROM referral_duration_counts")
    await conn.execute("DELETE FROM referral_duration_blocks")
    for statement in revision.module.backfill("postgresql", zone):
        await conn.execute(statement)


async def remember_seeding(timings: dict[str, float]) -> None:
    """Keep the seeding times with the database, for reports of later runs that reuse it."""
    admin = await asyncpg.connect(pg_dsn("postgres"))
    try:
        comment = json.dumps(timings).replace("'", "")
        await admin.execute(f"COMMENT ON DATABASE \"{DB_NAME}\" IS '{comment}'")
    finally:
        await admin.close()


async def recall_seeding() -> dict[str, float] | None:
    admin = await asyncpg.connect(pg_dsn("postgres"))
    try:
        comment = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            DB_NAME,
        )
    finally:
        await admin.close()
    try:
        timings: dict[str, float] = json.loads(comment) if comment else None
    except ValueError:
        return None
    return timings


async def schema_revision() -> str | None:
    conn = await asyncpg.connect(pg_dsn(DB_NAME))
    try:
        return str(await conn.fetchval("SELECT version_num FROM alembic_version"))
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()


async def migrate_reused() -> bool:
    """Bring a reused database to the newest schema (new indexes are built on the seeded
    rows), then refresh the planner's statistics: an expression index has none until
    ANALYZE. True if anything was migrated."""
    before = await schema_revision()
    await asyncio.to_thread(upgrade, sa_url(DB_NAME))
    if await schema_revision() == before:
        return False
    conn = await asyncpg.connect(pg_dsn(DB_NAME))
    try:
        await conn.execute("VACUUM (ANALYZE) referrals")
    finally:
        await conn.close()
    return True


async def samples() -> dict[str, Any]:
    """Ids and NIKs to query for, from a reused database (NIKs by decrypting a few rows)."""
    cipher = DataCipher(base64.b64decode(DATA_KEY))
    conn = await asyncpg.connect(pg_dsn(DB_NAME))
    try:
        rows = await conn.fetch(
            "SELECT id, sensitive_data FROM referrals TABLESAMPLE SYSTEM (1) LIMIT 1000"
        )
    finally:
        await conn.close()
    ids = [r["id"] for r in rows]
    niks = [cipher.decrypt_json(r["sensitive_data"], r["id"].bytes)["nik"] for r in rows]
    return {"sample_ids": [str(i) for i in ids], "sample_niks": niks}


async def seed_records(referral_ids: list[str]) -> int:
    """Give each measured referral a rehabilitation record (SPEC §10), as the portal reads
    it: an assessment, a plan of five goals, three appointments (one ahead) and five
    services, their free text encrypted as the service stores it. Replaces what a previous
    run gave them. Returns the rows written."""
    from app.rehab import texts
    from app.rehab.domain import RecordKind

    cipher = DataCipher(base64.b64decode(DATA_KEY))
    ids = [uuid.UUID(i) for i in referral_ids]
    conn = await asyncpg.connect(pg_dsn(DB_NAME))
    try:
        client_id = await conn.fetchval("SELECT id FROM clients ORDER BY created_at LIMIT 1")
        async with conn.transaction():
            for table in (
                "referral_assessments",
                "referral_plans",
                "referral_appointments",
                "referral_services",
            ):
                await conn.execute(f"DELETE FROM {table} WHERE referral_id = ANY($1)", ids)
            assessments, plans, appointments, services = [], [], [], []
            components = [
                "hidup_layak",
                "terapi",
                "dukungan_keluarga",
                "vokasional_kewirausahaan",
                "bantuan_sosial",
            ]
            for rid in ids:
                aid = uuid.uuid4()
                sealed = texts.seal(cipher, RecordKind.assessment, aid, {"summary": "Kooperatif."})
                needs = json.dumps([{"component": c, "level": "medium"} for c in components[:3]])
                documents = json.dumps({"ktp": "missing", "kk": "has", "akta_lahir": "has"})
                assessments.append((aid, rid, NOW, TODAY, needs, documents, sealed, client_id))
                goals = [
                    {"id": str(uuid.uuid4()), "component": c, "due_on": None} for c in components
                ]
                words = {g["id"]: f"Tujuan {g['component']}" for g in goals}
                plans.append(
                    (
                        rid,
                        1,
                        json.dumps(goals),
                        texts.seal(cipher, RecordKind.plan, rid, words),
                        NOW,
                        NOW,
                    )
                )
                for days in (-14, -7, 7):
                    pid = uuid.uuid4()
                    detail = texts.seal(cipher, RecordKind.appointment, pid, {"location": "Sentra"})
                    appointments.append(
                        (
                            pid,
                            rid,
                            NOW,
                            NOW + dt.timedelta(days=days),
                            "sentra",
                            "attended" if days < 0 else None,
                            detail,
                            client_id,
                        )
                    )
                for component in components:
                    sid = uuid.uuid4()
                    sealed = texts.seal(cipher, RecordKind.service, sid, {"description": "Layanan"})
                    services.append((sid, rid, NOW, component, TODAY, sealed, client_id))
            await conn.executemany(
                "INSERT INTO referral_assessments (id, referral_id, recorded_at, assessed_on, "
                "needs, identity_documents, texts, client_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                assessments,
            )
            await conn.executemany(
                "INSERT INTO referral_plans (referral_id, version, goals, texts, created_at, "
                "updated_at) VALUES ($1,$2,$3,$4,$5,$6)",
                plans,
            )
            await conn.executemany(
                "INSERT INTO referral_appointments (id, referral_id, recorded_at, starts_at, "
                "location_kind, attendance, texts, client_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                appointments,
            )
            await conn.executemany(
                "INSERT INTO referral_services (id, referral_id, recorded_at, component, "
                "delivered_on, texts, client_id) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                services,
            )
        await conn.execute(
            "ANALYZE referral_assessments, referral_plans, referral_appointments, referral_services"
        )
    finally:
        await conn.close()
    return len(assessments) + len(plans) + len(appointments) + len(services)


async def issue_keys() -> dict[str, str]:
    db = Database(Settings(database_url=sa_url(DB_NAME), data_key=DATA_KEY))  # type: ignore[arg-type]
    keys: dict[str, str] = {}
    try:
        async with db.transaction() as session:
            for role, facilities in ((Role.kemensos, []), (Role.prison, ["LP-0001", "LP-0002"])):
                issued = await create_client(
                    session, name=f"bench {role.value}", role=role, facility_codes=facilities
                )
                keys[role.value] = issued.api_key
    finally:
        await db.dispose()
    return keys


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RUJUKAN_DATABASE_URL": sa_url(DB_NAME),
        "RUJUKAN_DATA_KEY": DATA_KEY,
        "RUJUKAN_AUDIT_SIGNING_KEY": AUDIT_KEY,
        "RUJUKAN_RATE_LIMIT_PER_SECOND": "1000000",
        "RUJUKAN_RATE_LIMIT_BURST": "1000000",
        "RUJUKAN_LOG_LEVEL": "WARNING",
        "RUJUKAN_RUN_WORKER_IN_PROCESS": "false",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "app.main:app_factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_ready(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"the server exited: {server.stderr.read().decode() if server.stderr else ''}"
            )
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become ready within 30 s")


@dataclass
class Result:
    name: str
    target_ms: float | None
    samples_ms: list[float]
    note: str = ""

    def pct(self, p: float) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def row(self) -> str:
        p95 = self.pct(95)
        verdict = "" if self.target_ms is None else ("ok" if p95 <= self.target_ms else "**over**")
        target = "" if self.target_ms is None else f"≤ {self.target_ms:.0f}"
        return (
            f"| {self.name} | {len(self.samples_ms)} | {statistics.median(self.samples_ms):.1f} | "
            f"{p95:.1f} | {self.pct(99):.1f} | {max(self.samples_ms):.1f} | {target} | "
            f"{verdict} |"
        )


@dataclass
class Scenario:
    name: str
    target_ms: float | None
    call: Callable[[int], Awaitable[Answer]]
    every: int = 1  # measured every n-th round (the slow stats run less often)
    note: str = ""


async def measure(scenarios: list[Scenario], rounds: int) -> list[Result]:
    """Round-robin over the scenarios, one request at a time, so that a burst of load from
    other processes on the machine falls on every scenario alike, not on one of them."""
    for scenario in scenarios:  # warm-up: connections, prepared statements, caches
        for i in range(20 // scenario.every):
            response = await scenario.call(i)
            assert response.status_code == 200, (scenario.name, response.text[:300])
    timings: dict[str, list[float]] = {s.name: [] for s in scenarios}
    for i in range(rounds):
        for scenario in scenarios:
            if i % scenario.every:
                continue
            started = time.perf_counter()
            response = await scenario.call(i)
            timings[scenario.name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (scenario.name, response.text[:300])
    return [Result(s.name, s.target_ms, timings[s.name], s.note) for s in scenarios]


def name_queries(rng: random.Random, count: int) -> list[str]:
    out = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            out.append(rng.choice(LAST).lower())
        elif kind == 1:
            out.append(f"{rng.choice(FIRST)} {rng.choice(LAST)[:4]}")
        else:
            out.append(rng.choice(FIRST)[:3])
    return out


async def run_http(
    base_url: str, keys: dict[str, str], data: dict[str, Any], count: int
) -> tuple[list[Result], dict[str, Any]]:
    rng = random.Random(42)
    world = World.build(random.Random(20261130))
    kemensos = {"Authorization": f"Bearer {keys['kemensos']}"}
    prison = {"Authorization": f"Bearer {keys['prison']}"}
    pas = [c for c in OTHER_PAS]
    names = name_queries(rng, count + 20)
    ids = data["sample_ids"]
    niks = data["sample_niks"]
    extra: dict[str, Any] = {}
    url = httpx.URL(base_url)
    client = Connection(url.host, url.port or 80)  # bench/http1.py: not httpx's 1.3 ms
    try:

        def get(path: str, params: Any, headers: dict[str, str]) -> Awaitable[Answer]:
            return client.get(path, params, headers)

        def filtered(i: int) -> Awaitable[Answer]:
            r = random.Random(i)
            start = TODAY - dt.timedelta(days=r.randint(30, 1000))
            return get(
                "/v1/referrals",
                {
                    "province_code": r.choices(world.provinces, world.province_weights)[0],
                    "pas_category": r.choice(pas),
                    "release_date_from": start.isoformat(),
                    "release_date_to": (start + dt.timedelta(days=90)).isoformat(),
                },
                kemensos,
            )

        # Page 200 of cursor walks: walk to it once per filter set, then fetch it repeatedly.
        walks: list[tuple[dict[str, Any], str]] = []
        walk_times: list[float] = []
        for params in (
            {},
            {"status": "received"},
            {"province_code": "32"},
            {"sort": "release_date"},
            {"sort": "-updated_at"},
        ):
            cursor = None
            for _ in range(199):
                started = time.perf_counter()
                page = await get(
                    "/v1/referrals", {**params, **({"cursor": cursor} if cursor else {})}, kemensos
                )
                walk_times.append((time.perf_counter() - started) * 1000)
                cursor = page.json()["next_cursor"]
            assert cursor is not None
            walks.append((params, cursor))
        extra["walk_page_ms"] = (
            statistics.median(walk_times),
            sorted(walk_times)[int(0.95 * len(walk_times))],
        )

        scenarios = [
            Scenario(
                "baseline: GET /v1/reference/release-types (auth, no query)",
                None,
                lambda i: get("/v1/reference/release-types", {}, kemensos),
                note="the fixed cost of every /v1 call: HTTP, the API-key lookup, middleware",
            ),
            Scenario(
                "first page: status=received, sort -created_at",
                20,
                lambda i: get("/v1/referrals", {"status": "received"}, kemensos),
            ),
            Scenario(
                "first page: no filter, sort -created_at",
                20,
                lambda i: get("/v1/referrals", {}, kemensos),
            ),
            Scenario("filtered: province + PAS + 90-day release range", 20, filtered),
            Scenario(
                "page 200 of a cursor walk (5 walks)",
                20,
                lambda i: get(
                    "/v1/referrals", {**walks[i % 5][0], "cursor": walks[i % 5][1]}, kemensos
                ),
            ),
            Scenario(
                "name search q (word prefix), sort -created_at",
                20,
                lambda i: get("/v1/referrals", {"q": names[i]}, kemensos),
                note="q alternates a surname, 'first + surname prefix', a 3-letter prefix",
            ),
            Scenario(
                "exact NIK",
                20,
                lambda i: get("/v1/referrals", {"nik": niks[i % len(niks)]}, kemensos),
            ),
            Scenario(
                "prison: own facilities, first page",
                20,
                lambda i: get("/v1/referrals", {}, prison),
            ),
            Scenario(
                "detail GET /v1/referrals/{id} (audited)",
                10,
                lambda i: get(f"/v1/referrals/{ids[i % len(ids)]}", {}, kemensos),
                note="each with a record (§10): an assessment, a plan of 5 goals, 3 "
                "appointments, 5 services; the detail shows the assessment and the next "
                "appointment",
            ),
            Scenario(
                "plan GET /v1/referrals/{id}/plan (5 goals, audited)",
                10,
                lambda i: get(f"/v1/referrals/{ids[i % len(ids)]}/plan", {}, kemensos),
            ),
            Scenario(
                "appointments GET /v1/referrals/{id}/appointments (3, audited)",
                10,
                lambda i: get(f"/v1/referrals/{ids[i % len(ids)]}/appointments", {}, kemensos),
            ),
            Scenario(
                "stats group_by status, province_code",
                300,
                lambda i: get(
                    "/v1/referrals/stats",
                    [("group_by", "status"), ("group_by", "province_code")],
                    kemensos,
                ),
                every=4,
            ),
            Scenario(
                "stats group_by pas_category (province 32)",
                None,
                lambda i: get(
                    "/v1/referrals/stats",
                    [("group_by", "pas_category"), ("province_code", "32")],
                    kemensos,
                ),
                every=4,
            ),
        ]
        extra["load_before"] = os.getloadavg()
        extra["calibration_before"] = calibration_ms()
        results = await measure(scenarios, count)
        extra["calibration_after"] = calibration_ms()
        extra["load_after"] = os.getloadavg()
    finally:
        client.close()
    return results, {"names": names, **extra}


def calibration_ms() -> float:
    """How long this machine takes right now for a fixed CPU-bound loop (median of 5).

    The virtual machines this runs on change speed by up to 2x from minute to minute (the
    same loop took 430-820 ms within one minute): figures of two runs compare only at
    similar calibration times."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def resident_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


async def measure_export(base_url: str, keys: dict[str, str], pid: int) -> dict[str, Any]:
    """Stream one large province's export; watch the server's memory while it streams."""
    headers = {"Authorization": f"Bearer {keys['kemensos']}"}
    province = "35"
    before = peak = resident_mb(pid)
    rows = size = 0
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=600) as client,
        client.stream(
            "GET", "/v1/referrals/export.csv", params={"province_code": province}, headers=headers
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")
            peak = max(peak, resident_mb(pid))
    seconds = time.perf_counter() - started
    return {
        "province": province,
        "rows": rows - 1,
        "mb": size / 1e6,
        "seconds": seconds,
        "rate": (rows - 1) / seconds,
        "rss_before": before,
        "rss_peak": peak,
    }


async def explain_all(names: list[str], niks: list[str]) -> list[tuple[str, str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of the list queries, built as the service builds them."""
    principal = Principal(uuid.uuid4(), "bench", Role.kemensos, frozenset(), frozenset())
    prison = Principal(
        uuid.uuid4(), "bench", Role.prison, frozenset({"LP-0001", "LP-0002"}), frozenset()
    )
    cipher = DataCipher(base64.b64decode(DATA_KEY))
    ctx = QueryContext(principal, TODAY, 14)
    start = TODAY - dt.timedelta(days=400)
    cases: list[tuple[str, Any]] = [
        (
            "first page: status=received",
            page_query(
                ReferralFilters(status=("received",)),
                ctx,
                ListSort.created_desc,
                after=None,
                limit=51,
            ),
        ),
        (
            "filtered: province 32 + korban_napza_hiv + 90-day release range",
            page_query(
                ReferralFilters(
                    province_code=("32",),
                    pas_category=("korban_napza_hiv",),
                    release_date_from=start,
                    release_date_to=start + dt.timedelta(days=90),
                ),
                ctx,
                ListSort.created_desc,
                after=None,
                limit=51,
            ),
        ),
        (
            "name search q=" + names[0],
            page_query(
                ReferralFilters(name_words=tuple(normalise_name(names[0]).split())),
                ctx,
                ListSort.created_desc,
                after=None,
                limit=51,
            ),
        ),
        (
            "name search q=" + names[1],
            page_query(
                ReferralFilters(name_words=tuple(normalise_name(names[1]).split())),
                ctx,
                ListSort.created_desc,
                after=None,
                limit=51,
            ),
        ),
        (
            "name search q=" + names[2],
            page_query(
                ReferralFilters(name_words=tuple(normalise_name(names[2]).split())),
                ctx,
                ListSort.created_desc,
                after=None,
                limit=51,
            ),
        ),
        (
            "exact NIK",
            page_query(
                ReferralFilters(nik=niks[0]),
                QueryContext(principal, TODAY, 14, (cipher.blind_index(niks[0]),)),
                ListSort.created_desc,
                after=None,
                limit=51,
            ),
        ),
        (
            "prison: own facilities",
            page_query(
                ReferralFilters(),
                QueryContext(prison, TODAY, 14),
                ListSort.created_desc,
                after=None,
                limit=51,
            ),
        ),
    ]
    conn = await asyncpg.connect(pg_dsn(DB_NAME))
    out: list[tuple[str, str]] = []
    try:
        # Page 200: the position after 199 pages of 50 in -created_at order.
        row = await conn.fetchrow(
            "SELECT created_at, id FROM referrals "
            "ORDER BY created_at DESC, id DESC OFFSET 9949 LIMIT 1"
        )
        cases.insert(
            1,
            (
                "page 200 (keyset after row 9,950)",
                page_query(
                    ReferralFilters(),
                    ctx,
                    ListSort.created_desc,
                    after=(row["created_at"], row["id"]),
                    limit=51,
                ),
            ),
        )
        cases.append(
            (
                "stats group_by status, province_code",
                stats_query(ReferralFilters(), ctx, [GroupBy.status, GroupBy.province_code]),
            )
        )
        cases.append(
            (
                "moment scheduler: the referrals whose next moment has come",
                due_query(NOW, postgresql=True),
            )
        )
        cases.append(
            (
                "durations: every step, one group",
                durations_query(ReferralFilters(), ctx, None, "postgresql"),
            )
        )
        for title, query in cases:
            sql = str(
                query.compile(dialect=asyncpg_dialect(), compile_kwargs={"literal_binds": True})
            )
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            out.append((title, "\n".join(r[0] for r in plan)))
    finally:
        await conn.close()
    return out


async def environment() -> dict[str, str]:
    conn = await asyncpg.connect(pg_dsn(DB_NAME))
    try:
        info = {
            "postgres": str(await conn.fetchval("SHOW server_version")),
            "shared_buffers": str(await conn.fetchval("SHOW shared_buffers")),
            "work_mem": str(await conn.fetchval("SHOW work_mem")),
            "referrals_size": str(
                await conn.fetchval("SELECT pg_size_pretty(pg_table_size('referrals'))")
            ),
            "referrals_indexes_size": str(
                await conn.fetchval("SELECT pg_size_pretty(pg_indexes_size('referrals'))")
            ),
            "pas_rows": str(await conn.fetchval("SELECT count(*) FROM referral_pas_categories")),
        }
        sizes = await conn.fetch(
            "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)) AS size "
            "FROM pg_stat_user_indexes WHERE relname = 'referrals' ORDER BY indexrelname"
        )
        info["index_sizes"] = ", ".join(f"{r['indexrelname']} {r['size']}" for r in sizes)
    finally:
        await conn.close()
    info["cpu"] = f"{os.cpu_count()} CPU, {platform.processor() or platform.machine()}"
    info["python"] = platform.python_version()
    return info


def report(
    rows: int,
    results: list[Result],
    plans: list[tuple[str, str]],
    env: dict[str, str],
    seeding: dict[str, float] | None,
    extra: dict[str, Any],
    command: str,
) -> str:
    lines = [
        "# Portal query benchmark",
        "",
        f"Generated by `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC "
        "(see bench/README.md). Every person in the data is invented.",
        "",
        f"- **{rows:,} referrals**, {int(env['pas_rows']):,} PAS category rows; "
        f"referrals table {env['referrals_size']}, its indexes {env['referrals_indexes_size']}",
        f"- PostgreSQL {env['postgres']} (shared_buffers {env['shared_buffers']}, work_mem "
        f"{env['work_mem']}), {env['cpu']}, Python {env['python']}",
        "- Load average (1 min) of the machine, from other work: {:.1f} before the "
        "measurements, {:.1f} after.".format(extra["load_before"][0], extra["load_after"][0]),
        "- CPU calibration (`calibration_ms`: a fixed Python loop; the machine's speed "
        "varies up to 2x between runs): {:.0f} ms before, {:.0f} ms after.".format(
            extra["calibration_before"], extra["calibration_after"]
        ),
        "- The service under uvicorn (one worker process) on 127.0.0.1, requests over HTTP "
        "one at a time from one keep-alive client (latency, not throughput; bench/http1.py, "
        "not httpx, which added 1.3 ms of its own to every request), the scenarios in turn "
        "(round-robin) after 20 warm-up requests each. Times are end to end: HTTP, "
        "authentication (a key lookup), query, JSON.",
    ]
    if seeding:
        lines.append(
            f"- Seeding: COPY {seeding['copy_s']:.0f} s, index builds {seeding['index_s']:.0f} s, "
            f"VACUUM ANALYZE {seeding['vacuum_s']:.0f} s"
            + (
                f", durations histogram {seeding['histogram_s']:.0f} s"
                if "histogram_s" in seeding
                else ""
            )
        )
    lines += [
        "",
        "| scenario | n | p50 ms | p95 ms | p99 ms | max ms | target p95 | |",
        "|---|---|---|---|---|---|---|---|",
        *(r.row() for r in results),
        "",
        f"Walking to page 200 (995 pages over 5 walks): per page p50 "
        f"{extra['walk_page_ms'][0]:.1f} ms, p95 {extra['walk_page_ms'][1]:.1f} ms.",
        "",
        "Export (`GET /v1/referrals/export.csv?province_code={province}`, streamed in keyset "
        "batches of 1,000): {rows:,} rows, {mb:.1f} MB in {seconds:.1f} s ({rate:,.0f} rows/s); "
        "server resident memory {rss_before} MB before, at most {rss_peak} MB during.".format(
            **extra["export"]
        ),
        "",
        *(f"- {r.name}: {r.note}" for r in results if r.note),
        "",
        f"Indexes on `referrals`: {env['index_sizes']}.",
        "",
        "## What makes these fast",
        "",
        "- **Keyset pages as a deferred join.** The inner query finds the page's 51 ids using "
        "only what it filters and sorts on; the covering indexes (`INCLUDE`) answer it with an "
        "index-only scan, and only the page's rows are read from the table (about 1 KB each "
        "with the event-shaped JSON). A walk that skips thousands of non-matching referrals "
        "therefore skips index entries, not table pages.",
        "- **Covering indexes** (PostgreSQL `INCLUDE`): `(created_at, id)` carries status, "
        "province, facility, sentra, release date, PAS bits and the normalised name; "
        "`(province_code, created_at, id)` carries status, release date and PAS bits. "
        "`(status, province_code)` serves the dashboard counts as an index-only scan.",
        "- **PAS categories as bits** (`referrals.pas_mask`, kept by `write_case`): a PAS "
        "filter is evaluated inside the index instead of probing `referral_pas_categories` "
        "for every candidate row; that table stays for grouping by category.",
        "- **A release-date window first** (`queries.window_first`): with a province and a "
        "release-date window of at most a year, the page is taken from the window's entries "
        "of `(province_code, release_date, id)` (covering the sort columns, PAS bits, status), "
        "sorted; the planner would otherwise walk the province newest-first, assuming the "
        "matches spread evenly over time, and for a window a year back walked ~100,000 "
        "entries to reach it (20-40 ms; the window holds ~11,000).",
        "- **Name search**: `rujukan_name_prefixes(name_search)` (migration 0002) is every "
        "prefix of 3+ characters of every word of the name, with a GIN index; each `q` word "
        "is an exact key in it (`@>`), so a rare word or first name + surname prefix reads "
        "its few hundred matches (1-2 ms in the index). For a common word the planner walks "
        "the covering `(created_at, id)` index instead, filtering with `strpos` on the "
        "normalised name it carries. It replaced a pg_trgm index, whose word prefixes AND "
        "the long lists of common trigrams (10-15 ms in the index for 'first name + surname "
        "prefix').",
        "- **The fixed cost** of a `/v1` call (the baseline row: HTTP, the API-key lookup in "
        "its own transaction, middleware) is a large part of every figure; the list's own "
        "database time is in the plans below. On this shared 2-core box other processes "
        "(test runs) compete for the CPU with both uvicorn and PostgreSQL, so figures vary "
        "by ±30% between runs.",
        "",
        "## Query plans",
        "",
        "`EXPLAIN (ANALYZE, BUFFERS)` of each list query and of the stats query, built by "
        "`app.referrals.queries` exactly as the service builds it (values inlined; the "
        "service binds them).",
        "",
    ]
    for title, plan in plans:
        lines += [f"### {title}", "", "```", plan, "```", ""]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    seeding: dict[str, float] | None = None
    existing = await referral_count()
    if args.reseed or existing != args.rows:
        log(f"creating {DB_NAME} and seeding {args.rows:,} referrals")
        await recreate_database()
        await asyncio.to_thread(upgrade, sa_url(DB_NAME))
        data = await seed(args.rows, log)
        seeding = data["timings"]
        await remember_seeding(seeding)
    else:
        log(f"reusing {DB_NAME} with {existing:,} referrals (--reseed to start afresh)")
        if await migrate_reused():
            log(f"  migrated {DB_NAME} to the newest schema and analysed it")
        data = await samples()
        seeding = await recall_seeding()
    keys = await issue_keys()
    written = await seed_records(data["sample_ids"])
    log(f"gave the {len(data['sample_ids'])} measured referrals a record ({written} rows)")
    port = free_port()
    server = start_server(port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
            await wait_ready(probe, server)
        log("server ready; measuring")
        results, extra = await asyncio.wait_for(
            run_http(f"http://127.0.0.1:{port}", keys, data, args.requests), timeout=args.timeout
        )
        extra["export"] = await asyncio.wait_for(
            measure_export(f"http://127.0.0.1:{port}", keys, server.pid), timeout=args.timeout
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    plans = await explain_all(extra["names"], data["sample_niks"])
    env = await environment()
    command = "python -m bench.queries " + " ".join(sys.argv[1:])
    text = report(args.rows, results, plans, env, seeding, extra, command.strip())
    await asyncio.to_thread(write_report, Path(args.out), text)
    for result in results:
        print(result.row())
    log(f"done in {time.monotonic() - started:.0f} s; report in {args.out}")
    return 0


# Sections after the generated report that a rerun keeps: hand-written comparisons of
# runs, and the intake section (bench/intake.py).
KEPT_SECTIONS = ("\n# Portal query runs compared", "\n# Intake benchmark")


def write_report(path: Path, text: str) -> None:
    """Write the query report, keeping the sections that follow it (KEPT_SECTIONS)."""
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    starts = [i for i in (previous.find(m) for m in KEPT_SECTIONS) if i >= 0]
    kept = previous[min(starts) :] if starts else ""
    path.write_text(text + "\n" + kept, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per scenario")
    parser.add_argument("--reseed", action="store_true", help="drop and seed even if reusable")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for all measurements")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
