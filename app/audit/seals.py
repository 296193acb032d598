"""Tamper evidence for the audit log (SPEC §8): signed seals, chained, made by the worker.

A seal covers the next block of rows in `(txid, id)` order. Its `entries` hold, for each
row, its id and the first 16 bytes of the SHA-256 of the row's canonical form; its `hash`
is SHA-256 over the previous seal's hash, its own number, where it ends and the entries;
its signature (Ed25519, `RUJUKAN_AUDIT_SIGNING_KEY`, a key that never lives in the
database) covers the hash, the previous hash and the time. Whoever can write to the
database but lacks the key can change, remove or insert rows or seals, yet not make seals
that verify: `verify` names the first row or seal that differs.

Seals follow the commit order, not the id order: on PostgreSQL a row is sealed only once
its transaction's id is below the commit horizon (`pg_snapshot_xmin`, as the outbox
reader does in app/webhooks/outbox.py), so a transaction that commits late always lands
after the last seal, never inside a sealed range, and no request waits for the sealer.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import (
    BigInteger,
    ColumnClause,
    ColumnElement,
    DateTime,
    Integer,
    LargeBinary,
    String,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, deferred, mapped_column, undefer

from app.core.audit import AUDIT_TABLE, public_id
from app.core.clock import utcnow
from app.core.db import Base, Database, UTCDateTime

log = logging.getLogger("rujukan.audit")

BLOCK_ROWS = 10_000
GENESIS_HASH = "0" * 64
_ENTRY = struct.Struct(">q16s")  # row id, truncated row digest
# One sealer at a time on PostgreSQL (any number of workers run): a transaction-level lock.
_SEAL_LOCK = 0x72756A756B616E01
# The commit horizon of the reader's own snapshot (see app/webhooks/outbox.py).
_HORIZON: ColumnClause[int] = literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint", BigInteger()
)

# A row as sealed and verified: a tuple of these columns, in this order. `at` as the
# driver returns it (the service's UTC conversion, a tenth of the verifier's time, is not
# needed to hash it the same way twice).
ROW_COLUMNS = (
    "id", "txid", "at", "client_id", "actor", "action", "referral_id", "target_id",
    "request_id", "outcome", "disclosed",
)  # fmt: skip
_COLUMNS = tuple(
    type_coerce(AUDIT_TABLE.c[n], DateTime(timezone=True)).label(n)
    if n == "at"
    else AUDIT_TABLE.c[n]
    for n in ROW_COLUMNS
)
_ID, _TXID, _DISCLOSED = 0, 1, 10
_LOWEST = (-(2**63), -(2**63))
# The verifier's read on PostgreSQL, through the driver itself: SQLAlchemy's result
# processing was 40 % of a million-row verify.
_PG_RANGE = (
    f"SELECT {', '.join(ROW_COLUMNS)} FROM {AUDIT_TABLE.name} "  # noqa: S608 (metadata only)
    "WHERE (txid, id) > ($1, $2) AND (txid, id) <= ($3, $4) ORDER BY txid, id"
)


def _after(seal: AuditSeal) -> ColumnElement[bool]:
    """Rows past the end of `seal` in (txid, id) order."""
    position = tuple_(AUDIT_TABLE.c.txid, AUDIT_TABLE.c.id)
    return position > tuple_(literal(seal.last_txid), literal(seal.last_id))


def _up_to(seal: AuditSeal) -> ColumnElement[bool]:
    position = tuple_(AUDIT_TABLE.c.txid, AUDIT_TABLE.c.id)
    return position <= tuple_(literal(seal.last_txid), literal(seal.last_id))


class AuditSeal(Base):
    """A signed block of audit rows; append-only, like the rows."""

    __tablename__ = "audit_seals"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_id: Mapped[int] = mapped_column(BigInteger)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_txid: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    entries: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Which signing key made it (its public key's fingerprint): seals outlive a rotation.
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(88))


# -- the pure part ---------------------------------------------------------------------------


def canonical(row: Any) -> bytes:
    """A row's canonical form: every column, in a fixed order, as orjson spells it (UUIDs
    in their standard form, times in RFC 3339 as the database gives them back, the
    disclosed ids in hex). orjson's own encoders: the verifier runs this a million times."""
    disclosed = row[_DISCLOSED]
    return orjson.dumps(
        (*row[:_DISCLOSED], None if disclosed is None else bytes(disclosed).hex()),
        # asyncpg's own UUID type is no `uuid.UUID` to orjson: its text is the same.
        default=str,
    )


def row_digest(row: Any) -> bytes:
    return hashlib.sha256(canonical(row)).digest()[:16]


