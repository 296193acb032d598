"""The audit log's rows (SPEC §8): who did or read what, written by every part of the
service in the transaction of what it records. Append-only (UU 27/2022: processing must
be provable). The auditor's API over these rows is `app/audit/`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import BigInteger, FetchedValue, Index, LargeBinary, String, Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.core.clock import utcnow
from app.core.context import request_id_var
from app.core.db import Base, BigIntPK, Database, UTCDateTime

log = logging.getLogger("rujukan.audit")


class AuditEvent(Base):
    """Append-only proof of who did or read what (UU 27/2022: processing must be provable)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "referral_id", "id"),
        Index(None, "client_id", "id"),
        Index(None, "at"),
        Index(None, "txid", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_id: Mapped[uuid.UUID | None] = mapped_column()
    actor: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(48))
    referral_id: Mapped[uuid.UUID | None] = mapped_column()
    # What else the action was about: a client, a subscription, a sentra (never a person).
    target_id: Mapped[uuid.UUID | None] = mapped_column()
    request_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32))
    # The writing transaction's id (`pg_current_xact_id()`; 0 on SQLite, whose writers are
    # serialised): rows are sealed in (txid, id) order below the commit horizon, so a row
    # that commits after a seal never lands inside a sealed range (app/audit/seals.py).
    txid: Mapped[int] = mapped_column(BigInteger, server_default=FetchedValue())
    # The referrals a list page or an export batch disclosed, as 16-byte UUIDs back to back:
    # one row per page, not one per referral (SPEC §8; app/audit/disclosures.py).
    disclosed: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))


AUDIT_TABLE = cast(Table, AuditEvent.__table__)

# Audit rows are numbered by the database (their order); the API names them by UUIDs
# (SPEC §1), derived from that number: stable, unique, and no second key to store.
AUDIT_ID_NAMESPACE = uuid.UUID("6f0a3c52-8c1e-5b7a-9d1e-3a41f2b6c0d7")


def public_id(row_id: int) -> uuid.UUID:
    """The id the API shows for audit row `row_id`."""
    return uuid.uuid5(AUDIT_ID_NAMESPACE, f"audit-event:{row_id}")


class Caller(Protocol):
    """Who acted: an authenticated client (`app.auth.principal.Principal`) and its human."""

    @property
    def client_id(self) -> uuid.UUID: ...

    @property
    def actor(self) -> str | None: ...


def row(
    caller: Caller | None,
    action: str,
    outcome: str,
    *,
    referral_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    request_id: str | None = None,
    disclosed: bytes | None = None,
) -> dict[str, Any]:
    """An audit row's column values, for writers that insert many at once. `request_id`
    defaults to the current request's (a row written for another request names its own).
    No caller: the operator (CLI) or the service itself (the relay, the worker)."""
    return {
        "at": utcnow(),
        "client_id": caller.client_id if caller else None,
        "actor": caller.actor if caller else None,
        "action": action,
        "referral_id": referral_id,
        "target_id": target_id,
        "request_id": request_id or request_id_var.get(),
        "outcome": outcome,
        "disclosed": disclosed,
    }


# Set while an operation audited once as a whole (subject access) reads through functions
# that audit their own reads: those rows would count its parts as separate disclosures.
_covered: ContextVar[bool] = ContextVar("audit_covered", default=False)


@contextmanager
def covered() -> Iterator[None]:
    """Reads inside write no audit row of their own: the caller writes one for them all."""
    token = _covered.set(True)
    try:
        yield
    finally:
        _covered.reset(token)


def record(
    session: AsyncSession,
    caller: Caller | None,
    action: str,
    outcome: str,
    *,
    referral_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    disclosed: bytes | None = None,
) -> None:
    """An audit row in the caller's transaction: if it cannot be written, nothing is."""
    if _covered.get():
        return
    session.add(
        AuditEvent(
            **row(
                caller,
                action,
                outcome,
                referral_id=referral_id,
                target_id=target_id,
                disclosed=disclosed,
            )
        )
    )


def pack_ids(ids: Iterable[uuid.UUID]) -> bytes:
    """Referral ids as 16 bytes each, back to back: a page of 50 in 800 bytes."""
    return b"".join(i.bytes for i in ids)


def unpack_ids(packed: bytes) -> list[uuid.UUID]:
    return [uuid.UUID(bytes=packed[n : n + 16]) for n in range(0, len(packed), 16)]


async def record_apart(db: Database, rows: list[dict[str, Any]]) -> bool:
    """Rows (`row()`'s) in a transaction of their own, for a request whose own transaction
    was rolled back (a refusal) or wrote nothing (a replay). Best effort: a failure is
    logged, never raised, so the caller's answer stays what it was. True when written."""
    if not rows:
        return True
    try:
        async with db.transaction() as session:
            await session.execute(AUDIT_TABLE.insert(), rows)
    except Exception as exc:
        # The error's type only: a database error's text can carry the row's values.
        log.warning(
            "audit rows not written: %s %s (%s)",
            rows[0]["action"],
            rows[0]["outcome"],
            type(exc).__name__,
        )
        return False
    return True
