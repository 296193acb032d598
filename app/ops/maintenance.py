"""Batch jobs run by the CLI while the service runs: key rotation and retention.

Both work in small transactions (one batch each) with row locks that skip rows a request
holds, so they never block the API for long, and both can be interrupted and rerun.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from app.aftercare.service import follow_up_associated
from app.core import audit
from app.core.crypto import DataCipher
from app.core.db import Database
from app.referrals import keys
from app.referrals.domain import TERMINAL
from app.referrals.models import Referral, ReferralFollowUp
from app.rehab import service as rehab
from app.rights import erasure
from app.rights import service as rights
from app.webhooks.models import WebhookSubscription
from app.webhooks.signing import open_secret, seal_secret

BATCH = 500
Advance = Callable[[int], None]  # told the rows each finished batch examined (progress)


def _ignore(_: int) -> None:
    return None


@dataclass(slots=True)
class JobReport:
    examined: int = 0
    changed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"examined": self.examined, "changed": self.changed}


async def rotate_keys(
    db: Database, cipher: DataCipher, *, batch: int = BATCH, on_batch: Advance = _ignore
) -> JobReport:
    """Re-encrypt every referral still under a previous key, and recompute its NIK index;
    then the webhook subscriptions' signing secrets (without them, a previous key could
    not be dropped: the relay could no longer open the secrets to sign deliveries)."""
    report = await _rotate_referrals(db, cipher, batch=batch, on_batch=on_batch)
    texts = await _reseal_record_texts(db, cipher, batch=batch, on_batch=on_batch)
    report.examined += texts
    report.changed += texts
    notes = await _reseal_follow_up_notes(db, cipher, batch=batch)
    report.examined += notes
    report.changed += notes
    rewrapped = await _rewrap_referral_keys(db, cipher, batch=batch)
    report.examined += rewrapped
    report.changed += rewrapped
    sealed = await _seal_plain_texts(db, cipher, batch=batch)
    report.examined += sealed
    report.changed += sealed
    resealed = await _reseal_webhook_secrets(db, cipher)
    report.examined += resealed
    report.changed += resealed
    return report


async def _reseal_record_texts(
    db: Database, cipher: DataCipher, *, batch: int, on_batch: Advance
) -> int:
    """The rehabilitation record's free text (SPEC §10), a batch per table per transaction."""
    total = 0
    for _ in range(100_000):  # bounded: rows a request holds are skipped, then retried
        async with db.transaction() as session:
            changed = await rehab.reseal_texts(session, cipher, batch)
        on_batch(changed)
        total += changed
        if changed == 0:
            break
    return total


