"""Who was shown which referral, from the audit log (SPEC §8, §12): the scope of a breach
notice for a client, and the reads of a person's referrals for a subject access.

A read of one referral (detail, history, a record, a transition's answer) names it in
`referral_id`; a list page, an export batch and a subject access name theirs in
`disclosed`, 16 bytes per referral. Only answered requests (`success`) disclosed anything;
the thin change feed carries no personal data and is not counted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ColumnElement, LargeBinary, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.core.audit import AUDIT_TABLE, unpack_ids

# How each disclosing action showed referrals (`via`).
VIA_OF_ACTION = {
    "referral.read": "detail",
    "referral.history.read": "history",
    "referrals.list": "list",
    "referrals.export": "export",
    "referrals.export.continued": "export",
    "subjects.access": "subject_access",
}
# Actions that answer with the referral's detail (transitions, §12 writes).
ANSWERED_WITH_DETAIL = frozenset(
    {
        "referral.accept",
        "referral.reject",
        "referral.assign",
        "referral.return",
        "referral.start_service",
        "referral.hold",
        "referral.resume",
        "referral.close",
        "referral.cancel",
    }
)
VIA_ORDER = ("detail", "list", "export", "history", "record", "subject_access")


def via_of(action: str) -> str | None:
    """How an action disclosed referrals, None when it disclosed none. A §10-11 record's
    read (`referral.<record>.read`) is `record`."""
    if action in VIA_OF_ACTION:
        return VIA_OF_ACTION[action]
    if action in ANSWERED_WITH_DETAIL:
        return "detail"
    if action.startswith("referral.") and action.endswith(".read"):
        return "record"
    return None


@dataclass(slots=True)
class Seen:
    """One referral as one client saw it: when first and last, how, how many times."""

    first_at: datetime
    last_at: datetime
    via: set[str] = field(default_factory=set)
    count: int = 0

    def add(self, at: datetime, via: str) -> None:
        self.first_at = min(self.first_at, at)
        self.last_at = max(self.last_at, at)
        self.via.add(via)
        self.count += 1

    def vias(self) -> list[str]:
        return [v for v in VIA_ORDER if v in self.via]


def _disclosing() -> ColumnElement[bool]:
    c = AUDIT_TABLE.c
    return (c.outcome == "success") & or_(c.disclosed.is_not(None), c.referral_id.is_not(None))


def aggregate(
    rows: Iterable[Any], only: frozenset[uuid.UUID] | None = None
) -> dict[tuple[uuid.UUID, uuid.UUID | None], Seen]:
    """(referral, client) → what the rows say that client was shown (pure)."""
    seen: dict[tuple[uuid.UUID, uuid.UUID | None], Seen] = {}
    for row in rows:
        via = via_of(row.action)
        if via is None:
            continue
        ids = unpack_ids(row.disclosed) if row.disclosed else []
        if row.referral_id is not None and not row.disclosed:
            ids = [row.referral_id]
        for referral_id in ids:
            if only is not None and referral_id not in only:
                continue
            key = (referral_id, row.client_id)
            if key not in seen:
                seen[key] = Seen(row.at, row.at)
            seen[key].add(row.at, via)
    return seen


class holds_bytes(FunctionElement[bool]):  # noqa: N801 (an SQL expression)
    """`haystack` contains the bytes `needle`: `position(… IN …)` on PostgreSQL, `instr`
    on SQLite (both compare bytes)."""

    type = Boolean()
    inherit_cache = True


@compiles(holds_bytes, "postgresql")
def _holds_bytes_pg(element: holds_bytes, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"(position({compiler.process(needle, **kw)} IN {compiler.process(haystack, **kw)}) > 0)"


@compiles(holds_bytes)
def _holds_bytes_other(element: holds_bytes, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"(instr({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)}) > 0)"


_COLUMNS = (
    AUDIT_TABLE.c.at,
    AUDIT_TABLE.c.client_id,
    AUDIT_TABLE.c.action,
    AUDIT_TABLE.c.referral_id,
    AUDIT_TABLE.c.disclosed,
)


async def shown_to(
    session: AsyncSession,
    client_id: uuid.UUID,
    from_: datetime | None,
    to: datetime | None,
) -> dict[uuid.UUID, Seen]:
    """Every referral `client_id` was shown in [from_, to) (breach scope)."""
    c = AUDIT_TABLE.c
    stmt = select(*_COLUMNS).where(c.client_id == client_id, _disclosing())
    if from_ is not None:
        stmt = stmt.where(c.at >= from_)
    if to is not None:
        stmt = stmt.where(c.at < to)
    rows = (await session.execute(stmt.order_by(c.id))).all()
    return {referral: seen for (referral, _), seen in aggregate(rows).items()}


async def reads_of(
    session: AsyncSession, referral_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID | None], Seen]:
    """Every showing of these referrals to any client (subject access). A page's packed ids
    are searched in the database (`instr`/`position` over the bytes); a match at an offset
    that is not a whole id is dropped when unpacked."""
    c = AUDIT_TABLE.c
    if not referral_ids:
        return {}
    conditions: list[ColumnElement[bool]] = [c.referral_id.in_(referral_ids)]
    conditions += [holds_bytes(c.disclosed, literal(i.bytes, LargeBinary)) for i in referral_ids]
    stmt = select(*_COLUMNS).where(c.outcome == "success", or_(*conditions)).order_by(c.id)
    rows = (await session.execute(stmt)).all()
    return aggregate(rows, frozenset(referral_ids))
