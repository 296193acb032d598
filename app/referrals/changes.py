"""What every committed change of a referral writes beside it (SPEC §4, §7, §8): its
history entry, the outbox rows of the change events it emits, its audit row.

Transitions and intake both describe a change as a `Change` and record it in a
`ChangeLog`; the store writes a log's rows set-based, in the transaction of the change
(`app/referrals/store.py`: one statement per table, however many changes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.auth.principal import Principal
from app.core import audit
from app.core.clock import Clock
from app.referrals.domain import ChangeType, CustodyStatus, responsible_agency
from app.referrals.models import Referral


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a referral, as its history entry names it. `emits` are the change
    events (the domain's answer: `domain.change_events`)."""

    from_status: str | None
    emits: tuple[ChangeType, ...]
    action: str | None = None  # a transition's
    event_type: str | None = None  # a release event's
    event_id: str | None = None
    event_outcome: str | None = None
    reason_code: str | None = None
    outcome: str | None = None
    # A transition's note, kept sealed in `referral_texts` (app/referrals/keys.py).
    note_id: uuid.UUID | None = None
    changed_fields: tuple[str, ...] = ()
    # A transition or a record is work on the case (SPEC §7 `stalled`); a note is not.
    counts_as_activity: bool = True
    # The record a record's events are about, for their `data` (`follow_up_id`, ...).
    about: tuple[tuple[str, str], ...] = ()
    # An event loaded by `rujukan import`: it fires no moment already past (SPEC §7).
    backfill: bool = False
    # The audience of an event about a note (`kemensos`: only those who may read the note).
    audience: str | None = None


@dataclass(slots=True)
class ChangeLog:
    """The rows of the changes of one transaction, gathered for set-based writes."""

    history: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self,
        referral: Referral,
        change: Change,
        principal: Principal,
        clock: Clock,
        *,
        audit_action: str,
        audit_outcome: str,
        request_id: str | None = None,
    ) -> None:
        """The history entry, the outbox rows and the audit row of `change` at
        `clock.now`, as the referral is now (after it); the referral's timeline stamped
        (`stamp`)."""
        at = clock.now
        stamp(referral, change, at)
        self.history.append(
            {
                "referral_id": referral.id,
                "at": at,
                "action": change.action,
                "event_type": change.event_type,
                "event_id": change.event_id,
                "event_outcome": change.event_outcome,
                "from_status": change.from_status,
                "to_status": referral.status,
                "custody_status": referral.custody_status,
                "client_id": principal.client_id,
                "actor": principal.actor,
                "reason_code": change.reason_code,
                "outcome": change.outcome,
                "note": None,
                "note_id": change.note_id,
                "sentra_code": referral.sentra_code,
                "changed_fields": list(change.changed_fields),
            }
        )
        for event_type in change.emits:
            row = outbox_row(referral, event_type, clock, change.from_status, **dict(change.about))
            row["audience"] = change.audience
            self.outbox.append(row)
        self.audit.append(
            audit.row(
                principal,
                audit_action,
                audit_outcome,
                referral_id=referral.id,
                request_id=request_id,
            )
        )


# The first time a referral entered these states: its durations (SPEC §11).
_FIRST_ENTERED = {
    "accepted": "accepted_at",
    "assigned": "assigned_at",
    "in_service": "in_service_at",
}


def stamp(referral: Referral, change: Change, at: datetime) -> None:
    """What every change does to the referral's timeline: the first time it entered its
    new state; the last activity when people worked on it (a transition or a record, not a
    prison's event); and the moment scheduler looks at it again (`next_moment_at`), so a
    moment the change made due fires without waiting for the next one to come."""
    if referral.status != change.from_status:
        column = _FIRST_ENTERED.get(referral.status)
        if column is not None and getattr(referral, column) is None:
            setattr(referral, column, at)
    if change.action is not None and change.counts_as_activity:
        referral.last_activity_at = at
    if not change.backfill:
        # A change through the API: moments already past fire now (SPEC §7), also for a
        # referral an import or an upgrade had exempted.
        referral.moments_from = None
    referral.next_moment_at = at


def outbox_row(
    referral: Referral,
    event_type: str,
    clock: Clock,
    previous_status: str | None,
    **about: str,
) -> dict[str, Any]:
    """An outbox row's column values (`txid` is the database's): a thin CloudEvent payload,
    ids and statuses only, never personal data (SPEC §7), as of `clock.now`."""
    at = clock.now
    # The responsibility on the local day of the event, as the detail showed it then: the
    # stored `handover_date` already holds a `supervision.ended` event's end date.
    agency = responsible_agency(
        CustodyStatus(referral.custody_status), referral.handover_date, clock.today
    )
    data: dict[str, Any] = {
        "referral_id": str(referral.id),
        "status": referral.status,
        "previous_status": previous_status,
        "outcome": referral.outcome,
        "custody_status": referral.custody_status,
        "responsible_agency": agency,
        "version": referral.version,
        "occurred_at": at.isoformat(),
        **about,  # the id of the record the event is about (`follow_up_id`, ...)
    }
    return {
        "event_id": uuid.uuid4(),
        "type": str(event_type),
        "referral_id": referral.id,
        "facility_code": referral.facility_code,
        "sentra_code": referral.sentra_code,
        "bapas_code": referral.bapas_code,
        "audience": None,
        "data": data,
        "occurred_at": at,
    }