def pack_entries(rows: Iterable[Any]) -> bytes:
    return b"".join(_ENTRY.pack(r[_ID], row_digest(r)) for r in rows)


def unpack_entries(entries: bytes) -> list[tuple[int, bytes]]:
    return [(i, d) for i, d in _ENTRY.iter_unpack(entries)]


def seal_hash(prev_hash: str, seq: int, last_txid: int, entries: bytes) -> str:
    head = f"rujukan-audit-seal/v1\n{prev_hash}\n{seq}\n{last_txid}\n".encode()
    return hashlib.sha256(head + entries).hexdigest()


def signed_message(seq: int, hash_: str, prev_hash: str, sealed_at: datetime) -> bytes:
    return f"rujukan-audit-seal/v1\n{seq}\n{hash_}\n{prev_hash}\n{sealed_at.isoformat()}".encode()


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64: what `GET /v1/audit-seals` shows."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def signing_key(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def parse_public_keys(textual: str) -> list[Ed25519PublicKey]:
    """Public keys, one base64 line each (the current one and those before a rotation)."""
    keys = []
    for line in textual.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keys.append(Ed25519PublicKey.from_public_bytes(base64.b64decode(line.strip())))
    return keys


def make_seal(
    prev: AuditSeal | None, rows: Sequence[Any], now: datetime, key: Ed25519PrivateKey
) -> AuditSeal:
    seq = prev.seq + 1 if prev else 1
    prev_hash = prev.hash if prev else GENESIS_HASH
    entries = pack_entries(rows)
    hash_ = seal_hash(prev_hash, seq, rows[-1][_TXID], entries)
    signature = key.sign(signed_message(seq, hash_, prev_hash, now))
    return AuditSeal(
        seq=seq,
        first_id=rows[0][_ID],
        last_id=rows[-1][_ID],
        last_txid=rows[-1][_TXID],
        count=len(rows),
        entries=entries,
        hash=hash_,
        prev_hash=prev_hash,
        sealed_at=now,
        key_id=fingerprint(key.public_key()),
        signature=base64.b64encode(signature).decode(),
    )


@dataclass(frozen=True, slots=True)
class Finding:
    """The first thing that differs: a `row` (named by the id the API shows) or a `seal`
    (by its `seq`), `changed`, `removed` or `inserted`."""

    kind: str
    change: str
    id: str
    seal: int

    def sentence(self) -> str:
        return f"audit {self.kind} {self.id} was {self.change} (seal {self.seal})"


def check_seal(
    seal: AuditSeal, prev: AuditSeal | None, keys: Sequence[Ed25519PublicKey]
) -> Finding | None:
    """A seal against its predecessor and the public keys: number, chain, hash, signature."""
    expected = prev.seq + 1 if prev else 1
    if seal.seq != expected:
        return Finding("seal", "removed", str(expected), expected)
    if seal.prev_hash != (prev.hash if prev else GENESIS_HASH):
        return Finding("seal", "changed", str(seal.seq), seal.seq)
    entries = unpack_entries(seal.entries) if len(seal.entries) % _ENTRY.size == 0 else None
    if (
        entries is None
        or not entries
        or seal.count != len(entries)
        or (entries[0][0], entries[-1][0]) != (seal.first_id, seal.last_id)
        or seal_hash(seal.prev_hash, seal.seq, seal.last_txid, seal.entries) != seal.hash
    ):
        return Finding("seal", "changed", str(seal.seq), seal.seq)
    message = signed_message(seal.seq, seal.hash, seal.prev_hash, seal.sealed_at)
    try:
        signature = base64.b64decode(seal.signature, validate=True)
    except ValueError:
        return Finding("seal", "changed", str(seal.seq), seal.seq)
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return None
    return Finding("seal", "changed", str(seal.seq), seal.seq)


def check_block(
    seq: int, entries: Sequence[tuple[int, bytes]], rows: Sequence[Any]
) -> Finding | None:
    """The rows found in a seal's range against its entries, both in (txid, id) order: the
    first row changed (its digest differs, or it moved), removed or inserted."""
    if len(entries) == len(rows) and all(
        entry == (row[_ID], row_digest(row)) for entry, row in zip(entries, rows, strict=True)
    ):
        return None  # the common case, without building the sets
    sealed = {i for i, _ in entries}
    present = {r[_ID] for r in rows}
    i = j = 0
    while i < len(entries) or j < len(rows):
        if j == len(rows) or (i < len(entries) and entries[i][0] not in present):
            return Finding("row", "removed", str(public_id(entries[i][0])), seq)
        row = rows[j]
        row_id = row[_ID]
        if row_id not in sealed:
            return Finding("row", "inserted", str(public_id(row_id)), seq)
        if i == len(entries) or entries[i][0] != row_id or entries[i][1] != row_digest(row):
            return Finding("row", "changed", str(public_id(row_id)), seq)
        i += 1
        j += 1
    return None


