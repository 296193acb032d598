"""Tamper evidence (SPEC §8): seals made over the audit log, and `verify` naming the first
row or seal that an owner of the database changed, removed or inserted."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from app.audit.seals import (
    ROW_COLUMNS,
    AuditSeal,
    Sealer,
    check_block,
    check_seal,
    make_seal,
    parse_public_keys,
    public_key_text,
    signing_key,
    unpack_entries,
    verify,
)
from app.core import audit
from app.core.audit import AUDIT_TABLE, public_id
from app.core.clock import utcnow
from app.core.db import Database
from app.runtime import Runtime, sealer_of
from tests.conftest import TEST_AUDIT_KEY, Clients
from tests.factories import make_event

KEY = signing_key(base64.b64decode(TEST_AUDIT_KEY))
OTHER_KEY = signing_key(b"\x07" * 32)


AT = utcnow()


def fake_row(row_id: int, txid: int = 0, outcome: str = "success") -> tuple[Any, ...]:
    """A row as the sealer reads it: the values of ROW_COLUMNS, in that order."""
    values = {
        "id": row_id,
        "txid": txid,
        "at": AT,
        "client_id": None,
        "actor": None,
        "action": "referral.read",
        "referral_id": uuid.UUID(int=row_id),
        "target_id": None,
        "request_id": "r",
        "outcome": outcome,
        "disclosed": None,
    }
    return tuple(values[c] for c in ROW_COLUMNS)


# -- pure ------------------------------------------------------------------------------------


def test_a_block_names_the_first_changed_removed_or_inserted_row() -> None:
    rows = [fake_row(i) for i in (1, 2, 3, 4)]
    seal = make_seal(None, rows, utcnow(), KEY)
    entries = unpack_entries(seal.entries)
    assert check_block(1, entries, rows) is None
    changed = [rows[0], fake_row(2, outcome="DENIED"), rows[2], rows[3]]
    found = check_block(1, entries, changed)
    assert found is not None and (found.change, found.id) == ("changed", str(public_id(2)))
    found = check_block(1, entries, [rows[0], rows[1], rows[3]])
    assert found is not None and (found.change, found.id) == ("removed", str(public_id(3)))
    found = check_block(1, entries, [rows[0], fake_row(9), *rows[1:]])
    assert found is not None and (found.change, found.id) == ("inserted", str(public_id(9)))
    found = check_block(1, entries, [rows[0], rows[2], rows[1], rows[3]])
    assert found is not None and (found.change, found.id) == ("changed", str(public_id(3)))


def test_a_seal_is_checked_for_number_chain_hash_and_signature() -> None:
    one = make_seal(None, [fake_row(1), fake_row(2)], utcnow(), KEY)
    two = make_seal(one, [fake_row(3)], utcnow(), KEY)
    three = make_seal(two, [fake_row(4)], utcnow(), KEY)
    keys = [KEY.public_key()]
    assert check_seal(one, None, keys) is None
    assert check_seal(two, one, keys) is None
    # Seal 2 dropped: 3 follows 1.
    found = check_seal(three, one, keys)
    assert found is not None and (found.kind, found.change, found.id) == ("seal", "removed", "2")
    # Signed by a key the verifier does not hold (forged, or rotated without the old key).
    assert check_seal(two, one, [OTHER_KEY.public_key()]) is not None
    assert check_seal(two, one, [OTHER_KEY.public_key(), KEY.public_key()]) is None
    # Any stored field changed.
    for field, value in (("count", 2), ("hash", "0" * 64), ("last_txid", 5), ("signature", "x")):
        forged = make_seal(one, [fake_row(3)], two.sealed_at, KEY)
        setattr(forged, field, value)
        found = check_seal(forged, one, keys)
        assert found is not None and (found.change, found.id) == ("changed", "2"), field
    # A whole seal remade by someone without the key: a valid chain, an invalid signature.
    remade = make_seal(one, [fake_row(3, outcome="x")], utcnow(), OTHER_KEY)
    assert check_seal(remade, one, keys) is not None


def test_public_keys_parse_one_a_line() -> None:
    text_ = f"# before the rotation\n{public_key_text(OTHER_KEY.public_key())}\n\n"
    text_ += public_key_text(KEY.public_key()) + "\n"
    assert len(parse_public_keys(text_)) == 2


# -- on both databases -----------------------------------------------------------------------


async def seed(db: Database, count: int) -> None:
    rows = [
        audit.row(None, "referral.read", "success", referral_id=uuid.uuid4())
        for _ in range(count - 1)
    ]
    rows.append(
        audit.row(None, "referrals.list", "success", disclosed=audit.pack_ids([uuid.uuid4()] * 3))
    )
    assert await audit.record_apart(db, rows)


async def seal_all(sealer: Sealer, db: Database) -> None:
    """Seal every committed row. On PostgreSQL a transaction running anywhere on the server
    (other test runs share it) holds the commit horizon back for a moment: try again."""
    for _ in range(200):
        await sealer.seal_pending()
        async with db.read_session() as session:
            total = await session.scalar(select(func.count()).select_from(AUDIT_TABLE))
            sealed = await session.scalar(select(func.coalesce(func.sum(AuditSeal.count), 0)))
        if total == sealed:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("rows stayed unsealed")


async def ids_in_order(db: Database) -> list[int]:
    async with db.read_session() as session:
        return list(
            (
                await session.execute(
                    select(AUDIT_TABLE.c.id).order_by(AUDIT_TABLE.c.txid, AUDIT_TABLE.c.id)
                )
            ).scalars()
        )


async def as_owner(db: Database, *statements: str) -> None:
    """What a DBA, a restored dump or a compromised superuser can do: the append-only
    triggers out of the way (PostgreSQL: replica mode; SQLite: the triggers dropped)."""
    async with db.transaction() as session:
        if db.is_sqlite:
            for table in ("audit_events", "audit_seals"):
                for verb in ("update", "delete"):
                    await session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
        else:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await session.execute(text(statement))


@pytest.fixture
async def sealed_log(own_db: Database) -> list[int]:
    """25 rows in seals of 10, 10 and 5, then 3 rows not sealed yet."""
    sealer = Sealer(own_db, KEY, block_rows=10)
    await seed(own_db, 25)
    await seal_all(sealer, own_db)
    await seed(own_db, 3)
    return await ids_in_order(own_db)


async def test_an_untouched_log_verifies_and_reports_unsealed_rows(
    own_db: Database, sealed_log: list[int]
) -> None:
    report = await verify(own_db, [KEY.public_key()])
    assert report.finding is None
    assert (report.seals, report.rows, report.unsealed) == (3, 25, 3)
    # The same log checked against a key that never signed it fails on the first seal.
    wrong = await verify(own_db, [OTHER_KEY.public_key()])
    assert wrong.finding is not None and (wrong.finding.kind, wrong.finding.id) == ("seal", "1")


def _quoted(row_id: int) -> str:
    return str(int(row_id))


@pytest.mark.parametrize(
    ("tamper", "kind", "change", "target"),
    [
        ("UPDATE audit_events SET outcome = 'DENIED' WHERE id = {row12}", "row", "changed", 12),
        ("DELETE FROM audit_events WHERE id = {row3}", "row", "removed", 3),
        (
            "INSERT INTO audit_events (id, txid, at, action, outcome) "
            "VALUES (0, 0, '2026-01-01 00:00:00', 'referral.read', 'success')",
            "row",
            "inserted",
            None,
        ),
        ("UPDATE audit_events SET disclosed = NULL WHERE id = {row24}", "row", "changed", 24),
    ],
)
async def test_verify_names_the_row_that_was_tampered_with(
    own_db: Database,
    sealed_log: list[int],
    tamper: str,
    kind: str,
    change: str,
    target: int | None,
) -> None:
    ids = {f"row{n}": _quoted(i) for n, i in enumerate(sealed_log)}
    await as_owner(own_db, tamper.format(**ids))
    report = await verify(own_db, [KEY.public_key()])
    assert report.finding is not None
    expected = public_id(sealed_log[target] if target is not None else 0)
    assert (report.finding.kind, report.finding.change, report.finding.id) == (
        kind,
        change,
        str(expected),
    )


async def test_verify_names_rows_whose_ids_were_swapped(
    own_db: Database, sealed_log: list[int]
) -> None:
    a, b = sealed_log[4], sealed_log[6]
    await as_owner(
        own_db,
        f"UPDATE audit_events SET id = -1 WHERE id = {a}",
        f"UPDATE audit_events SET id = {a} WHERE id = {b}",
        f"UPDATE audit_events SET id = {b} WHERE id = -1",
    )
    report = await verify(own_db, [KEY.public_key()])
    assert report.finding is not None
    assert (report.finding.kind, report.finding.change, report.finding.id) == (
        "row",
        "changed",
        str(public_id(a)),
    )


@pytest.mark.parametrize(
    ("tamper", "change", "seq"),
    [
        ("DELETE FROM audit_seals WHERE seq = 2", "removed", 2),
        ("UPDATE audit_seals SET hash = prev_hash WHERE seq = 2", "changed", 2),
        ("UPDATE audit_seals SET count = 9 WHERE seq = 3", "changed", 3),
        ("UPDATE audit_seals SET sealed_at = '2020-01-01 00:00:00' WHERE seq = 1", "changed", 1),
    ],
)
async def test_verify_names_the_seal_that_was_tampered_with(
    own_db: Database, sealed_log: list[int], tamper: str, change: str, seq: int
) -> None:
    await as_owner(own_db, tamper)
    report = await verify(own_db, [KEY.public_key()])
    assert report.finding is not None
    assert (report.finding.kind, report.finding.change, report.finding.id) == (
        "seal",
        change,
        str(seq),
    )


async def test_seals_continue_the_chain_and_the_worker_seals_in_process(
    own_db: Database, sealed_log: list[int]
) -> None:
    sealer = Sealer(own_db, KEY, block_rows=10)
    await seal_all(sealer, own_db)
    report = await verify(own_db, [KEY.public_key()])
    assert report.finding is None and (report.seals, report.unsealed) == (4, 0)


async def test_the_api_lists_seals_for_auditors_with_the_public_key(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    auditor = await clients.make("auditor")
    posted = await http.post(
        "/v1/release-events", json=make_event(facility), headers=prison.headers
    )
    assert posted.status_code == 201
    await seal_all(sealer_of(services), services.db)
    page = await http.get("/v1/audit-seals", params={"limit": 500}, headers=auditor.headers)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["public_key"] == public_key_text(KEY.public_key())
    assert body["items"] and set(body["items"][0]) == {
        "seq",
        "first_id",
        "last_id",
        "count",
        "hash",
        "prev_hash",
        "sealed_at",
        "signature",
    }
    seqs = [s["seq"] for s in body["items"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(
        later["prev_hash"] == earlier["hash"]
        for earlier, later in zip(body["items"], body["items"][1:], strict=False)
    )
    assert body["items"][0]["prev_hash"] == "0" * 64
    paged = await http.get("/v1/audit-seals", params={"limit": 1}, headers=auditor.headers)
    assert paged.json()["items"][0]["seq"] == 1
    if len(seqs) > 1:
        assert paged.json()["next_cursor"]
    for role in ("prison", "kemensos", "sentra"):
        caller = await clients.make(role)
        assert (await http.get("/v1/audit-seals", headers=caller.headers)).status_code == 403
