"""Synthetic test data. Every person here is invented."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import uuid
from typing import Any
from zoneinfo import ZoneInfo

JAKARTA = ZoneInfo("Asia/Jakarta")
_counter = itertools.count(1)


def today() -> dt.date:
    return dt.datetime.now(JAKARTA).date()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def nik_for(birth: dt.date, sex: str, district: str = "317101", serial: int | None = None) -> str:
    day = birth.day + (40 if sex == "female" else 0)
    number = serial if serial is not None else next(_counter) % 10000 or 1
    return f"{district}{day:02d}{birth.month:02d}{birth.year % 100:02d}{number:04d}"


def make_event(
    facility: str = "LP-CIPINANG",
    *,
    event_type: str = "release.completed",
    case_ref: str | None = None,
    event_id: str | None = None,
    release_days: int = -1,
    occurred_at: dt.datetime | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid event: released yesterday (or `release_days` from today), adult, male."""
    release = today() + dt.timedelta(days=release_days)
    occurred = occurred_at or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    if event_type == "release.completed" and release_days > 0:
        raise ValueError("a completed release cannot be in the future")
    birth = dt.date(1985, 3, 12)
    event: dict[str, Any] = {
        "event_id": event_id or unique("EV"),
        "event_type": event_type,
        "occurred_at": occurred.isoformat(),
        "facility": {"code": facility, "name": "Lapas Kelas I Uji", "type": "lapas"},
        "case_ref": case_ref or unique("CASE"),
        "person": {
            "full_name": "Budi Santoso",
            "nik": nik_for(birth, "male"),
            "nik_unavailable_reason": None,
            "birth_date": birth.isoformat(),
            "birth_place": "Jakarta",
            "sex": "male",
            "domicile": {
                "province_code": "31",
                "regency_code": "3171",
                "district_code": "317101",
                "address": "Jl. Contoh No. 1",
            },
            "phone": "+6281200000001",
            "guardian": None,
        },
        "release": {
            "type": "bebas_murni",
            "date": release.isoformat(),
            "supervision_end_date": None,
            "bapas_code": None,
        },
        "pas_categories": ["warga_binaan", "korban_napza_hiv"],
        "needs": {
            "summary": "Perlu pendampingan pasca rehabilitasi NAPZA",
            "health": {"napza_history": True, "hiv_positive": None, "disability_types": []},
        },
        "in_custody_programmes": [
            {"kind": "rehabilitasi_sosial", "name": "TC NAPZA", "completed_on": None}
        ],
        "consent": {
            "basis": "consent",
            "given_by": "person",
            "method": "written",
            "evidence_ref": "SDP/PERSETUJUAN/2026/0001",
            "scope": ["health", "contact"],
            "recorded_at": (occurred - dt.timedelta(days=1)).isoformat(),
        },
    }
    for path, value in overrides.items():
        set_path(event, path, value)
    return event


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """set_path(e, "person__sex", "female"): double underscores separate levels."""
    keys = path.split("__")
    node = doc
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = copy.deepcopy(value)


def supervised(event: dict[str, Any], release_type: str = "pembebasan_bersyarat") -> dict[str, Any]:
    release_date = dt.date.fromisoformat(event["release"]["date"])
    event["release"]["type"] = release_type
    event["release"]["supervision_end_date"] = (release_date + dt.timedelta(days=180)).isoformat()
    event["release"]["bapas_code"] = "BAPAS-JAKTIM"
    return event