async def _reseal_follow_up_notes(db: Database, cipher: DataCipher, *, batch: int) -> int:
    """Follow-up notes under a previous key, sealed again under the current one."""
    prefix = f"v1.{cipher.key_id}.%"
    changed = 0
    while True:
        async with db.transaction() as session:
            rows = list(
                (
                    await session.execute(
                        select(ReferralFollowUp)
                        .where(
                            # `r1.` notes are under the referral's key: rewrapped, not resealed
                            ReferralFollowUp.note_sealed.like("v1.%"),
                            ReferralFollowUp.note_sealed.not_like(prefix),
                        )
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            for row in rows:
                assert row.note_sealed is not None
                associated = follow_up_associated(row.referral_id)
                note = cipher.decrypt(row.note_sealed, associated)
                row.note_sealed = cipher.encrypt(note, associated)
            changed += len(rows)
        if len(rows) < batch:
            return changed


async def _rewrap_referral_keys(db: Database, cipher: DataCipher, *, batch: int) -> int:
    """The referrals' text keys, wrapped again under the current data key."""
    total = 0
    for _ in range(100_000):  # bounded: rows a request holds are skipped, then retried
        async with db.transaction() as session:
            changed = await keys.rewrap(session, cipher, batch)
        total += changed
        if changed == 0:
            break
    return total


async def _seal_plain_texts(db: Database, cipher: DataCipher, *, batch: int) -> int:
    """Free text kept plain from before migration 0008 (transition notes, rectification
    details), sealed under its referral's key."""
    total = 0
    for _ in range(100_000):  # bounded: rows a request holds are skipped, then retried
        async with db.transaction() as session:
            changed = await keys.seal_plain(session, cipher, batch)
            changed += await rights.seal_plain(session, cipher, batch)
        total += changed
        if changed == 0:
            break
    return total


async def _reseal_webhook_secrets(db: Database, cipher: DataCipher) -> int:
    changed = 0
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(WebhookSubscription).order_by(WebhookSubscription.id).with_for_update()
            )
        ).scalars()
        for row in rows:
            for attribute in ("secret_encrypted", "previous_secret_encrypted"):
                sealed: str | None = getattr(row, attribute)
                if sealed is None or cipher.is_current(sealed):
                    continue
                secret = open_secret(cipher, row.id, sealed)
                setattr(row, attribute, seal_secret(cipher, row.id, secret))
                changed += 1
    return changed


async def _rotate_referrals(
    db: Database, cipher: DataCipher, *, batch: int, on_batch: Advance
) -> JobReport:
    report = JobReport()
    prefix = f"v1.{cipher.key_id}.%"
    after = uuid.UUID(int=0)
    passes = 0
    while True:
        async with db.transaction() as session:
            rows = list(
                (
                    await session.execute(
                        select(Referral)
                        .where(Referral.id > after, Referral.sensitive_data.not_like(prefix))
                        .order_by(Referral.id)
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            for referral in rows:
                sensitive = cipher.decrypt_json(referral.sensitive_data, referral.id.bytes)
                referral.sensitive_data = cipher.encrypt_json(sensitive, referral.id.bytes)
                nik = sensitive.get("nik")
                referral.nik_index = cipher.blind_index(nik) if nik else None
            report.examined += len(rows)
            report.changed += len(rows)
        on_batch(len(rows))
        if len(rows) < batch:
            # Rows skipped because a request held them are caught by the next pass.
            async with db.read_session() as session:
                left = (
                    await session.execute(
                        select(Referral.id).where(Referral.sensitive_data.not_like(prefix)).limit(1)
                    )
                ).scalar_one_or_none()
            passes += 1
            if left is None or passes >= 20:
                return report
            after = uuid.UUID(int=0)
        else:
            after = rows[-1].id


async def anonymise_ended(
    db: Database,
    cipher: DataCipher,
    now: dt.datetime,
    *,
    retention_days: int,
    dry_run: bool,
    batch: int = BATCH,
    on_batch: Advance = _ignore,
) -> JobReport:
    """Erase identity from referrals that ended more than RUJUKAN_RETENTION_DAYS ago.

    Kept: status, dates, PAS categories, province/regency, sex, birth year, history and
    audit rows (they hold no identity). Erased: name, NIK and its index, phone, guardian,
    address, district, needs (summary and health), the case reference.
    """
    cutoff = now - dt.timedelta(days=retention_days)
    report = JobReport()
    query = (
        select(Referral)
        .where(
            Referral.status.in_([s.value for s in TERMINAL]),
            Referral.updated_at < cutoff,
            Referral.anonymised_at.is_(None),
        )
        .order_by(Referral.id)
        .limit(batch)
    )
    after = uuid.UUID(int=0)
    while True:
        async with db.transaction() as session:
            rows = list(
                (
                    await session.execute(
                        query.where(Referral.id > after).with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            report.examined += len(rows)
            if not dry_run and rows:
                # The same erasure as a consent withdrawal, plus the identity (SPEC §12).
                await erasure.erase(session, rows, cipher, now, identity=True)
                for referral in rows:
                    referral.data_quality_flags = []
                    referral.anonymised_at = now
                    report.changed += 1
                    audit.record(
                        session, None, "referral.anonymise", "success", referral_id=referral.id
                    )
        on_batch(len(rows))
        if len(rows) < batch:
            return report
        after = rows[-1].id