# -- sealing ---------------------------------------------------------------------------------


class Sealer:
    """Seals what is new, a block at a time, each in a short transaction of its own."""

    def __init__(self, db: Database, key: Ed25519PrivateKey, *, block_rows: int = BLOCK_ROWS):
        self.db = db
        self.key = key
        self.block_rows = block_rows

    async def seal_pending(self, max_blocks: int = 20) -> int:
        """Seal up to `max_blocks` blocks of committed rows; the number of rows sealed."""
        sealed = 0
        for _ in range(max_blocks):
            async with self.db.transaction() as session:
                count = await self._seal_block(session)
            sealed += count
            if count < self.block_rows:
                break
        return sealed

    async def _seal_block(self, session: AsyncSession) -> int:
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres and not await session.scalar(
            select(func.pg_try_advisory_xact_lock(literal(_SEAL_LOCK, BigInteger)))
        ):
            return 0  # another worker is sealing
        prev = await last_seal(session)
        stmt = select(*_COLUMNS).order_by(AUDIT_TABLE.c.txid, AUDIT_TABLE.c.id)
        if prev is not None:
            stmt = stmt.where(_after(prev))
        if postgres:
            stmt = stmt.where(AUDIT_TABLE.c.txid < _HORIZON)
        rows = (await session.execute(stmt.limit(self.block_rows))).all()
        if not rows:
            return 0
        session.add(make_seal(prev, rows, utcnow(), self.key))
        return len(rows)


async def last_seal(session: AsyncSession) -> AuditSeal | None:
    seal: AuditSeal | None = await session.scalar(
        select(AuditSeal).order_by(AuditSeal.seq.desc()).limit(1)
    )
    return seal


# -- verifying -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    seals: int
    rows: int
    unsealed: int
    finding: Finding | None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.finding is None,
            "seals": self.seals,
            "sealed_rows": self.rows,
            "unsealed_rows": self.unsealed,
            "problem": None
            if self.finding is None
            else {
                "kind": self.finding.kind,
                "change": self.finding.change,
                "id": self.finding.id,
                "seal": self.finding.seal,
                "detail": self.finding.sentence(),
            },
        }


SEAL_PAGE = 50


async def verify(db: Database, keys: Sequence[Ed25519PublicKey]) -> Report:
    """Every seal and every sealed row, recomputed; stops at the first difference. Each
    block is read in a short read transaction of its own."""
    prev: AuditSeal | None = None
    seals = rows_checked = 0
    after = 0
    while True:
        async with db.read_session() as session:
            page = list(
                (
                    await session.execute(
                        select(AuditSeal)
                        .options(undefer(AuditSeal.entries))
                        .where(AuditSeal.seq > after)
                        .order_by(AuditSeal.seq)
                        .limit(SEAL_PAGE)
                    )
                ).scalars()
            )
        if not page:
            break
        for seal in page:
            finding = check_seal(seal, prev, keys)
            if finding is None:
                async with db.read_session() as session:
                    rows = await _rows_between(session, prev, seal)
                finding = check_block(seal.seq, unpack_entries(seal.entries), rows)
                rows_checked += len(rows)
            if finding is not None:
                return Report(seals, rows_checked, 0, finding)
            seals += 1
            prev = seal
        after = page[-1].seq
    async with db.read_session() as session:
        unsealed_stmt = select(func.count()).select_from(AUDIT_TABLE)
        if prev is not None:
            unsealed_stmt = unsealed_stmt.where(_after(prev))
        unsealed = int(await session.scalar(unsealed_stmt) or 0)
    return Report(seals, rows_checked, unsealed, None)


async def _rows_between(
    session: AsyncSession, prev: AuditSeal | None, seal: AuditSeal
) -> Sequence[Any]:
    if session.get_bind().dialect.name == "postgresql":
        start = (prev.last_txid, prev.last_id) if prev is not None else _LOWEST
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        rows: Sequence[Any] = await raw.driver_connection.fetch(  # type: ignore[union-attr]
            _PG_RANGE, *start, seal.last_txid, seal.last_id
        )
        return rows
    stmt = select(*_COLUMNS).where(_up_to(seal)).order_by(AUDIT_TABLE.c.txid, AUDIT_TABLE.c.id)
    if prev is not None:
        stmt = stmt.where(_after(prev))
    return list((await session.execute(stmt)).all())
