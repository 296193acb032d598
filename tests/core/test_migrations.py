"""The migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401  (every table on the metadata)
from app.core.db import Base


async def test_the_migrated_schema_is_the_models(database_url: str) -> None:
    engine = create_async_engine(database_url)

    def declared(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
        # The GIN index on a function of the name lives in migration 0002 alone (an
        # expression over a PL/pgSQL function the models do not declare).
        return not (kind == "index" and name == "ix_referrals_name_prefixes")

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_object": declared}
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        found = await connection.run_sync(differences)
    await engine.dispose()
    assert found == []


def test_stored_referrals_keep_their_data_and_flag_consent_without_evidence(
    tmp_path: Any,
) -> None:
    """Migration 0003 on referrals stored before it: `bapas_code` read from the case data,
    LEGACY_CONSENT where a consent (basis `consent`) has no evidence (SPEC §3)."""
    import json
    import sqlite3
    import uuid

    from app.core.migrate import upgrade

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0002")

    def stored(consent: dict[str, Any], bapas: str | None) -> tuple[Any, ...]:
        case = {
            "release": {"type": "pembebasan_bersyarat", "bapas_code": bapas},
            "consent": consent,
        }
        return (
            uuid.uuid4().hex, "LP-OLD", uuid.uuid4().hex, uuid.uuid4().hex, "received",
            "released", 1, "Budi", "budi", "1985-01-01", "male", "31", "pembebasan_bersyarat",
            "2026-01-01", "2026-06-01", json.dumps(case), "x", "[]",
            "2026-01-01 00:00:00", "2026-01-01 00:00:00", "2026-01-01 00:00:00",
        )  # fmt: skip

    rows = [
        stored({"basis": "consent", "method": "verbal_witnessed"}, "BAPAS-OLD"),
        stored({"basis": "consent", "method": "written", "evidence_ref": "F-1"}, None),
        stored({"basis": "public_task"}, None),
    ]
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO referrals (id, facility_code, case_ref, origin_client_id, status, "
            "custody_status, version, full_name, name_search, birth_date, sex, province_code, "
            "release_type, release_date, handover_date, case_data, sensitive_data, "
            "data_quality_flags, last_event_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    upgrade(url)
    after = [(bapas, json.loads(flags)) for bapas, flags in _in_order(path, rows)]
    assert after == [("BAPAS-OLD", ["LEGACY_CONSENT"]), (None, []), (None, [])]


def _in_order(path: Any, rows: list[tuple[Any, ...]]) -> list[tuple[Any, Any]]:
    import sqlite3

    with sqlite3.connect(path) as connection:
        return [
            connection.execute(
                "SELECT bapas_code, data_quality_flags FROM referrals WHERE id = ?", (row[0],)
            ).fetchone()
            for row in rows
        ]


def test_stored_referrals_get_their_timeline_and_first_follow_up(tmp_path: Any) -> None:
    """Migration 0004 on referrals stored before it: when each state was first entered,
    from the history; a `completed` close's first follow-up 3 months after its local date;
    no moment already past will fire, and only referrals that can have one are queued."""
    import sqlite3
    import uuid

    from app.core.migrate import upgrade

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0003")
    client = uuid.uuid4().hex

    def stored(status: str, outcome: str | None, closed_at: str | None) -> tuple[Any, ...]:
        return (
            uuid.uuid4().hex, "LP-OLD", uuid.uuid4().hex, client, status, "released", 3,
            "Budi", "budi", "1985-01-01", "male", "31", "bebas_murni", "2026-01-01",
            "2026-01-01", "{}", "x", "[]", "2026-01-01 00:00:00", "2026-01-01 00:00:00",
            "2026-01-01 00:00:00", outcome, closed_at,
        )  # fmt: skip

    done = stored("closed", "completed", "2026-05-31 20:00:00")  # 1 June in Jakarta
    rejected = stored("rejected", None, None)
    waiting = stored("received", None, None)
    history = [
        (done[0], "2026-01-02 01:00:00", "accept", "received", "accepted"),
        (done[0], "2026-01-03 01:00:00", "assign", "accepted", "assigned"),
        (done[0], "2026-01-05 01:00:00", "start_service", "assigned", "in_service"),
        (done[0], "2026-05-31 20:00:00", "close", "in_service", "closed"),
    ]
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO referrals (id, facility_code, case_ref, origin_client_id, status, "
            "custody_status, version, full_name, name_search, birth_date, sex, province_code, "
            "release_type, release_date, handover_date, case_data, sensitive_data, "
            "data_quality_flags, last_event_at, created_at, updated_at, outcome, closed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [done, rejected, waiting],
        )
        connection.executemany(
            "INSERT INTO referral_history (referral_id, at, action, from_status, to_status, "
            f"client_id, changed_fields) VALUES (?, ?, ?, ?, ?, '{client}', '[]')",
            history,
        )
    upgrade(url)
    with sqlite3.connect(path) as connection:
        read = connection.execute(
            "SELECT accepted_at, assigned_at, in_service_at, last_activity_at, "
            "next_follow_up_due, moments_from IS NOT NULL, next_moment_at IS NOT NULL "
            "FROM referrals WHERE id = ?",
            (done[0],),
        ).fetchone()
        queued = {
            row[0]: row[1]
            for row in connection.execute("SELECT id, next_moment_at IS NOT NULL FROM referrals")
        }
    assert read[0].startswith("2026-01-02 01:00:00")
    assert read[1].startswith("2026-01-03") and read[2].startswith("2026-01-05")
    assert read[3].startswith("2026-05-31 20:00:00")
    assert read[4:] == ("2026-09-01", 1, 1)
    assert (queued[rejected[0]], queued[waiting[0]]) == (0, 1)
