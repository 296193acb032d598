"""Pure parts of the portal queries: stored PAS bits, filter canonical form, cursors."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest

from app.cursor import CursorCodec
from app.errors import ProblemError
from app.referrals.cursor import Position, cursor_scope, decode_cursor, encode_cursor
from app.referrals.queries import ListSort, ReferralFilters
from app.referrals.records import PAS_BITS, pas_mask


def test_pas_bits_are_the_stored_ones() -> None:
    # Rows store these bits: a change here needs a data migration, not an edit.
    assert PAS_BITS == {
        "anak_rentan": 1,
        "penyandang_disabilitas": 2,
        "lansia_terlantar": 4,
        "masyarakat_berpendapatan_rendah": 8,
        "korban_bencana": 16,
        "komunitas_adat_terpencil": 32,
        "warga_binaan": 64,
        "korban_kekerasan": 128,
        "korban_napza_hiv": 256,
        "kelompok_bermasalah_sosial": 512,
        "perempuan_rentan": 1024,
        "fakir_miskin": 2048,
    }
    assert pas_mask(["warga_binaan", "korban_napza_hiv"]) == 320
    assert pas_mask([]) == 0


def test_canonical_filters_ignore_order_and_repeats() -> None:
    a = ReferralFilters(status=("received", "accepted"), province_code=("31",))
    b = ReferralFilters(status=("accepted", "received", "accepted"), province_code=("31",))
    assert a.canonical() == b.canonical()
    assert a.canonical() != ReferralFilters(status=("received",)).canonical()
    day = ReferralFilters(release_date_from=dt.date(2026, 1, 1))
    assert '"release_date_from":"2026-01-01"' in day.canonical()


def test_cursor_round_trip_and_binding() -> None:
    codec = CursorCodec(b"k" * 32)
    client = uuid.uuid4()
    scope = cursor_scope(client, ListSort.created_desc, ReferralFilters().canonical())
    position = Position(dt.datetime(2026, 11, 30, 4, 30, 0, 123456, tzinfo=dt.UTC), uuid.uuid4())
    token = encode_cursor(codec, scope, position)
    assert decode_cursor(codec, scope, ListSort.created_desc, token) == position
    release = cursor_scope(client, ListSort.release_asc, ReferralFilters().canonical())
    day = Position(dt.date(2026, 11, 30), uuid.uuid4())
    assert (
        decode_cursor(codec, release, ListSort.release_asc, encode_cursor(codec, release, day))
        == day
    )
    others = [
        cursor_scope(uuid.uuid4(), ListSort.created_desc, ReferralFilters().canonical()),
        cursor_scope(client, ListSort.created_asc, ReferralFilters().canonical()),
        cursor_scope(client, ListSort.created_desc, ReferralFilters(nik="1" * 16).canonical()),
    ]
    for other in others:
        with pytest.raises(ProblemError) as raised:
            decode_cursor(codec, other, ListSort.created_desc, token)
        assert raised.value.code == "INVALID_CURSOR"
    # The filters are bound by digest: a NIK filter never appears in the cursor.
    nik_scope = cursor_scope(
        client, ListSort.created_desc, ReferralFilters(nik="3171011203850001").canonical()
    )
    assert "3171011203850001" not in encode_cursor(codec, nik_scope, position)
    raw = encode_cursor(codec, nik_scope, position)
    assert b"3171011203850001" not in base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
