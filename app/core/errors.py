"""RFC 9457 problem details: one exception type, one catalogue of stable codes.

Every `code` the service can answer is listed in `CATALOGUE` (status, title and meaning
in English and in Bahasa Indonesia); the OpenAPI description renders it as the error
catalogue, a test checks that no code is used in the source without an entry here, and
another that every entry has its Indonesian. Details are `Msg` templates
(app/core/i18n.py), rendered in the request's language (SPEC §9) when the body is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.i18n import Lang, Msg, language_var, msg

PROBLEM_JSON = "application/problem+json"
# SPEC §1: a problem lists at most this many `errors` (then `errors_omitted`), so that it
# is never much larger than the request that caused it.
MAX_ERRORS = 50
# An entry's pointer or parameter name comes from the request (a member's name): cut, so
# that fifty entries stay small whatever the names.
MAX_LOCATION = 256
MAX_DETAIL = 300
# A 207 lists at most this many errors over all its items (still at least one per failed
# item): 500 items of 50 errors each would be a 207 many times the size of its batch.
MAX_BATCH_ERRORS = 1000


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    status: int | None  # None: a code used inside `errors[]` / `warnings[]`, not as a problem
    title: str
    meaning: str  # also the detail of a problem raised without one
    title_id: str  # Bahasa Indonesia
    meaning_id: str


CATALOGUE: dict[str, CatalogueEntry] = {
    # Problems (top-level `code`)
    "VALIDATION_FAILED": CatalogueEntry(
        422,
        "Validation failed",
        "The request broke one or more rules; see `errors[]`.",
        "Validasi gagal",
        "Permintaan melanggar satu atau beberapa aturan; lihat `errors[]`.",
    ),
    "MALFORMED_JSON": CatalogueEntry(
        422,
        "Malformed JSON",
        "The body is not a JSON document in UTF-8 (truncated, wrong encoding, NaN, or nested "
        "deeper than 64 levels).",
        "JSON tidak valid",
        "Body bukan satu dokumen JSON dalam UTF-8 (terpotong, pengodean salah, NaN, atau bersarang"
        " lebih dari 64 tingkat).",
    ),
    "BATCH_SIZE": CatalogueEntry(
        None,
        "Batch size",
        "A batch holds 1 to 500 events.",
        "Ukuran batch",
        "Satu batch berisi 1 sampai 500 event.",
    ),
    "UNAUTHENTICATED": CatalogueEntry(
        401,
        "Authentication required",
        "No API key, or one that is unknown, revoked or expired.",
        "Autentikasi diperlukan",
        "API key tidak dikirim, atau tidak dikenal, sudah dicabut, atau kedaluwarsa.",
    ),
    "ROLE_NOT_PERMITTED": CatalogueEntry(
        403,
        "Not permitted",
        "The caller's role may never take this action.",
        "Tidak diizinkan",
        "Peran klien API pemanggil sama sekali tidak boleh melakukan tindakan ini.",
    ),
    "FACILITY_NOT_PERMITTED": CatalogueEntry(
        403,
        "Facility not permitted",
        "The event's `facility.code` is not bound to the caller.",
        "UPT tidak diizinkan",
        "`facility.code` pada event tidak terikat pada klien API pemanggil.",
    ),
    "NOT_FOUND": CatalogueEntry(
        404,
        "Not found",
        "No such route (a trailing slash included: no redirects), or a path segment that "
        "names nothing (a control character).",
        "Tidak ditemukan",
        "Rute ini tidak ada (termasuk rute yang diakhiri garis miring: tidak ada pengalihan), "
        "atau salah satu segmen path tidak menunjuk apa pun (berisi karakter kontrol).",
    ),
    "REFERRAL_NOT_FOUND": CatalogueEntry(
        404,
        "Referral not found",
        "No referral with this id is visible to the caller.",
        "Rujukan tidak ditemukan",
        "Tidak ada rujukan dengan id ini yang dapat dilihat oleh pemanggil.",
    ),
    "UNKNOWN_CASE": CatalogueEntry(
        404,
        "Unknown case",
        "The event needs an existing referral for (`facility.code`, `case_ref`) and there is none.",
        "Kasus tidak dikenal",
        "Event ini memerlukan rujukan yang sudah ada untuk (`facility.code`, `case_ref`), tetapi "
        "rujukan itu belum ada.",
    ),
    "SENTRA_NOT_FOUND": CatalogueEntry(
        404,
        "Sentra not found",
        "No sentra with this code.",
        "Sentra tidak ditemukan",
        "Tidak ada sentra dengan kode ini.",
    ),
    "CLIENT_NOT_FOUND": CatalogueEntry(
        404,
        "Client not found",
        "No client with this id.",
        "Klien API tidak ditemukan",
        "Tidak ada klien API dengan id ini.",
    ),
    "SUBJECT_NOT_FOUND": CatalogueEntry(
        404,
        "Subject not found",
        "No referral, open or ended, holds this NIK (SPEC §12).",
        "Subjek data tidak ditemukan",
        "Tidak ada rujukan, baik yang masih terbuka maupun yang sudah berakhir, yang memuat NIK "
        "ini (SPEC §12).",
    ),
    "RECTIFICATION_NOT_FOUND": CatalogueEntry(
        404,
        "Rectification request not found",
        "The referral has no rectification request with this id.",
        "Permintaan perbaikan data tidak ditemukan",
        "Rujukan ini tidak memiliki permintaan perbaikan data dengan id ini.",
    ),
    "RECTIFICATION_CLOSED": CatalogueEntry(
        409,
        "Rectification request closed",
        "The request was resolved or declined already; it can be declined only while open.",
        "Permintaan perbaikan data sudah ditutup",
        "Permintaan ini sudah diselesaikan atau ditolak; permintaan hanya dapat ditolak selama "
        "masih terbuka.",
    ),
    "CONSENT_NOT_BASIS": CatalogueEntry(
        409,
        "Consent is not the basis",
        "The referral does not rest on the person's consent (`consent.basis` is "
        "`public_task`): there is no consent to withdraw.",
        "Persetujuan bukan dasar pemrosesan",
        "Rujukan ini tidak didasarkan pada persetujuan orang yang bersangkutan "
        "(`consent.basis` bernilai `public_task`), sehingga tidak ada persetujuan yang dapat "
        "ditarik kembali.",
    ),
    "ACTOR_REQUIRED": CatalogueEntry(
        422,
        "Actor required",
        "This operation is made for a person and must name the human behind it (`X-Actor`).",
        "Petugas wajib dicantumkan",
        "Operasi ini dilakukan atas permintaan orang yang bersangkutan dan wajib menyebutkan "
        "petugas yang menjalankannya (`X-Actor`).",
    ),
    "SUBSCRIPTION_NOT_FOUND": CatalogueEntry(
        404,
        "Subscription not found",
        "None of the caller's webhook subscriptions has this id.",
        "Langganan tidak ditemukan",
        "Tidak ada langganan webhook milik pemanggil dengan id ini.",
    ),
    "DELIVERY_NOT_FOUND": CatalogueEntry(
        404,
        "Delivery not found",
        "No delivery with this id belongs to the caller's subscriptions.",
        "Pengiriman tidak ditemukan",
        "Tidak ada pengiriman dengan id ini pada langganan milik pemanggil.",
    ),
    "SUBSCRIPTION_DISABLED": CatalogueEntry(
        409,
        "Subscription disabled",
        "The subscription was disabled (410 from the endpoint, or retries exhausted); "
        "`POST /v1/webhook-subscriptions/{id}/enable` makes it active again.",
        "Langganan dinonaktifkan",
        "Langganan ini telah dinonaktifkan (endpoint menjawab 410, atau percobaan ulang habis); "
        "aktifkan kembali dengan `POST /v1/webhook-subscriptions/{id}/enable`.",
    ),
    "CLIENT_INACTIVE": CatalogueEntry(
        409,
        "Client inactive",
        "The client is deactivated; its key cannot be rotated.",
        "Klien API tidak aktif",
        "Klien API ini telah dinonaktifkan; API key-nya tidak dapat dirotasi.",
    ),
    "METHOD_NOT_ALLOWED": CatalogueEntry(
        405,
        "Method not allowed",
        "The route exists but not for this method; see `Allow`.",
        "Metode tidak diizinkan",
        "Rute ini ada, tetapi tidak untuk metode ini; lihat `Allow`.",
    ),
    "PAYLOAD_TOO_LARGE": CatalogueEntry(
        413,
        "Payload too large",
        "Bodies are limited to 1 MiB (10 MiB for a batch).",
        "Body terlalu besar",
        "Body dibatasi 1 MiB (10 MiB untuk batch).",
    ),
    "UNSUPPORTED_MEDIA_TYPE": CatalogueEntry(
        415,
        "Unsupported media type",
        "Send `Content-Type: application/json`.",
        "Jenis media tidak didukung",
        "Kirim `Content-Type: application/json`.",
    ),
    "RATE_LIMITED": CatalogueEntry(
        429,
        "Too many requests",
        "The client's rate limit is spent; retry after `Retry-After`.",
        "Terlalu banyak permintaan",
        "Kuota permintaan klien API ini sudah habis; ulangi setelah jeda `Retry-After`.",
    ),
    "EVENT_ID_CONFLICT": CatalogueEntry(
        409,
        "Event id conflict",
        "This `event_id` was already answered for a different body; a new event needs a new id.",
        "Konflik event_id",
        "`event_id` ini sudah dipakai untuk body yang berbeda; event baru memerlukan "
        "`event_id` baru.",
    ),
    "ALREADY_RELEASED": CatalogueEntry(
        409,
        "Already released",
        "The person is already released; the event no longer applies.",
        "Sudah keluar dari UPT",
        "Orang ini sudah keluar dari UPT; event ini tidak berlaku lagi.",
    ),
    "NOT_SUPERVISED": CatalogueEntry(
        409,
        "Not supervised",
        "Only a supervised release (Bapas) can be revoked.",
        "Tidak dalam pembimbingan Bapas",
        "Hanya integrasi (PB, CB, CMB) atau asimilasi yang dapat dicabut.",
    ),
    "NO_AFTERCARE": CatalogueEntry(
        409,
        "No aftercare",
        "Only a referral closed with the outcome `completed` has aftercare follow-ups.",
        "Tidak ada bimbingan lanjut",
        "Bimbingan lanjut hanya ada untuk rujukan yang ditutup dengan hasil `completed`.",
    ),
    "AFTERCARE_COMPLETE": CatalogueEntry(
        409,
        "Aftercare complete",
        "The three follow-ups (3, 6 and 12 months after the close) are recorded already.",
        "Bimbingan lanjut sudah lengkap",
        "Ketiga kegiatan bimbingan lanjut (3, 6, dan 12 bulan setelah rujukan ditutup) sudah "
        "dicatat.",
    ),
    "INVALID_TRANSITION": CatalogueEntry(
        409,
        "Invalid transition",
        "The action is not allowed from the referral's current status; see `allowed_actions`.",
        "Perubahan status tidak sah",
        "Tindakan ini tidak diizinkan dari status rujukan saat ini; lihat `allowed_actions`.",
    ),
    "NOT_YET_RELEASED": CatalogueEntry(
        409,
        "Not yet released",
        "`supervision.ended` for a person still inside: supervision starts at release.",
        "Belum keluar dari UPT",
        "`supervision.ended` untuk orang yang masih berada di dalam UPT: pembimbingan dimulai saat"
        " keluar dari UPT.",
    ),
    "SENTRA_EXISTS": CatalogueEntry(
        409,
        "Sentra exists",
        "A sentra with this code exists.",
        "Sentra sudah ada",
        "Sentra dengan kode ini sudah ada.",
    ),
    # The rehabilitation record (SPEC §10)
    "REFERRAL_ENDED": CatalogueEntry(
        409,
        "Referral ended",
        "The referral is closed, rejected or cancelled: its record takes notes only.",
        "Rujukan telah berakhir",
        "Rujukan sudah ditutup, ditolak, atau dibatalkan: rekam layanannya hanya dapat ditambah "
        "catatan.",
    ),
    "INVALID_STATE": CatalogueEntry(
        409,
        "Invalid state",
        "Not recorded in the referral's current status (assessments, plan and appointments: "
        "accepted, assigned, in_service, on_hold; services: in_service).",
        "Status tidak sesuai",
        "Tidak dapat dicatat pada status rujukan saat ini (asesmen, rencana intervensi dan "
        "jadwal: accepted, assigned, in_service, on_hold; layanan: in_service).",
    ),
    "ATTENDANCE_RECORDED": CatalogueEntry(
        409,
        "Attendance recorded",
        "The appointment's attendance was recorded already (once).",
        "Kehadiran sudah dicatat",
        "Kehadiran untuk jadwal ini sudah dicatat (hanya satu kali).",
    ),
    "APPOINTMENT_NOT_DUE": CatalogueEntry(
        409,
        "Appointment not due",
        "The appointment has not started: only `cancelled` is recorded before `starts_at`.",
        "Waktu jadwal belum tiba",
        "Jadwal belum dimulai: sebelum `starts_at` hanya `cancelled` yang dapat dicatat.",
    ),
    "NO_PLAN": CatalogueEntry(
        404,
        "No plan",
        "The referral has no service plan yet.",
        "Belum ada rencana intervensi",
        "Rujukan ini belum memiliki rencana intervensi.",
    ),
    "NO_REPORT": CatalogueEntry(
        404,
        "No report",
        "The referral has not been closed: no end-of-service report yet.",
        "Belum ada laporan akhir layanan",
        "Rujukan belum ditutup: laporan akhir layanan belum tersedia.",
    ),
    "APPOINTMENT_NOT_FOUND": CatalogueEntry(
        404,
        "Appointment not found",
        "The referral has no appointment with this id.",
        "Jadwal tidak ditemukan",
        "Rujukan ini tidak memiliki jadwal dengan id tersebut.",
    ),
    "PRECONDITION_REQUIRED": CatalogueEntry(
        428,
        "Precondition required",
        "Send `If-Match` with the referral's current ETag.",
        "Prasyarat diperlukan",
        "Kirim `If-Match` dengan ETag rujukan saat ini.",
    ),
    "VERSION_MISMATCH": CatalogueEntry(
        412,
        "Version mismatch",
        "The referral changed since that ETag; read it again.",
        "Versi tidak cocok",
        "Rujukan telah berubah sejak ETag itu; baca ulang rujukan.",
    ),
    "CURSOR_EXPIRED": CatalogueEntry(
        410,
        "Cursor expired",
        "Events after this feed cursor were pruned (older than RUJUKAN_EVENT_RETENTION_DAYS); "
        "start again without `after`, and reconcile with the referral list.",
        "Cursor kedaluwarsa",
        "Event setelah cursor feed ini telah dihapus (berumur lebih dari "
        "RUJUKAN_EVENT_RETENTION_DAYS hari); mulai lagi tanpa `after`, lalu cocokkan data Anda "
        "dengan daftar rujukan.",
    ),
    "INVALID_CURSOR": CatalogueEntry(
        400,
        "Invalid cursor",
        "The cursor is unknown, tampered with or from another query.",
        "Cursor tidak valid",
        "Cursor tidak dikenal, telah diubah, atau berasal dari kueri lain.",
    ),
    "INTERNAL_ERROR": CatalogueEntry(
        500,
        "Internal error",
        "An unexpected fault; nothing was written. Retry later.",
        "Kesalahan internal",
        "Terjadi gangguan tak terduga; tidak ada data yang disimpan. Ulangi nanti.",
    ),
    "SERVICE_UNAVAILABLE": CatalogueEntry(
        503,
        "Service unavailable",
        "The database is unreachable or not migrated.",
        "Layanan tidak tersedia",
        "Basis data tidak dapat dihubungi atau belum dimigrasi.",
    ),
    # Codes inside errors[] (pointer or parameter) and warnings[]
    "FIELD_REQUIRED": CatalogueEntry(
        None,
        "Field required",
        "A required field is missing.",
        "Field wajib diisi",
        "Ada field wajib yang tidak diisi.",
    ),
    "UNKNOWN_FIELD": CatalogueEntry(
        None,
        "Unknown field",
        "Request bodies are strict; so are the referral list, stats and export parameters.",
        "Field tidak dikenal",
        "Body permintaan tidak boleh memuat field di luar skema; demikian pula parameter "
        "daftar rujukan, statistik, dan ekspor.",
    ),
    "INVALID_TYPE": CatalogueEntry(
        None, "Invalid type", "The JSON type is wrong.", "Tipe tidak valid", "Tipe JSON salah."
    ),
    "INVALID_VALUE": CatalogueEntry(
        None,
        "Invalid value",
        "Not one of the allowed values, or not of the required form.",
        "Nilai tidak valid",
        "Bukan salah satu nilai yang diizinkan, atau bentuknya tidak sesuai.",
    ),
    "INVALID_DATE": CatalogueEntry(
        None,
        "Invalid date",
        "A date or timestamp that is malformed or out of its allowed range.",
        "Tanggal tidak valid",
        "Tanggal atau waktu salah format atau di luar rentang yang diizinkan.",
    ),
    "INVALID_TEXT": CatalogueEntry(
        None,
        "Invalid text",
        "Control characters (NUL included) or longer than documented.",
        "Teks tidak valid",
        "Mengandung karakter kontrol (termasuk NUL) atau melebihi panjang yang ditetapkan.",
    ),
    "UNKNOWN_PAS_CATEGORY": CatalogueEntry(
        None,
        "Unknown PAS category",
        "Not one of the 12 PAS category codes.",
        "Kategori PAS tidak dikenal",
        "Bukan salah satu dari 12 kode kategori PAS.",
    ),
    "DUPLICATE_PAS_CATEGORY": CatalogueEntry(
        None,
        "Duplicate PAS category",
        "A PAS category is listed twice.",
        "Kategori PAS ganda",
        "Satu kategori PAS dicantumkan dua kali.",
    ),
    "PAS_WARGA_BINAAN_REQUIRED": CatalogueEntry(
        None,
        "warga_binaan required",
        "A release of the convicted or supervised group carries `warga_binaan`.",
        "warga_binaan wajib dicantumkan",
        "Untuk orang yang dipidana yang keluar dari UPT (bebas, integrasi, atau asimilasi), "
        "`warga_binaan` wajib dicantumkan.",
    ),
    "PAS_WARGA_BINAAN_NOT_CONVICTED": CatalogueEntry(
        None,
        "warga_binaan not for the never convicted",
        "A `not_convicted` release (a detainee, an acquittal, a diversion) never carries "
        "`warga_binaan`: it would label the person an ex-inmate.",
        "warga_binaan bukan untuk yang tidak pernah dipidana",
        "Pembebasan `not_convicted` (tahanan, putusan bebas, diversi) tidak boleh mencantumkan "
        "`warga_binaan`: kode itu akan menandai orang tersebut sebagai mantan narapidana.",
    ),
    "DUPLICATE_PPKS_TYPE": CatalogueEntry(
        None,
        "Duplicate PPKS type",
        "A PPKS-26 type is listed twice.",
        "Jenis PPKS ganda",
        "Satu jenis PPKS-26 dicantumkan dua kali.",
    ),
    "PPKS_TYPE_MISMATCH": CatalogueEntry(
        None,
        "PPKS type outside the categories",
        "A PPKS-26 type that belongs to none of the event's `pas_categories` (SPEC §6).",
        "Jenis PPKS di luar kategori",
        "Jenis PPKS-26 yang tidak termasuk dalam satu pun `pas_categories` event ini (SPEC §6).",
    ),
    "BAPAS_REQUIRED": CatalogueEntry(
        None,
        "Bapas required",
        "A supervised release names its supervising Bapas.",
        "Bapas wajib diisi",
        "Untuk integrasi (PB, CB, CMB) atau asimilasi, Bapas pembimbing wajib disebutkan.",
    ),
    "BAPAS_NOT_ALLOWED": CatalogueEntry(
        None,
        "Bapas not allowed",
        "An unsupervised release has no supervising Bapas.",
        "Bapas tidak boleh diisi",
        "Pembebasan tanpa pembimbingan Bapas tidak memiliki Bapas pembimbing.",
    ),
    "CONSENT_NOT_RECORDED": CatalogueEntry(
        None,
        "Consent not recorded",
        "Consent must be written or recorded (UU 27/2022 art. 22): `verbal_witnessed` is refused.",
        "Persetujuan tidak tertulis atau terekam",
        "Persetujuan harus tertulis atau terekam (UU 27/2022 Pasal 22): `verbal_witnessed` "
        "ditolak.",
    ),
    "CONSENT_EVIDENCE_REQUIRED": CatalogueEntry(
        None,
        "Consent evidence required",
        "With `basis = consent`, `evidence_ref` names the signed form or the recording "
        "(UU 27/2022 art. 24).",
        "Bukti persetujuan diperlukan",
        "Dengan `basis = consent`, `evidence_ref` wajib merujuk ke formulir yang "
        "ditandatangani atau rekamannya (UU 27/2022 Pasal 24).",
    ),
    "PAS_CHILD_REQUIRES_ANAK_RENTAN": CatalogueEntry(
        None,
        "anak_rentan required",
        "A person under 18 at release carries `anak_rentan`.",
        "anak_rentan wajib dicantumkan",
        "Untuk orang yang berusia di bawah 18 tahun saat keluar dari UPT, `anak_rentan` "
        "wajib dicantumkan.",
    ),
    "GUARDIAN_REQUIRED": CatalogueEntry(
        None,
        "Guardian required",
        "A person under 18 at release needs `person.guardian`.",
        "Orang tua/wali wajib diisi",
        "Untuk orang yang berusia di bawah 18 tahun saat keluar dari UPT, `person.guardian` "
        "wajib diisi.",
    ),
    "GUARDIAN_CONSENT_REQUIRED": CatalogueEntry(
        None,
        "Guardian consent required",
        "A child's consent is given by the guardian.",
        "Persetujuan orang tua/wali diperlukan",
        "Persetujuan untuk anak diberikan oleh orang tua atau walinya.",
    ),
    "CONSENT_DETAIL_REQUIRED": CatalogueEntry(
        None,
        "Consent detail required",
        "With `basis = consent`, `given_by` and `method` are required.",
        "Rincian persetujuan diperlukan",
        "Dengan `basis = consent`, `given_by` dan `method` wajib diisi.",
    ),
    "PAS_LANSIA_AGE": CatalogueEntry(
        None,
        "Not lansia",
        "`lansia_terlantar` needs an age at release of 60 or more.",
        "Bukan lansia",
        "`lansia_terlantar` memerlukan usia 60 tahun atau lebih saat keluar dari UPT.",
    ),
    "PAS_PEREMPUAN_SEX": CatalogueEntry(
        None,
        "Not perempuan",
        "`perempuan_rentan` needs `sex = female`.",
        "Bukan perempuan",
        "`perempuan_rentan` memerlukan `sex = female`.",
    ),
    "PAS_NAPZA_HIV_DETAIL_REQUIRED": CatalogueEntry(
        None,
        "NAPZA/HIV detail required",
        "`korban_napza_hiv` needs `needs.health.napza_history` or `hiv_positive` true.",
        "Rincian NAPZA/HIV diperlukan",
        "`korban_napza_hiv` memerlukan `needs.health.napza_history` atau `hiv_positive` bernilai "
        "true.",
    ),
    "PAS_DISABILITY_DETAIL_REQUIRED": CatalogueEntry(
        None,
        "Disability detail required",
        "`penyandang_disabilitas` needs `needs.health.disability_types`.",
        "Rincian disabilitas diperlukan",
        "`penyandang_disabilitas` memerlukan `needs.health.disability_types`.",
    ),
    "INVALID_NIK": CatalogueEntry(
        None,
        "Invalid NIK",
        "Not 16 digits, no real DDMMYY date (day + 40 for women), or an unknown province.",
        "NIK tidak valid",
        "Bukan 16 digit, tanggal DDMMYY-nya tidak valid (tanggal + 40 untuk perempuan), "
        "atau kode provinsinya tidak dikenal.",
    ),
    "NIK_OR_REASON_REQUIRED": CatalogueEntry(
        None,
        "NIK or reason required",
        "Without a NIK, `nik_unavailable_reason` is one of foreign_national, not_registered, "
        "unknown.",
        "NIK atau alasan diperlukan",
        "Tanpa NIK, `nik_unavailable_reason` wajib diisi salah satu dari foreign_national, "
        "not_registered, unknown.",
    ),
    "UNKNOWN_REGION": CatalogueEntry(
        None,
        "Unknown region",
        "Not a code of the Kepmendagri 2025 region table.",
        "Wilayah tidak dikenal",
        "Bukan kode dalam tabel wilayah Kepmendagri 2025.",
    ),
    "REGION_MISMATCH": CatalogueEntry(
        None,
        "Region mismatch",
        "The code does not lie inside the enclosing region.",
        "Wilayah tidak sesuai",
        "Kode ini tidak terletak di dalam wilayah induknya.",
    ),
    "SUPERVISION_END_REQUIRED": CatalogueEntry(
        None,
        "Supervision end required",
        "A supervised release needs `supervision_end_date`.",
        "Tanggal akhir pembimbingan diperlukan",
        "Integrasi (PB, CB, CMB) dan asimilasi memerlukan `supervision_end_date`.",
    ),
    "SUPERVISION_END_NOT_ALLOWED": CatalogueEntry(
        None,
        "Supervision end not allowed",
        "An unsupervised release has no supervision end.",
        "Tanggal akhir pembimbingan tidak boleh diisi",
        "Pembebasan tanpa pembimbingan Bapas tidak memiliki tanggal akhir pembimbingan.",
    ),
    "URL_NOT_ALLOWED": CatalogueEntry(
        None,
        "URL not allowed",
        "A webhook target on a loopback, private, link-local or otherwise non-public address.",
        "URL tidak diizinkan",
        "Tujuan webhook berada di alamat loopback, privat, link-local, atau alamat lain yang bukan "
        "publik.",
    ),
    "UNKNOWN_SENTRA": CatalogueEntry(
        None,
        "Unknown sentra",
        "Not an active sentra of the registry.",
        "Sentra tidak dikenal",
        "Bukan sentra aktif dalam daftar sentra.",
    ),
    "UNKNOWN_GOAL": CatalogueEntry(
        None,
        "Unknown goal",
        "Not the id of a goal of the referral's service plan.",
        "Tujuan tidak dikenal",
        "Bukan id tujuan dalam rencana intervensi rujukan ini.",
    ),
    "REPORT_REQUIRED": CatalogueEntry(
        None,
        "Report required",
        "`close` with outcome `completed` or `ended_early` carries the end-of-service `report`.",
        "Laporan akhir layanan wajib dilampirkan",
        "`close` dengan outcome `completed` atau `ended_early` wajib menyertakan `report` "
        "(laporan akhir layanan).",
    ),
    "REPORT_INCOMPLETE": CatalogueEntry(
        None,
        "Report incomplete",
        "The report gives a `result` for every goal of the plan (`completed`, `ended_early`).",
        "Laporan belum lengkap",
        "Laporan wajib memuat `result` untuk setiap tujuan dalam rencana intervensi (`completed`, "
        "`ended_early`).",
    ),
    "NIK_BIRTHDATE_MISMATCH": CatalogueEntry(
        None,
        "NIK birth date mismatch",
        "Warning: the NIK's DDMMYY differs from `birth_date`.",
        "Tanggal lahir NIK tidak cocok",
        "Peringatan: DDMMYY dalam NIK berbeda dari `birth_date`.",
    ),
    "NIK_SEX_MISMATCH": CatalogueEntry(
        None,
        "NIK sex mismatch",
        "Warning: the NIK's day (+40 for women) differs from `sex`.",
        "Jenis kelamin NIK tidak cocok",
        "Peringatan: tanggal dalam NIK (+40 untuk perempuan) tidak sesuai dengan `sex`.",
    ),
    "LEGACY_CONSENT": CatalogueEntry(
        None,
        "Legacy consent",
        "Flag: a referral stored before consent evidence was required whose consent has no "
        "`evidence_ref`.",
        "Persetujuan lama",
        "Penanda: rujukan yang disimpan sebelum bukti persetujuan diwajibkan dan persetujuannya "
        "tidak memiliki `evidence_ref`.",
    ),
    "OPEN_REFERRAL_EXISTS_FOR_NIK": CatalogueEntry(
        None,
        "Open referral for NIK",
        "Warning: another non-terminal referral exists for the same NIK.",
        "Ada rujukan terbuka untuk NIK ini",
        "Peringatan: ada rujukan lain yang belum berakhir untuk NIK yang sama.",
    ),
}


@dataclass(slots=True)
class FieldError:
    """One entry of `errors[]`: a JSON pointer into the body, or a query `parameter`."""

    code: str
    detail: Msg
    pointer: str | None = None
    parameter: str | None = None

    def as_dict(self, lang: Lang | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.parameter is not None:
            out["parameter"] = _cut(self.parameter, MAX_LOCATION)
        else:
            out["pointer"] = _cut(self.pointer or "", MAX_LOCATION)
        out["code"] = self.code
        out["detail"] = _cut(self.detail.render(lang), MAX_DETAIL)
        return out


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


@dataclass(slots=True)
class ProblemError(Exception):
    """Raised anywhere; rendered as application/problem+json by the app's handler."""

    code: str
    detail: Msg | None = None
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)
    status: int = 0
    # Errors found but never built (unknown members past the cap: app/core/validation.py).
    omitted: int = 0

    def __post_init__(self) -> None:
        entry = CATALOGUE[self.code]
        if not self.status:
            if entry.status is None:
                raise ValueError(f"{self.code} is not a problem code")
            self.status = entry.status

    def body(
        self, request_id: str | None, lang: Lang | None = None, *, max_errors: int = MAX_ERRORS
    ) -> dict[str, Any]:
        return problem_body(
            self.code,
            self.status,
            self.detail,
            request_id,
            errors=self.errors,
            extensions=self.extensions,
            omitted=self.omitted,
            max_errors=max_errors,
            lang=lang,
        )


