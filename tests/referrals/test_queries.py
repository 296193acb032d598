"""Pure parts of the portal queries: stored PAS bits, filter canonical form, cursors, and
the SQL the name search and release-date windows compile to."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.cursor import CursorCodec
from app.core.errors import ProblemError
from app.referrals.cursor import Position, cursor_scope, decode_cursor, encode_cursor
from app.referrals.queries import (
    NAME_PREFIXES_FUNCTION,
    WINDOW_FIRST_MAX_DAYS,
    ListSort,
    QueryContext,
    ReferralFilters,
    page_query,
    window_first,
)
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


def _sql(filters: ReferralFilters, dialect: Any, sort: ListSort = ListSort.created_desc) -> str:
    principal = Principal(uuid.uuid4(), "t", Role.kemensos, frozenset(), frozenset())
    query = page_query(
        filters, QueryContext(principal, dt.date(2026, 11, 30), 14), sort, after=None, limit=51
    )
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def test_name_search_sql_per_dialect() -> None:
    filters = ReferralFilters(name_words=("dewi", "su", "putr"))
    pg = _sql(filters, postgresql.asyncpg.dialect())
    # Every word: a word-start test; words of 3+ characters: the prefix index, exactly.
    assert pg.count("strpos(' ' || referrals.name_search, ' ' || ") == 3
    assert f"{NAME_PREFIXES_FUNCTION}(referrals.name_search) @> CAST(ARRAY['dewi', 'putr']" in pg
    assert "LIKE" not in pg
    lite = _sql(filters, sqlite.aiosqlite.dialect())
    assert lite.count("(' ' || referrals.name_search) LIKE ('% ' || ") == 3
    assert NAME_PREFIXES_FUNCTION not in lite
    # Only short words: no index condition (a walk, which such common prefixes suit).
    short = _sql(ReferralFilters(name_words=("ab",)), postgresql.asyncpg.dialect())
    assert NAME_PREFIXES_FUNCTION not in short


def test_name_search_is_cached_by_shape_with_its_words_bound() -> None:
    """Two searches with as many words share one compiled statement, each with its words."""
    dialect = postgresql.asyncpg.dialect()
    a = page_query_for(("siti",))
    b = page_query_for(("budi",))
    key_a, key_b = a._generate_cache_key(), b._generate_cache_key()
    assert key_a is not None and key_b is not None
    assert key_a.key == key_b.key
    assert key_a.key != page_query_for(("siti", "nur"))._generate_cache_key().key
    compiled = a.compile(dialect=dialect, cache_key=key_a)
    assert "siti" not in compiled.string
    params_a = compiled.construct_params(extracted_parameters=key_a.bindparams)
    params_b = compiled.construct_params(extracted_parameters=key_b.bindparams)
    assert "siti" in params_a.values() and "budi" in params_b.values()
    assert "siti" not in params_b.values()


def page_query_for(words: tuple[str, ...]) -> Any:
    principal = Principal(uuid.uuid4(), "t", Role.kemensos, frozenset(), frozenset())
    ctx = QueryContext(principal, dt.date(2026, 11, 30), 14)
    return page_query(
        ReferralFilters(name_words=words), ctx, ListSort.created_desc, after=None, limit=51
    )


def test_window_first_only_for_provinces_and_a_bounded_window() -> None:
    day = dt.date(2026, 1, 1)
    window = ReferralFilters(
        province_code=("32",), release_date_from=day, release_date_to=day + dt.timedelta(90)
    )
    assert window_first(window, ListSort.created_desc)
    assert window_first(window, ListSort.updated_desc)
    assert not window_first(window, ListSort.release_asc)  # that index walks in order
    assert not window_first(
        ReferralFilters(release_date_from=day, release_date_to=day), ListSort.created_desc
    )
    assert not window_first(
        ReferralFilters(province_code=("32",), release_date_from=day), ListSort.created_desc
    )
    wide = ReferralFilters(
        province_code=("32",),
        release_date_from=day,
        release_date_to=day + dt.timedelta(WINDOW_FIRST_MAX_DAYS + 1),
    )
    assert not window_first(wide, ListSort.created_desc)
    sql = _sql(window, postgresql.asyncpg.dialect())
    assert "WITH release_window AS MATERIALIZED" in sql
    assert "ORDER BY release_window.created_at DESC, release_window.id DESC" in sql
    assert "MATERIALIZED" not in _sql(window, sqlite.aiosqlite.dialect())
