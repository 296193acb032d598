from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement, false, text

from app.core.clock import utcnow
from app.core.db import Base, BigIntPK, JSONType, UTCDateTime


class Referral(Base):
    """One custody episode (facility, case_ref) handed from the prison to Kemensos.

    Query columns are real columns (indexed); the rest of the case data lives in
    `case_data` in the event's own shape, and the most sensitive fields (NIK, phone,
    guardian, needs.health) only in `sensitive_data`, encrypted (see app/crypto.py).
    """

    __tablename__ = "referrals"
    # The portal's keyset pages: (sort column, id), alone or behind an equality filter.
    # On PostgreSQL the migrations add a GIN index on the word prefixes of the name for
    # the name search (0002, `rujukan_name_prefixes(name_search)`; see queries.name_matches).
    __table_args__ = (
        UniqueConstraint("facility_code", "case_ref"),
        # PostgreSQL: INCLUDE makes the newest-first walks index-only for the usual filters
        # (see queries.page_query, a deferred join).
        Index(
            None,
            "created_at",
            "id",
            postgresql_include=[
                "status",
                "province_code",
                "facility_code",
                "sentra_code",
                "release_date",
                "pas_mask",
                "name_search",
            ],
        ),
        Index(None, "updated_at", "id"),
        Index(None, "release_date", "id"),
        Index(None, "status", "created_at", "id"),
        Index(
            None,
            "province_code",
            "created_at",
            "id",
            postgresql_include=["status", "release_date", "pas_mask"],
        ),
        # A release-date window within a province (queries.page_query, "window first"):
        # the window's entries, not the province's newest-first walk down to the window.
        Index(
            None,
            "province_code",
            "release_date",
            "id",
            postgresql_include=["created_at", "updated_at", "pas_mask", "status"],
        ),
        Index(None, "facility_code", "created_at", "id"),
        Index(None, "sentra_code", "created_at", "id"),
        Index(None, "bapas_code", "created_at", "id"),
        Index(None, "nik_index"),
        # Covers the dashboard's counts by status and province (an index-only scan).
        Index(None, "status", "province_code"),
        # The moment scheduler's queue (app/referrals/moments.py): only referrals with a
        # moment still to come are in it, read in time order.
        Index(
            "ix_referrals_next_moment_at",
            "next_moment_at",
            postgresql_where=text("next_moment_at IS NOT NULL"),
            sqlite_where=text("next_moment_at IS NOT NULL"),
        ),
        Index(
            "ix_referrals_next_follow_up_due",
            "next_follow_up_due",
            postgresql_where=text("next_follow_up_due IS NOT NULL"),
            sqlite_where=text("next_follow_up_due IS NOT NULL"),
        ),
        # A sentra's forecast (SPEC §11): its coverage's referrals by regency, the handover
        # dates ahead and the acceptance history read from the index alone.
        Index(
            None,
            "regency_code",
            "created_at",
            postgresql_include=["handover_date", "status", "accepted_at"],
        ),
        # The durations (SPEC §11): every step's times from the index alone.
        Index(
            "ix_referrals_durations",
            "accepted_at",
            postgresql_include=[
                "created_at",
                "assigned_at",
                "in_service_at",
                "closed_at",
                "handover_date",
                "sentra_code",
                "province_code",
                "pas_mask",
            ],
            postgresql_where=text("accepted_at IS NOT NULL"),
            sqlite_where=text("accepted_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    facility_code: Mapped[str] = mapped_column(String(32))
    case_ref: Mapped[str] = mapped_column(String(64))
    origin_client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))

    status: Mapped[str] = mapped_column(String(16))
    custody_status: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(Integer, default=1)
    sentra_code: Mapped[str | None] = mapped_column(String(32))
    # The supervising Bapas of a supervised release (its visibility, filters, groups).
    bapas_code: Mapped[str | None] = mapped_column(String(32))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32))
    held_from_status: Mapped[str | None] = mapped_column(String(16))

    full_name: Mapped[str] = mapped_column(String(200))
    name_search: Mapped[str] = mapped_column(String(400))
    nik_index: Mapped[str | None] = mapped_column(String(64))
    nik_masked: Mapped[str | None] = mapped_column(String(16))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(8))
    province_code: Mapped[str] = mapped_column(String(2))
    regency_code: Mapped[str | None] = mapped_column(String(4))
    district_code: Mapped[str | None] = mapped_column(String(6))
    release_type: Mapped[str] = mapped_column(String(32))
    release_date: Mapped[date] = mapped_column(Date)
    supervision_end_date: Mapped[date | None] = mapped_column(Date)
    handover_date: Mapped[date] = mapped_column(Date)
    # A `supervision.ended` event came: the supervision end date is the prison's last word.
    supervision_ended: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The PAS categories as bits (records.pas_mask): a filter the covering indexes answer.
    # referral_pas_categories holds the same, one row per category, for grouping.
    pas_mask: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The PPKS-26 types as bits (bit n-1 for type n): filter and group by type (SPEC §5).
    ppks_mask: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Rectification requests still open (SPEC §12): intake looks for the fields they name
    # among an event's changes only when this is not 0, so other events cost nothing more.
    open_rectifications: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    case_data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    sensitive_data: Mapped[str] = mapped_column(Text)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SPEC §12: when the person withdrew consent (their word, as recorded) and the
    # reference of the evidence; from then on events are recorded but not applied.
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_withdrawal_ref: Mapped[str | None] = mapped_column(String(128))
    data_quality_flags: Mapped[list[str]] = mapped_column(JSONType, default=list)

    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the referral first entered each state (SPEC §11 durations); `closed_at` is
    # also its one close (closed is terminal).
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    in_service_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last transition or rehabilitation/aftercare record, notes aside: a referral
    # with none for RUJUKAN_STALL_DAYS is stalled (SPEC §7).
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the moment scheduler must look at this referral next (null: no moment to
    # come); every change sets it to the change's time (app/referrals/changes.py).
    next_moment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Moments due before this time never fire: set for referrals created by `rujukan
    # import` and for those stored before moments existed (SPEC §7).
    moments_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Aftercare (SPEC §11): the earliest follow-up still due, and how many were recorded.
    next_follow_up_due: Mapped[date | None] = mapped_column(Date)
    follow_ups_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferralPasCategory(Base):
    """One row per (referral, PAS category): filters and per-category stats use an index."""

    __tablename__ = "referral_pas_categories"
    __table_args__ = (Index(None, "code", "referral_id"),)

    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(40), primary_key=True)


