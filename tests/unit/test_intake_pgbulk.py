"""The PostgreSQL bulk statements write every column the models have (a new column in a
model, forgotten here, would be silently left NULL on PostgreSQL only)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid

import pytest
from sqlalchemy import Table

from app.core.audit import AuditEvent
from app.core.db import Base
from app.intake import pgbulk
from app.intake.models import IntakeRecord
from app.referrals.models import Referral, ReferralHistory, ReferralPasCategory
from app.referrals.records import ReferralRecord
from app.webhooks.models import OutboxEvent


def columns(model: type[Base]) -> set[str]:
    table = model.__table__
    assert isinstance(table, Table)
    return set(table.columns.keys())


@pytest.mark.parametrize(
    ("arrays", "model", "left_to_the_database"),
    [
        (pgbulk.REFERRALS, Referral, set()),
        (pgbulk.PAS, ReferralPasCategory, set()),
        (pgbulk.HISTORY, ReferralHistory, {"id"}),
        (pgbulk.OUTBOX, OutboxEvent, {"id", "txid"}),
        (pgbulk.AUDIT, AuditEvent, {"id"}),
        # The claim's answer columns are set by the answer's UPDATE.
        (pgbulk.CLAIMS, IntakeRecord, {"id", "status_code", "response", "outcome", "referral_id"}),
    ],
)
def test_bulk_columns_are_the_models_columns(
    arrays: pgbulk.Rows, model: type[Base], left_to_the_database: set[str]
) -> None:
    assert {name for name, _ in arrays.columns} == columns(model) - left_to_the_database


def test_answer_columns_exist() -> None:
    assert {name for name, _ in pgbulk.ANSWERS.columns} <= columns(IntakeRecord)


def binds(sql: str) -> set[str]:
    return set(re.findall(r"(?<![:\w]):(\w+)", sql))


def names(*rows: pgbulk.Rows) -> set[str]:
    return {r.name for r in rows}


def test_every_bound_array_is_used_and_every_parameter_is_bound() -> None:
    assert binds(pgbulk.READ_SQL) == names(pgbulk.CLAIMS) | {
        "niks",
        "terminal",
        "facility_codes",
        "case_refs",
    }
    assert binds(pgbulk.WRITE_SQL) == names(
        pgbulk.REFERRALS,
        pgbulk.CHANGED,
        pgbulk.PAS,
        pgbulk.HISTORY,
        pgbulk.OUTBOX,
        pgbulk.AUDIT,
        pgbulk.ANSWERS,
    ) | {"new_count", "pas_rewrite", "unclaim"}
    assert binds(pgbulk.OPEN_BY_NIK_SQL) == {"niks", "terminal"}


def test_bind_is_one_json_document_with_typed_scalars() -> None:
    referral_id = uuid.uuid4()
    at = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
    bound = pgbulk.OUTBOX.bind(
        [
            {
                "event_id": referral_id,
                "type": "referral.created",
                "referral_id": referral_id,
                "facility_code": "LP-X",
                "sentra_code": None,
                "data": {"b": 1, "a": [None]},
                "occurred_at": at,
            }
        ]
    )
    assert json.loads(bound["outbox"]) == [
        {
            "event_id": str(referral_id),
            "type": "referral.created",
            "referral_id": str(referral_id),
            "facility_code": "LP-X",
            "sentra_code": None,
            "data": {"b": 1, "a": [None]},
            "occurred_at": "2026-11-30T07:00:00+00:00",
        }
    ]
    with pytest.raises(TypeError):
        pgbulk.HISTORY.bind([{"x": object()}])


def test_a_new_referral_has_every_column_of_a_referral() -> None:
    assert {f.name for f in dataclasses.fields(ReferralRecord)} == columns(Referral)


def test_statement_numbers_each_name_once_and_leaves_casts_alone() -> None:
    statement = pgbulk.Statement.of(
        "SELECT CAST(:a AS int[]), :b::text, '{}'::jsonb, x.y FROM t WHERE c = ANY(:a)"
    )
    assert (
        statement.sql
        == "SELECT CAST($1 AS int[]), $2::text, '{}'::jsonb, x.y FROM t WHERE c = ANY($1)"
    )
    assert statement.names == ("a", "b")
    assert statement.arguments({"b": "B", "a": [1], "unused": 0}) == [[1], "B"]


def test_changed_referrals_keep_their_identity() -> None:
    changed = {name for name, _ in pgbulk.CHANGED.columns}
    assert "id" in changed
    assert not changed & {"facility_code", "case_ref", "origin_client_id", "created_at"}


def test_a_referral_read_back_as_json_gets_its_python_types() -> None:
    row = {name: None for name, _ in pgbulk.REFERRAL_COLUMNS}
    referral_id = uuid.uuid4()
    row.update(
        id=str(referral_id),
        birth_date="1985-03-12",
        last_event_at="2026-11-30T07:00:00.5+00:00",
        case_data={"a": 1},
        version=3,
    )
    values = pgbulk.record_values(row)
    assert values["id"] == referral_id
    assert values["birth_date"] == dt.date(1985, 3, 12)
    assert values["last_event_at"] == dt.datetime(2026, 11, 30, 7, 0, 0, 500000, tzinfo=dt.UTC)
    assert values["case_data"] == {"a": 1} and values["version"] == 3
    assert values["supervision_end_date"] is None