def problem_body(
    code: str,
    status: int,
    detail: Msg | None,
    request_id: str | None,
    *,
    errors: list[FieldError] | None = None,
    extensions: dict[str, Any] | None = None,
    omitted: int = 0,
    max_errors: int = MAX_ERRORS,
    lang: Lang | None = None,
) -> dict[str, Any]:
    """The body in `lang` (by default the language of the request being answered)."""
    lang = lang or language_var.get()
    entry = CATALOGUE[code]
    indonesian = lang == "id"
    body: dict[str, Any] = {
        "type": f"urn:rujukan:problem:{code.lower().replace('_', '-')}",
        "title": entry.title_id if indonesian else entry.title,
        "status": status,
        "detail": detail.render(lang)
        if detail is not None
        else (entry.meaning_id if indonesian else entry.meaning),
        "code": code,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = [e.as_dict(lang) for e in errors[:max_errors]]
        omitted += max(0, len(errors) - max_errors)
    if omitted:
        body["errors_omitted"] = omitted
    if extensions:
        body.update(extensions)
    return body


def validation_failed(
    errors: list[FieldError], detail: Msg | None = None, *, omitted: int = 0
) -> ProblemError:
    return ProblemError(
        "VALIDATION_FAILED",
        detail or msg("{count} validation error(s); see errors[].", count=len(errors) + omitted),
        errors=errors,
        omitted=omitted,
    )


def json_pointer(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """RFC 6901 pointer from a location path (`~` and `/` escaped)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)
