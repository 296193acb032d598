"""Bahasa Indonesia for every detail text a client can receive (SPEC §9).

`INDONESIAN` maps each English template given to `msg()` anywhere in app/ to its
Indonesian; the `{fields}` are the same in both. `PYDANTIC` does the same for pydantic's
own error types, by type, from the error's context. The codes' titles and meanings are in
the catalogue itself (app/core/errors.py). tests/core/test_i18n.py fails when a template
has no entry here, or its fields differ.

Words follow the officers' usage (DOMAIN.md): a person "keluar dari UPT" (not "bebas")
on a supervised release, and is then a klien of the Bapas (pembimbingan Bapas); a
"klien" of this API is always called "klien API" where it could be read as a person.
Field names, codes and enum values stay as they are sent.
"""

from __future__ import annotations

INDONESIAN: dict[str, str] = {
    # -- Requests, bodies, authentication (app/core, app/auth, app/main) ---------------
    "{count} validation error(s); see errors[].": "{count} kesalahan validasi; lihat errors[].",
    "No such route.": "Rute ini tidak ada.",
    "the body could not be parsed": "body tidak dapat dibaca",
    "the body is empty": "body kosong",
    "the body is not valid UTF-8": "body bukan UTF-8 yang valid",
    "the body is not valid JSON": "body bukan JSON yang valid",
    "the body is not valid JSON at line {line}, column {column}": (
        "body bukan JSON yang valid pada baris {line}, kolom {column}"
    ),
    "JSON nested deeper than {depth} levels": "JSON bersarang lebih dari {depth} tingkat",
    "Send `Content-Type: application/json`.": "Kirim `Content-Type: application/json`.",
    "The body is limited to {mib} MiB.": "Body dibatasi {mib} MiB.",
    "Send `Authorization: Bearer <api key>`.": "Kirim `Authorization: Bearer <api key>`.",
    "The API key is unknown, revoked or expired.": (
        "API key tidak dikenal, sudah dicabut, atau kedaluwarsa."
    ),
    "X-Actor: 1-128 characters, no control characters": (
        "X-Actor: 1-128 karakter, tanpa karakter kontrol"
    ),
    "This operation is open to: {roles}.": "Operasi ini hanya untuk peran: {roles}.",
    "a {role} client is bound to {field}": "klien API berperan {role} wajib terikat pada {field}",
    "a {role} client has no {field}": "klien API berperan {role} tidak memiliki {field}",
    "not a cursor of this query": "bukan cursor dari kueri ini",
    "a sentra client names its sentra, never `*`": (
        "klien API berperan sentra wajib menyebutkan sentranya sendiri, bukan `*`"
    ),
    "Too many failed authentications from this address.": (
        "Terlalu banyak percobaan autentikasi yang gagal dari alamat ini."
    ),
    "No resource has this identifier.": "Tidak ada sumber daya dengan pengenal ini.",
    "The database is unreachable.": "Basis data tidak dapat dihubungi.",
    "The database is unreachable. Retry the same request after Retry-After; a release event "
    "may already have been applied, and its retry replays the answer.": (
        "Basis data tidak dapat dihubungi. Ulangi permintaan yang sama setelah Retry-After; "
        "event pembebasan mungkin sudah diterapkan, dan pengulangannya akan mengembalikan "
        "jawaban yang sama."
    ),
    "The database is not migrated to this release's schema: the operator runs `rujukan db "
    "upgrade` (see /readyz). Retry the same request later.": (
        "Basis data belum dimigrasi ke skema versi ini: operator perlu menjalankan "
        "`rujukan db upgrade` (lihat /readyz). Ulangi permintaan yang sama nanti."
    ),
    "The database schema is at {current}, not at head {head}: run `rujukan db upgrade`.": (
        "Skema basis data berada pada {current}, bukan pada head {head}: jalankan "
        "`rujukan db upgrade`."
    ),
    # -- Texts and dates (app/core/schemas.py, query parameters) -----------------------
    "at most {max_length} characters": "paling banyak {max_length} karakter",
    "printable characters only": "hanya karakter yang dapat dicetak",
    "control characters are not allowed": "karakter kontrol tidak diperbolehkan",
    "a name of visible characters: no format characters, not blank": (
        "nama harus berupa karakter yang terlihat: tanpa karakter format, tidak boleh kosong"
    ),
    "not valid Unicode text": "bukan teks Unicode yang valid",
    "timestamp out of range": "waktu di luar rentang",
    "each value at most once": "setiap nilai hanya boleh muncul satu kali",
    "listed twice": "tercantum dua kali",
    "Input should be an RFC 3339 date-time": "Nilai harus berupa waktu RFC 3339",
    "Input should be a date as YYYY-MM-DD": "Nilai harus berupa tanggal YYYY-MM-DD",
    "an RFC 3339 time needs an offset (Z or +07:00)": (
        "waktu RFC 3339 harus memiliki offset (Z atau +07:00)"
    ),
    "out of range: not between years 1 and 9999 in UTC": (
        "di luar rentang: tidak di antara tahun 1 dan 9999 dalam UTC"
    ),
    "a date (YYYY-MM-DD) or an RFC 3339 time with offset": (
        "tanggal (YYYY-MM-DD) atau waktu RFC 3339 dengan offset"
    ),
    "before release_date_from": "sebelum release_date_from",
    "not a PAS category code (#{number})": "bukan kode kategori PAS (ke-{number})",
    "no letters or digits to search for": "tidak ada huruf atau angka untuk dicari",
    "not a parameter of this query": "bukan parameter kueri ini",
    # -- Release events (app/intake) ---------------------------------------------------
    "a list of events": "daftar event",
    "1 to {max_batch} events": "1 sampai {max_batch} event",
    "This client may not post events for that facility.": (
        "Klien API ini tidak boleh mengirim event untuk UPT tersebut."
    ),
    "not bound to this client": "tidak terikat pada klien API ini",
    "This event could not be stored; nothing of it was.": (
        "Event ini tidak dapat disimpan; tidak ada bagiannya yang tersimpan."
    ),
    "Concurrent requests kept changing these cases; retry the event.": (
        "Permintaan lain yang bersamaan terus mengubah kasus-kasus ini; kirim ulang event ini."
    ),
    "This event_id was already used for a different event body.": (
        "event_id ini sudah dipakai untuk body event yang berbeda."
    ),
    "another open referral exists for this NIK; see related_referral_ids": (
        "ada rujukan lain yang masih terbuka untuk NIK ini; lihat related_referral_ids"
    ),
    "This line is not one JSON document in UTF-8.": (
        "Baris ini bukan satu dokumen JSON dalam UTF-8."
    ),
    # The PAS rules (app/intake/rules.py)
    "not a PAS category code": "bukan kode kategori PAS",
    "a convicted person's release carries `warga_binaan`": (
        "`warga_binaan` wajib dicantumkan untuk orang yang dipidana"
    ),
    "never convicted: not a (former) warga binaan": (
        "tidak pernah dipidana: bukan (mantan) warga binaan"
    ),
    "under 18 at release: `anak_rentan` is required": (
        "berusia di bawah 18 tahun saat keluar dari UPT: `anak_rentan` wajib dicantumkan"
    ),
    "under 18 at release": "berusia di bawah 18 tahun saat keluar dari UPT",
    "a child's consent is given by the guardian": (
        "persetujuan untuk anak diberikan oleh orang tua atau walinya"
    ),
    "age at release under 60": "usia saat keluar dari UPT di bawah 60 tahun",
    "`sex` is not female": "`sex` bukan female",
    "`napza_history` or `hiv_positive` must be true": (
        "`napza_history` atau `hiv_positive` harus bernilai true"
    ),
    "list at least one disability type": "cantumkan sedikitnya satu jenis disabilitas",
    "without a NIK give foreign_national, not_registered or unknown": (
        "tanpa NIK, isi foreign_national, not_registered, atau unknown"
    ),
    "16 digits with a real DDMMYY birth date (day + 40 for women) and a known province": (
        "16 digit dengan tanggal lahir DDMMYY yang valid (tanggal + 40 untuk perempuan) dan "
        "kode provinsi yang dikenal"
    ),
    "the birth date embedded in the NIK differs from `birth_date`": (
        "tanggal lahir dalam NIK berbeda dari `birth_date`"
    ),
    "the sex embedded in the NIK differs from `sex`": (
        "jenis kelamin dalam NIK berbeda dari `sex`"
    ),
    "not a 2025 province code": "bukan kode provinsi tahun 2025",
    "not a 2025 regency code": "bukan kode kabupaten/kota tahun 2025",
    "not a 2025 district code": "bukan kode kecamatan tahun 2025",
    "regency is not in the province": "kabupaten/kota tidak terletak di provinsi tersebut",
    "district is not in the regency": "kecamatan tidak terletak di kabupaten/kota tersebut",
    "not a regency of province_code": "bukan kabupaten/kota dari province_code",
    "birth date must be in the past": "tanggal lahir harus sebelum hari ini",
    "age at release over {max_age}": "usia saat keluar dari UPT lebih dari {max_age} tahun",
    "birth date after the release date": "tanggal lahir setelah tanggal keluar dari UPT",
    "release date must be within 10 years back, 1 ahead": (
        "tanggal keluar dari UPT harus dalam rentang 10 tahun ke belakang sampai 1 tahun ke depan"
    ),
    "a completed release cannot be dated after the event": (
        "tanggal keluar dari UPT yang sudah terjadi tidak boleh setelah waktu event"
    ),
    "a supervised release names its Bapas": (
        "integrasi (PB, CB, CMB) atau asimilasi wajib menyebutkan Bapas pembimbingnya"
    ),
    "only a supervised release has a Bapas": (
        "hanya integrasi (PB, CB, CMB) atau asimilasi yang memiliki Bapas pembimbing"
    ),
    "a supervised release needs its supervision end date": (
        "integrasi (PB, CB, CMB) atau asimilasi memerlukan tanggal akhir pembimbingan"
    ),
    "an unsupervised release has no supervision end date": (
        "pembebasan tanpa pembimbingan Bapas tidak memiliki tanggal akhir pembimbingan"
    ),
    "supervision must end after the release date": (
        "pembimbingan harus berakhir setelah tanggal keluar dari UPT"
    ),
    "supervision must end within {years} years of the release date": (
        "pembimbingan harus berakhir paling lambat {years} tahun setelah tanggal keluar dari UPT"
    ),
    "`occurred_at` is in the future": "`occurred_at` berada di masa depan",
    "consent recorded in the future": "waktu pencatatan persetujuan berada di masa depan",
    "consent withdrawn in the future": "waktu penarikan kembali persetujuan berada di masa depan",
    "type {number} belongs to `{category}`, not among `pas_categories`": (
        "jenis {number} termasuk `{category}`, yang tidak ada di `pas_categories`"
    ),
    "who gave consent": "siapa yang memberikan persetujuan",
    "how consent was given": "bagaimana persetujuan diberikan",
    "consent is written or recorded (UU 27/2022 art. 22)": (
        "persetujuan harus tertulis atau terekam (UU 27/2022 Pasal 22)"
    ),
    "the reference of the signed form or the recording (UU 27/2022 art. 24)": (
        "nomor formulir yang ditandatangani atau acuan rekamannya (UU 27/2022 Pasal 24)"
    ),
    # -- Referrals and their lifecycle (app/referrals) ---------------------------------
    "No referral exists for this facility and case_ref.": (
        "Belum ada rujukan untuk UPT dan case_ref ini."
    ),
    "The person is already released.": "Orang ini sudah keluar dari UPT.",
    "A completed release cannot be cancelled; use release.revoked.": (
        "Pembebasan yang sudah terlaksana tidak dapat dibatalkan; gunakan release.revoked."
    ),
    "Only a supervised release can be revoked.": (
        "Hanya integrasi (PB, CB, CMB) atau asimilasi yang dapat dicabut."
    ),
    "Only a supervised release has supervision.": (
        "Hanya integrasi (PB, CB, CMB) atau asimilasi yang memiliki masa pembimbingan."
    ),
    "Supervision starts at release.": "Pembimbingan Bapas dimulai saat keluar dari UPT.",
    "supervision cannot have ended after the event": (
        "tanggal akhir pembimbingan tidak boleh setelah waktu event"
    ),
    "`{action}` is not allowed from `{status}`": (
        "`{action}` tidak diizinkan dari status `{status}`"
    ),
    "`{action}` takes no {field}": "`{action}` tidak menerima {field}",
    "`{action}` needs {field}": "`{action}` memerlukan {field}",
    "`assign` needs sentra_code": "`assign` memerlukan sentra_code",
    "`{action}` takes no sentra_code": "`{action}` tidak menerima sentra_code",
    "not an active sentra of the registry": "bukan sentra aktif dalam daftar sentra",
    "one of: {values}": "salah satu dari: {values}",
    "The {role} role may not `{action}`.": "Peran {role} tidak boleh melakukan `{action}`.",
    "The referral is at version {version}.": "Versi terkini rujukan ini: {version}.",
    # -- Sentra registry (app/reference, app/ops) --------------------------------------
    "No sentra `{code}`.": "Tidak ada sentra `{code}`.",
    "A sentra `{code}` exists; PUT updates it.": (
        "Sentra `{code}` sudah ada; gunakan PUT untuk memperbaruinya."
    ),
    "A sentra `{code}` exists.": "Sentra `{code}` sudah ada.",
    "must equal the code in the path": "harus sama dengan kode di path",
    "more cells than columns": "jumlah sel lebih banyak daripada kolom",
    "also on line {line} of the file": "juga ada di baris {line} berkas ini",
    # -- Webhooks (app/webhooks) -------------------------------------------------------
    "not a valid URL": "bukan URL yang valid",
    "the scheme must be https or http": "skema harus https atau http",
    "the URL has no host": "URL tidak memiliki host",
    "credentials in the URL are not accepted; verify the signature": (
        "kredensial di dalam URL tidak diterima; verifikasi tanda tangannya"
    ),
    "the URL must not have a fragment": "URL tidak boleh memiliki fragmen",
    "the URL must not contain spaces or control characters": (
        "URL tidak boleh berisi spasi atau karakter kontrol"
    ),
    "the target is a loopback, private, link-local or otherwise non-public address": (
        "tujuan berada di alamat loopback, privat, link-local, atau alamat lain yang bukan publik"
    ),
    # -- Aftercare (app/aftercare) -------------------------------------------------------
    "must not lie in the future": "tidak boleh setelah hari ini",
    "must not lie before the close ({closed_on})": (
        "tidak boleh sebelum tanggal rujukan ditutup ({closed_on})"
    ),
    "Follow-ups are kept by Kemensos and the sentra the referral was last assigned to.": (
        "Catatan bimbingan lanjut hanya dibuat dan dibaca oleh Kemensos dan sentra yang "
        "terakhir ditugaskan menangani rujukan ini."
    ),
    "A sentra reads its own forecast only.": (
        "Sentra hanya dapat membaca perkiraan kedatangan untuk sentranya sendiri."
    ),
    # -- The person's rights (app/rights) ----------------------------------------------
    "Send X-Actor: the officer answering the person's request.": (
        "Kirim X-Actor: petugas yang melayani permintaan orang yang bersangkutan."
    ),
    "X-Actor is required": "X-Actor wajib diisi",
    "16 digits": "16 digit",
    "a JSON pointer into the case data: its first part one of {fields}": (
        "JSON pointer ke data kasus; bagian pertamanya salah satu dari {fields}"
    ),
    "The request is {status}.": "Permintaan ini berstatus {status}.",
    # -- The rehabilitation record (app/rehab) ------------------------------------------
    "not in the future": "tidak boleh di masa mendatang",
    "each component once": "setiap komponen hanya satu kali",
    "not a goal of this plan": "bukan tujuan dalam rencana intervensi ini",
    "not a goal of the plan": "bukan tujuan dalam rencana intervensi",
    "each goal once": "setiap tujuan hanya satu kali",
    "not before the referral was created": "tidak boleh sebelum rujukan dibuat",
    "`{outcome}` needs the end-of-service report": (
        "`{outcome}` wajib menyertakan laporan akhir layanan"
    ),
    "a result for each of the plan's {count} goal(s)": (
        "hasil untuk setiap tujuan dalam rencana intervensi ({count} tujuan)"
    ),
    "The {role} role may not write the referral's {kind} record.": (
        "Peran {role} tidak boleh menulis catatan {kind} rujukan ini."
    ),
    "The {role} role may not read the referral's {kind} record.": (
        "Peran {role} tidak boleh membaca catatan {kind} rujukan ini."
    ),
    "The person withdrew consent: nothing more is recorded about them here.": (
        "Orang yang bersangkutan telah menarik kembali persetujuannya: data tentang dirinya "
        "tidak lagi dicatat di sini."
    ),
    "The referral was anonymised: nothing more is recorded about the person here.": (
        "Rujukan ini telah dianonimkan: data tentang orang yang bersangkutan tidak lagi "
        "dicatat di sini."
    ),
    "The referral rests on `{basis}`, not on the person's consent.": (
        "Rujukan ini didasarkan pada `{basis}`, bukan pada persetujuan orang yang bersangkutan."
    ),
    "The referral is `{status}`: its record is closed.": (
        "Rujukan berstatus `{status}`: rekam layanannya sudah ditutup."
    ),
    "A {kind} is recorded while the referral is {open_in}; it is `{status}`.": (
        "{kind} hanya dicatat selama rujukan berstatus {open_in}; statusnya sekarang `{status}`."
    ),
    "Send `If-Match` with the plan's ETag.": ("Kirim `If-Match` dengan ETag rencana intervensi."),
    "The plan changed since that ETag; read it again.": (
        "Rencana intervensi telah berubah sejak ETag tersebut; baca ulang rencana intervensi."
    ),
    "The referral has no plan yet: send the first PUT without `If-Match`.": (
        "Rujukan belum memiliki rencana intervensi: kirim PUT pertama tanpa `If-Match`."
    ),
    "Attendance was recorded already: `{attendance}`.": (
        "Kehadiran sudah dicatat: `{attendance}`."
    ),
    "Only a cancellation is recorded before the appointment.": (
        "Sebelum jadwal dimulai, hanya pembatalan yang dapat dicatat."
    ),
    "only Kemensos and the sentra write notes for `kemensos`": (
        "hanya Kemensos dan sentra yang dapat menulis catatan untuk `kemensos`"
    ),
}

