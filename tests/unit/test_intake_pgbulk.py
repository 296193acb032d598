"""The PostgreSQL bulk statements write every column the models have (a new column in a
model, forgotten here, would be silently left NULL on PostgreSQL only)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import Table

from app.audit.models import AuditEvent
from app.db import Base
from app.intake import pgbulk
from app.intake.models import IntakeRecord
from app.referrals.models import Referral, ReferralHistory, ReferralPasCategory
from app.referrals.records import NewReferral
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
    arrays: pgbulk.Arrays, model: type[Base], left_to_the_database: set[str]
) -> None:
    assert {name for name, _ in arrays.columns} == columns(model) - left_to_the_database


def test_answer_columns_exist() -> None:
    assert {name for name, _ in pgbulk.ANSWERS.columns} <= columns(IntakeRecord)


def binds(sql: str) -> set[str]:
    return set(re.findall(r"(?<![:\w]):(\w+)", sql))


def names(*arrays: pgbulk.Arrays) -> set[str]:
    return {f"{a.prefix}_{name}" for a in arrays for name, _ in a.columns}


def test_every_bound_array_is_used_and_every_parameter_is_bound() -> None:
    assert binds(pgbulk.CLAIM_SQL) == names(pgbulk.CLAIMS) | {"niks", "terminal"}
    assert binds(pgbulk.WRITE_SQL) == names(
        pgbulk.REFERRALS, pgbulk.PAS, pgbulk.HISTORY, pgbulk.OUTBOX, pgbulk.AUDIT, pgbulk.ANSWERS
    ) | {"new_count", "pas_rewrite", "unclaim"}
    assert binds(pgbulk.OPEN_BY_NIK_SQL) == {"niks", "terminal"}
    assert binds(pgbulk.LOCK_CASES_SQL) == {"facility_codes", "case_refs"}


def test_bind_serialises_json_columns_and_keeps_nulls() -> None:
    bound = pgbulk.OUTBOX.bind(
        [
            {
                "event_id": None,
                "type": "referral.created",
                "referral_id": None,
                "facility_code": "LP-X",
                "sentra_code": None,
                "data": {"b": 1, "a": [None]},
                "occurred_at": None,
            }
        ]
    )
    assert bound["o_data"] == ['{"b":1,"a":[null]}']
    assert bound["o_sentra_code"] == [None]


def test_a_new_referral_has_every_column_of_a_referral() -> None:
    assert {f.name for f in dataclasses.fields(NewReferral)} == columns(Referral)
