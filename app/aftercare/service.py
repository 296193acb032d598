"""Follow-ups of a completed referral (SPEC §11): recorded in the unit of work of the
request, with the referral's history, the `referral.follow_up_recorded` event and the
audit row written beside them (`ChangeLog`)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.aftercare import rules
from app.aftercare.schemas import FollowUpCreate, FollowUpOut
from app.auth.principal import Principal
from app.auth.roles import REFERRAL_READERS
from app.core import audit
from app.core.clock import Clock
from app.core.crypto import DataCipher
from app.core.errors import ProblemError, validation_failed
from app.core.i18n import msg
from app.referrals import keys, store
from app.referrals.changes import Change, ChangeLog
from app.referrals.domain import ChangeType
from app.referrals.keys import Sealer, TextErasedError
from app.referrals.models import Referral, ReferralFollowUp


def follow_up_associated(referral_id: uuid.UUID) -> bytes:
    # Binds a sealed note to its referral: it cannot be moved to another one.
    return b"follow-up/" + referral_id.bytes


def _open_note(row: ReferralFollowUp, referral: Referral, cipher: Sealer) -> str | None:
    if row.note_sealed is None:
        return None
    try:
        return cipher.decrypt(row.note_sealed, follow_up_associated(referral.id)).decode()
    except TextErasedError:
        return None


def present(row: ReferralFollowUp, referral: Referral, cipher: Sealer) -> FollowUpOut:
    note = _open_note(row, referral, cipher)
    return FollowUpOut(
        id=row.id,
        number=row.number,
        due_on=row.due_on,
        done_on=row.done_on,
        contact=rules.Contact(row.contact),
        housing=rules.Housing(row.housing),
        work=rules.Work(row.work),
        family=rules.Family(row.family),
        returned_to_custody=row.returned_to_custody,
        note=note,
        client=row.client_id,
        actor=row.actor,
        created_at=row.created_at,
    )


async def _load(
    session: AsyncSession, principal: Principal, referral_id: str, *, lock: bool = False
) -> Referral:
    """The referral, if the caller may read it (404; any id for a role that reads none),
    and only for Kemensos or its sentra: follow-ups stay with Kemensos (SPEC §10, 403)."""
    if principal.role not in REFERRAL_READERS:
        raise store.not_found()
    referral = await store.load_visible(session, principal, referral_id, lock=lock)
    own = referral.sentra_code is not None and referral.sentra_code in principal.sentra_codes
    if not rules.may_record(principal.role, own):
        raise ProblemError(
            "ROLE_NOT_PERMITTED",
            msg(
                "Follow-ups are kept by Kemensos and the sentra the referral was last assigned to."
            ),
        )
    return referral


async def record_follow_up(
    session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: FollowUpCreate,
    clock: Clock,
    cipher: DataCipher,
) -> FollowUpOut:
    """Checks in the order of SPEC §10 (the body was validated by the route): visibility
    (404), role (403), state (409), the date (422)."""
    referral = await _load(session, principal, referral_id, lock=True)
    refused = rules.refusal(referral.status, referral.outcome, referral.follow_ups_done)
    if refused is not None:
        raise ProblemError(refused)
    keys.refuse_if_erased(referral)
    sealer = await keys.text_cipher(session, cipher, referral.id, create=body.note is not None)
    assert referral.closed_at is not None  # a completed close has its time
    closed_on = referral.closed_at.astimezone(clock.tz).date()
    errors = rules.date_errors(body.done_on, closed_on, clock.today)
    if errors:
        raise validation_failed(errors)
    number = referral.follow_ups_done + 1
    row = ReferralFollowUp(
        referral_id=referral.id,
        number=number,
        due_on=rules.due_dates(closed_on)[number - 1],
        done_on=body.done_on,
        contact=body.contact.value,
        housing=body.housing.value,
        work=body.work.value,
        family=body.family.value,
        returned_to_custody=body.returned_to_custody,
        note_sealed=(
            sealer.encrypt(body.note.encode(), follow_up_associated(referral.id))
            if body.note is not None
            else None
        ),
        client_id=principal.client_id,
        actor=principal.actor,
        created_at=clock.now,
    )
    session.add(row)
    await session.flush()  # the row's id, for the event
    referral.follow_ups_done = number
    referral.next_follow_up_due = rules.next_due(closed_on, number)
    # The detail changed (`next_follow_up_due`): a new version, as for any change.
    referral.version += 1
    referral.updated_at = clock.now
    log = ChangeLog()
    log.record(
        referral,
        Change(
            from_status=referral.status,
            emits=(ChangeType.follow_up_recorded,),
            action="follow_up",
            about=(("follow_up_id", str(row.id)),),
        ),
        principal,
        clock,
        audit_action="referral.follow_up",
        audit_outcome="success",
    )
    await store.write_changes(session, log)
    return present(row, referral, sealer)


async def list_follow_ups(
    session: AsyncSession, principal: Principal, referral_id: str, cipher: DataCipher
) -> list[FollowUpOut]:
    referral = await _load(session, principal, referral_id)
    sealer = await keys.text_cipher(session, cipher, referral.id)
    rows = (
        await session.execute(
            select(ReferralFollowUp)
            .where(ReferralFollowUp.referral_id == referral.id)
            .order_by(ReferralFollowUp.number)
        )
    ).scalars()
    audit.record(session, principal, "referral.follow_ups.read", "success", referral_id=referral.id)
    return [present(row, referral, sealer) for row in rows]