# Pydantic's own error types (those our schemas can produce): Indonesian templates
# formatted with the error's `ctx`. Other types fall back to the Indonesian meaning of the
# code they map to (app/core/validation.py).
PYDANTIC: dict[str, str] = {
    "missing": "Field wajib diisi",
    "extra_forbidden": "Field tambahan tidak diperbolehkan",
    "string_type": "Nilai harus berupa teks (string)",
    "string_too_short": "Teks harus berisi sedikitnya {min_length} karakter",
    "string_too_long": "Teks harus berisi paling banyak {max_length} karakter",
    "string_pattern_mismatch": "Teks harus sesuai dengan pola '{pattern}'",
    "string_unicode": "Nilai harus berupa teks Unicode yang valid",
    "int_type": "Nilai harus berupa bilangan bulat",
    "int_parsing": "Nilai harus berupa bilangan bulat",
    "int_from_float": "Nilai harus berupa bilangan bulat, bukan pecahan",
    "float_type": "Nilai harus berupa angka",
    "float_parsing": "Nilai harus berupa angka",
    "bool_type": "Nilai harus berupa boolean (true atau false)",
    "bool_parsing": "Nilai harus berupa boolean (true atau false)",
    "list_type": "Nilai harus berupa daftar (array JSON)",
    "dict_type": "Nilai harus berupa objek JSON",
    "model_type": "Nilai harus berupa objek JSON",
    "model_attributes_type": "Nilai harus berupa objek JSON",
    "literal_error": "Nilai harus {expected}",
    "enum": "Nilai harus {expected}",
    "too_short": "Daftar harus berisi sedikitnya {min_length} item",
    "too_long": "Daftar harus berisi paling banyak {max_length} item",
    "greater_than": "Nilai harus lebih besar dari {gt}",
    "greater_than_equal": "Nilai harus lebih besar dari atau sama dengan {ge}",
    "less_than": "Nilai harus lebih kecil dari {lt}",
    "less_than_equal": "Nilai harus lebih kecil dari atau sama dengan {le}",
    "date_type": "Nilai harus berupa tanggal YYYY-MM-DD",
    "date_parsing": "Nilai harus berupa tanggal YYYY-MM-DD yang valid",
    "date_from_datetime_parsing": "Nilai harus berupa tanggal YYYY-MM-DD yang valid",
    "date_from_datetime_inexact": "Nilai harus berupa tanggal tanpa jam",
    "datetime_type": "Nilai harus berupa waktu RFC 3339",
    "datetime_parsing": "Nilai harus berupa waktu RFC 3339 yang valid",
    "datetime_from_date_parsing": "Nilai harus berupa waktu RFC 3339 yang valid",
    "timezone_aware": "Waktu harus memiliki offset zona waktu (Z atau +07:00)",
    "uuid_type": "Nilai harus berupa UUID",
    "uuid_parsing": "Nilai harus berupa UUID yang valid",
    "json_invalid": "JSON tidak valid",
    "union_tag_invalid": "Nilai '{tag}' tidak dikenal; harus salah satu dari {expected_tags}",
    "union_tag_not_found": "Field '{discriminator}' wajib diisi",
}