class ReferralHistory(Base):
    """Append-only: every applied event and every transition of a referral."""

    __tablename__ = "referral_history"
    __table_args__ = (Index(None, "referral_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str | None] = mapped_column(String(32))
    event_type: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(100))
    event_outcome: Mapped[str | None] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    custody_status: Mapped[str | None] = mapped_column(String(24))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    actor: Mapped[str | None] = mapped_column(String(128))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32))
    # Plain only in entries written before migration 0008; since then a transition's note
    # lives in `referral_texts` (`note_id`), where erasure can reach it.
    note: Mapped[str | None] = mapped_column(Text)
    note_id: Mapped[uuid.UUID | None] = mapped_column()
    sentra_code: Mapped[str | None] = mapped_column(String(32))
    changed_fields: Mapped[list[str]] = mapped_column(JSONType, default=list)


class ReferralFollowUp(Base):
    """An aftercare follow-up (SPEC §11): the earliest due one it satisfied is `number`."""

    __tablename__ = "referral_follow_ups"
    __table_args__ = (UniqueConstraint("referral_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"))
    number: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    done_on: Mapped[date] = mapped_column(Date)
    contact: Mapped[str] = mapped_column(String(16))
    housing: Mapped[str] = mapped_column(String(16))
    work: Mapped[str] = mapped_column(String(16))
    family: Mapped[str] = mapped_column(String(16))
    returned_to_custody: Mapped[bool] = mapped_column(Boolean)
    # Free text about the person: encrypted under the data key (app/core/crypto.py),
    # erased with the referral's other personal data.
    note_sealed: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    actor: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferralMoment(Base):
    """A moment that fired (SPEC §7): the key makes it fire once per referral and
    occurrence, however many schedulers run (`occurrence`: "" for the once-only moments,
    the follow-up's number, the stalled period's start)."""

    __tablename__ = "referral_moments"
    __table_args__ = (UniqueConstraint("referral_id", "moment", "occurrence"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"))
    moment: Mapped[str] = mapped_column(String(40))
    occurrence: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)


class current_txid(FunctionElement[int]):  # noqa: N801 (an SQL function name)
    """The writing transaction's id: `pg_current_xact_id()` as bigint; 0 on SQLite.

    See `app/webhooks/outbox.py` for why the feed and the relay order events by it.
    """

    type = BigInteger()
    inherit_cache = True


@compiles(current_txid, "postgresql")
def _txid_postgresql(element: current_txid, compiler: SQLCompiler, **kw: Any) -> str:
    return "(pg_current_xact_id()::text::bigint)"


@compiles(current_txid)
def _txid_other(element: current_txid, compiler: SQLCompiler, **kw: Any) -> str:
    return "0"  # SQLite serialises writers: commit order is id order


class OutboxEvent(Base):
    """A referral change, written in the same transaction as the change (transactional outbox).

    `data` is thin (ids and statuses, no personal data); facility and sentra codes are
    kept so that the feed and the relay can apply each subscriber's visibility.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(None, "referral_id"),
        Index(None, "txid", "id"),
        Index(None, "facility_code", "txid", "id"),
        Index(None, "sentra_code", "txid", "id"),
        Index(None, "bapas_code", "txid", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(40))
    referral_id: Mapped[uuid.UUID] = mapped_column()
    facility_code: Mapped[str] = mapped_column(String(32))
    sentra_code: Mapped[str | None] = mapped_column(String(32))
    bapas_code: Mapped[str | None] = mapped_column(String(32))
    # `kemensos`: an event about a note only Kemensos and the assigned sentra may read
    # (SPEC §10); null: every party that reads the referral.
    audience: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by the database, never by the application: the id of the transaction that wrote
    # the row, so that readers can tell which rows can no longer be joined by earlier ones.
    txid: Mapped[int] = mapped_column(BigInteger, server_default=current_txid())


class ReferralKey(Base):
    """The referral's own key for its free text (SPEC §12), wrapped by the data key and
    bound to the referral. Erasure deletes the row: every text sealed under it, wherever
    it lies, is unreadable from then on."""

    __tablename__ = "referral_keys"

    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), primary_key=True
    )
    wrapped: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferralText(Base):
    """A free text that would otherwise sit in an append-only row (a transition's note in
    history): kept here, sealed under the referral's key, so that erasure removes the
    ciphertext too while the history entry stays as written."""

    __tablename__ = "referral_texts"
    __table_args__ = (Index(None, "referral_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    sealed: Mapped[str] = mapped_column(Text)
