"""The OpenAPI document: FastAPI's, from the routes, and what it says beyond them: the
introduction, the error catalogue, tag texts, enum meanings, the problem responses every
client should parse.

`build_openapi` generates the document and calls `enrich` on it. Enumerations are
described where they appear (component schemas, properties, query parameters) by their
values: each value with its Indonesian domain term and an English explanation, so that
Swagger UI, ReDoc and generated clients carry the meaning next to the code.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app import __version__
from app.core.cursor import CURSOR_SCHEMA
from app.core.errors import CATALOGUE
from app.core.openapi import Problem
from app.core.schemas import UNIT_CODE
from app.reference.catalogue import ATENSI_COMPONENTS, PAS_CATEGORIES, RELEASE_TYPES, ReleaseGroup

# info.description: what a reader of /docs needs before the Authorize button and the first
# operation. The introduction, the conventions and the error catalogue are the last tag's.
DESCRIPTION = """\
The referral service between Indonesia's prisons (Imipas) and the Ministry of Social
Affairs (Kemensos). **Authorize** with your API key (`rjk_…`), then try any `/v1` operation.

Guides, served by this service: [integration guide for prison systems](/guides/integration-guide)
([Bahasa Indonesia](/guides/integration-guide.id)), [portal guide](/guides/portal-guide),
[operations guide](/guides/operations), [data dictionary](/guides/data-dictionary),
[all guides](/guides). Authentication, errors, retries, limits and the catalogue of every
error `code`: the last section, **Conventions and errors**
(also [as a page](/guides/conventions)).
"""

INTRODUCTION = """\
Rujukan is the interagency referral service between the prisons of the Directorate General
of Corrections (Imipas) and the Ministry of Social Affairs (Kemensos). Prison systems post
**release events**; Rujukan validates each handover against the 12 PAS target categories and
keeps one **referral** per custody episode, which Kemensos moves through its lifecycle.

**Authentication**: `Authorization: Bearer rjk_…` on every `/v1` call. Optional `X-Actor`
(≤128 chars) names the person behind a portal call. Every response carries `X-Request-ID`.

**Errors** are RFC 9457 `application/problem+json` with a stable `code`; field errors carry
a JSON `pointer` into the body (or `parameter` for a query parameter). A problem lists at
most 50 `errors` (then `errors_omitted: <n>`, how many more there were), pointers and
parameter names cut at 256 characters: an answer is never much larger than its request.
A query parameter holding a control character (NUL included) is a 422; a path segment
holding one names nothing (404). There are no redirects: `/v1/referrals/` is a 404. With
`Accept-Language: id` (or `id-ID`; q-values honoured) a problem's `title`, `detail` and
`errors[].detail` are in Bahasa Indonesia (`Content-Language: id`); codes and pointers
never change. Program against `code`, not the texts.

**Retries**: release events are idempotent by `event_id`. On a timeout, a connection error,
a 5xx or a 429, resend the *same body* under the *same* `event_id` with exponential backoff
(honour `Retry-After`); never change the body under an id that may have been answered.
"The same body" is the same JSON once parsed: key order, whitespace and escapes do not
matter; a field sent as `null` once and left out the next time, or a list in another order,
is another body (409 `EVENT_ID_CONFLICT`). A replayed answer carries
`Idempotent-Replayed: true` (in a batch, its result `replayed: true`).

**Concurrent edits**: a referral's `ETag` is its version; lifecycle transitions need
`If-Match` (428 without it, 412 when the referral changed since it was read).

Guides for prison systems, the portal and operators are served at [/guides](/guides).
"""


# Conventions of every operation, in the document's description (app/main.py).
CONVENTIONS = """\
**Request ids**: every response carries `X-Request-ID`; problem bodies repeat it as
`request_id`, and the audit log records it. Send your own and it is echoed back: 1-128
printable ASCII characters (0x20-0x7E, spaces included; leading and trailing spaces are
stripped). Any other value (empty, longer than 128, control characters, non-ASCII) is
replaced by a generated id of 32 hex digits.

**Limits**: a request body is at most 1 MiB (10 MiB for `POST /v1/release-events/batch`);
a larger one is a 413 `PAYLOAD_TOO_LARGE`. Release-event intake checks the size after
authentication (401 first, SPEC order). Every other route checks it before anything else:
a `Content-Length` over the limit is refused at once, and a body without one (chunked) as
soon as more than the limit has arrived. The per-client rate limit answers 429
`RATE_LIMITED` with `Retry-After`.
"""

TAGS: list[dict[str, str]] = [
    {
        "name": "Release events",
        "description": "Prison systems (SDP) → Rujukan. One event per change of a custody "
        "episode (`facility.code`, `case_ref`), carrying the case's current data. Idempotent "
        "by `event_id`: on a timeout, a 5xx or a 429, resend the same body under the same id.",
    },
    {
        "name": "Referrals",
        "description": "The Kemensos portal, sentra and prisons: list, filter, count, export, "
        "read one referral with its `ETag`, its history, and move it through its lifecycle "
        "with `If-Match`.",
    },
    {
        "name": "Rehabilitation record",
        "description": "What Kemensos does after the handover (ATENSI, Permensos 7/2021): "
        "assessments (*asesmen*), the service plan (*rencana intervensi*) with its own "
        "`ETag`, appointments (*jadwal*) and attendance (*kehadiran*), services delivered "
        "(*layanan*), notes (*catatan*) between the agencies and the end-of-service report "
        "(*laporan akhir layanan*) that `close` publishes. The prison and the Bapas read the "
        "appointments, the report and the notes meant for them.",
    },
    {
        "name": "Reference data",
        "description": "The 12 PAS categories, release types, provinces and regencies "
        "(Kepmendagri 2025). Any valid key may read them.",
    },
    {
        "name": "Sentra registry",
        "description": "Kemensos's sentra (rehabilitation centres), their location and the "
        "regencies they cover; used to suggest and assign a sentra.",
    },
    {
        "name": "Aftercare",
        "description": "Bimbingan lanjut (SPEC §11): follow-ups 3, 6 and 12 months after a "
        "`completed` close, and the dashboards' figures: how long each step takes, and the "
        "arrivals ahead for a sentra.",
    },
    {
        "name": "Clients",
        "description": "API clients, their roles and bindings, and their keys (admin).",
    },
    {
        "name": "Webhooks",
        "description": "Subscriptions to the events of the referrals a client may read — "
        "prisons, Bapas, the Kemensos portal and the sentra (SPEC §2) — signed per Standard "
        "Webhooks, and their delivery log. Each client sees and manages only its own; "
        "auditors and admins get 403 `ROLE_NOT_PERMITTED`. A subscriber receives an event "
        "only if it may read the referral when the event is delivered.",
    },
    {
        "name": "Change feed",
        "description": "The same events as the webhooks, as a pollable feed in commit order, "
        "for every role that reads referrals (kemensos, prison, sentra), each seeing the "
        "events of the referrals it may read.",
    },
    {
        "name": "Audit",
        "description": "Who read or changed what, and when (auditor, admin). Append-only. "
        "Refused lifecycle transitions are recorded too, with the problem `code` as "
        "`outcome`. Seals make a rewrite of the log visible; disclosures answer which "
        "referrals a client was shown (the scope of a breach notice).",
    },
    {
        "name": "Rights",
        "description": "The rights of the person in a referral (UU 27/2022, SPEC §12): "
        "access to everything held about them and who was shown it, and rectification at "
        "the source.",
    },
    {
        "name": "Operations",
        "description": "Health, readiness and Prometheus metrics; outside `/v1`, no "
        "authentication.",
    },
    # Last: the long text that once stood above the Authorize button (build_openapi fills
    # in its description); its operations serve the guides.
    {"name": "Conventions and errors", "description": ""},
]

# Operations whose route declares no description of its own ("METHOD /path" → text).
OPERATION_DESCRIPTIONS: dict[str, str] = {
    "GET /v1/referrals/{referral_id}/history": "Every applied release event and every "
    "transition of the referral, oldest first: who (`client_id` and `client_name`, `actor`), "
    "when, the status "
    "before and after, reason codes, outcome and, for events, the top-level fields that "
    "changed. History is append-only. Reading it is audited.",
    "GET /v1/reference/pas-categories": "The 12 PAS (Pemerlu Atensi Sosial) target "
    "categories: this service's code, the Indonesian and English names, the rule an event "
    "must meet to carry it, and the PPKS-26 types it replaces.",
    "GET /v1/reference/release-types": "The release types of `release.type`, their names "
    "and whether Bapas supervises the person after release (then `supervision_end_date` is "
    "required and Kemensos takes over when it ends).",
    "GET /v1/reference/provinces": "The 38 provinces of the Kepmendagri 2025 region table "
    "(2-digit codes), as used in `person.domicile.province_code` and the NIK check.",
    "GET /v1/reference/regencies": "Regencies (kabupaten, codes 01-69) and cities (kota, "
    "71-99) of the Kepmendagri 2025 table, 4-digit codes; all of them, or those of "
    "`province_code`.",
    "GET /v1/clients": "Every API client with its role, bindings and state; keys are never "
    "shown again after creation.",
    "POST /v1/clients": "Creates a client bound to facility codes (prison, or `*`) or sentra "
    "codes (sentra) and returns its API key once; store it in a secret store. Audited.",
    "DELETE /v1/clients/{client_id}": "Deactivates the client: all its keys stop working at "
    "once. Its history and audit rows stay. Audited.",
    "GET /v1/webhook-subscriptions": "The calling client's own subscriptions, active and "
    "disabled (with `disabled_reason`); never their secrets.",
    "GET /v1/webhook-subscriptions/{subscription_id}": "One of the calling client's "
    "subscriptions; another client's is a 404 `SUBSCRIPTION_NOT_FOUND`.",
    "DELETE /v1/webhook-subscriptions/{subscription_id}": "Stops the subscription at once; "
    "its pending deliveries are cancelled. Audited.",
    "GET /v1/webhook-subscriptions/{subscription_id}/deliveries": "Every delivery of the "
    "subscription, newest first, optionally only those of one `status`: attempts, the last "
    "HTTP status or error, and when the next attempt is due. Keyset pages (`cursor`).",
    "POST /v1/webhook-deliveries/{delivery_id}/redeliver": "Queues the delivery again now, "
    "with the same `webhook-id` (so the endpoint can still drop a duplicate) and a fresh "
    "retry window. A disabled subscription answers 409 `SUBSCRIPTION_DISABLED`. Audited.",
}


_GROUP_TEXT = {
    ReleaseGroup.convicted: "convicted, not supervised: handed to Kemensos at release.",
    ReleaseGroup.supervised: "a *klien* of the Bapas, still serving the sentence, until "
    "`supervision_end_date`; then handed to Kemensos.",
    ReleaseGroup.not_convicted: "never convicted (no `warga_binaan`): handed to Kemensos at "
    "release.",
}


def _bullets(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"- `{code}` — {meaning}" for code, meaning in rows)


# Each enumeration, keyed by its set of values: value → meaning (Indonesian term: English).
_UNKNOWN = ("unknown", "**Tidak diketahui**: not known")
_ENUMS: list[list[tuple[str, str]]] = [
    # Aftercare follow-ups (SPEC §11)
    [
        ("reached", "**Berhasil dihubungi**: the person was reached"),
        ("unreachable", "**Tidak dapat dihubungi**: the person could not be reached"),
    ],
    [
        ("stable", "**Tempat tinggal tetap**: stable housing"),
        ("unstable", "**Tempat tinggal tidak tetap**: unstable housing"),
        ("homeless", "**Tidak memiliki tempat tinggal**: homeless"),
        _UNKNOWN,
    ],
    [
        ("employed", "**Bekerja**: employed"),
        ("self_employed", "**Berwirausaha**: self-employed"),
        ("in_training", "**Mengikuti pelatihan vokasional**: in vocational training"),
        ("unemployed", "**Tidak bekerja**: unemployed"),
        _UNKNOWN,
    ],
    [
        ("living_with", "**Tinggal bersama keluarga**: lives with family"),
        ("in_contact", "**Masih berhubungan dengan keluarga**: in contact with family"),
        ("no_contact", "**Tidak berhubungan dengan keluarga**: no contact with family"),
        _UNKNOWN,
    ],
    [
        ("sentra_code", "one group per sentra (null: never assigned)"),
        ("province_code", "one group per domicile province"),
        ("pas_category", "one group per PAS category (a referral in each of its categories)"),
    ],
    [
        (
            c.code,
            f"**{c.name_id}**: {c.name_en}. {c.description} "
            f"(PPKS-26 type{'s' if len(c.ppks_types) > 1 else ''} "
            f"{', '.join(str(n) for n in c.ppks_types)})",
        )
        for c in PAS_CATEGORIES
    ],
    [
        (r.code.value, f"**{r.name_id}**: {r.name_en}; {_GROUP_TEXT[r.group]}")
        for r in RELEASE_TYPES
    ],
    [
        (
            "convicted",
            "**Mantan warga binaan (bebas)**: convicted and free at release; Kemensos takes "
            "over then.",
        ),
        (
            "supervised",
            "**Klien Bapas**: convicted and still serving the sentence outside the facility "
            "(PB, CB, CMB, asimilasi), supervised by the Bapas until `supervision_end_date`.",
        ),
        (
            "not_convicted",
            "**Tidak pernah dipidana**: never convicted (a *tahanan* released, acquitted, "
            "discharged, abolisi, or a child's diversi): never labelled `warga_binaan`.",
        ),
    ],
    [
        ("lapas", "**Lembaga Pemasyarakatan**: prison."),
        ("lpp", "**Lembaga Pemasyarakatan Perempuan**: women's prison."),
        ("lpka", "**Lembaga Pembinaan Khusus Anak**: correctional institution for children."),
        ("rutan", "**Rumah Tahanan Negara**: remand centre."),
        ("lpas", "**Lembaga Penempatan Anak Sementara**: temporary placement for children."),
        ("bapas", "**Balai Pemasyarakatan**: probation office, supervises conditional releases."),
    ],
    [
        (
            "release.scheduled",
            "**Rencana keluar dari UPT**: a release date is known ahead; creates the referral "
            "while the person is still in custody so Kemensos can triage before release.",
        ),
        ("release.rescheduled", "**Jadwal keluar berubah**: the planned release date moved."),
        (
            "release.completed",
            "**Keluar dari UPT**: the person has left the facility (free, or a *klien* under "
            "Bapas supervision).",
        ),
        (
            "release.cancelled",
            "**Rencana keluar dibatalkan**: a planned release will not happen (before release "
            "only).",
        ),
        (
            "release.revoked",
            "**Pencabutan integrasi/asimilasi**: a supervised release (PB, CB, CMB, "
            "asimilasi) was revoked; the person is back in custody.",
        ),
        (
            "case.updated",
            "**Koreksi data**: corrected case data (name, NIK, needs) without a custody change.",
        ),
        (
            "supervision.ended",
            "**Masa pembimbingan berakhir**: a supervised release's supervision ended; Kemensos "
            "is responsible from `release.supervision_end_date`.",
        ),
    ],
    [
        (
            "rehabilitasi_sosial",
            "**Rehabilitasi sosial**: social rehabilitation (e.g. a therapeutic community).",
        ),
        ("rehabilitasi_medis", "**Rehabilitasi medis**: medical (e.g. drug) rehabilitation."),
        ("pelatihan_kerja", "**Pelatihan kerja**: vocational training."),
        ("pendidikan", "**Pendidikan**: schooling or equivalency education."),
        (
            "pembinaan_kepribadian",
            "**Pembinaan kepribadian**: personal development (religious, civic, counselling).",
        ),
    ],
    [
        (
            "received",
            "**Rujukan baru**: new, awaiting Kemensos triage (`overdue` after `triage_due_at`).",
        ),
        ("accepted", "**Diterima Kemensos**: accepted for social rehabilitation, no sentra yet."),
        ("assigned", "**Dirujuk ke sentra**: a sentra is assigned (`sentra_code`)."),
        ("in_service", "**Dalam layanan**: the sentra serves the released person."),
        (
            "on_hold",
            "**Dihentikan sementara**: paused (back in custody, hospitalised, relocated); "
            "`resume` returns to the status it was held from.",
        ),
        ("closed", "**Ditutup**: service ended, see `outcome`. Terminal."),
        ("rejected", "**Ditolak**: Kemensos declined, see `reason_code`. Terminal."),
        (
            "cancelled",
            "**Dibatalkan**: withdrawn (release cancelled, parole revoked, duplicate, entered "
            "in error), see `reason_code`. Terminal.",
        ),
    ],
    [
        ("in_custody", "**Masih di UPT**: still inside; the release is scheduled."),
        (
            "released",
            "**Keluar dari UPT**: has left the facility (free, or under Bapas supervision).",
        ),
        ("release_cancelled", "**Batal keluar**: the scheduled release was cancelled."),
        (
            "returned_to_custody",
            "**Dikembalikan ke UPT**: the supervised release was revoked; back inside.",
        ),
    ],
    [
        ("accept", "Kemensos accepts the referral for triage (`received` → `accepted`)."),
        ("reject", "Kemensos declines it; needs `reason_code`."),
        ("assign", "Kemensos assigns (or reassigns) a sentra; needs `sentra_code`."),
        ("return", "The sentra hands it back to Kemensos (`assigned` → `accepted`)."),
        (
            "start_service",
            "The sentra starts serving the person: inside the facility before release, or "
            "after it.",
        ),
        ("hold", "Pause it; needs `reason_code`."),
        ("resume", "Back to the status it was held from."),
        ("close", "End the service; needs `outcome`."),
        ("cancel", "Withdraw it (Kemensos or the prison); needs `reason_code`."),
    ],
    [
        ("prison", "A prison system (e.g. SDP), bound to facility codes or `*`."),
        ("kemensos", "The Kemensos portal: reads all referrals, takes every lifecycle action."),
        ("sentra", "A sentra, bound to sentra codes: reads the referrals assigned to it."),
        (
            "bapas",
            "A Bapas (probation office), bound to Bapas codes or `*`: reads the referrals of "
            "the people it supervises (`release.bapas_code`).",
        ),
        ("auditor", "Reads the audit log; no referral content."),
        ("admin", "Manages clients and the sentra registry."),
    ],
    [
        (
            "imipas",
            "**Ditjen Pemasyarakatan (Kemenimipas)**: in custody or under Bapas supervision.",
        ),
        ("kemensos", "**Kementerian Sosial**: after the handover date."),
    ],
    [("male", "**Laki-laki**: male."), ("female", "**Perempuan**: female.")],
    [
        ("consent", "**Persetujuan**: the person's (or a child's guardian's) consent."),
        (
            "public_task",
            "**Pelayanan publik/pelaksanaan kewenangan**: processing under a public task "
            "(UU 27/2022 art. 20).",
        ),
    ],
    [
        ("person", "The person themself."),
        ("guardian", "**Orang tua/wali**: the parent or guardian (children)."),
    ],
    [
        ("written", "**Tertulis**: a signed consent form."),
        ("electronic", "**Elektronik**: given and kept electronically."),
        ("verbal_recorded", "**Lisan terekam**: spoken, and recorded (audio or video)."),
        (
            "verbal_witnessed",
            "**Lisan dengan saksi, tanpa rekaman**: deprecated. Spoken before a witness but "
            "not recorded: void under UU 27/2022 art. 22, refused (`CONSENT_NOT_RECORDED`).",
        ),
    ],
    [
        (
            "health",
            "**Data kesehatan**: `needs.health` may be disclosed to the assigned sentra and "
            "the supervising Bapas.",
        ),
        ("contact", "**Kontak**: the person's and the guardian's phone numbers, likewise."),
    ],
    [
        ("fisik", "**Fisik**: physical disability."),
        ("intelektual", "**Intelektual**: intellectual disability."),
        ("mental", "**Mental**: psychosocial disability."),
        ("sensorik", "**Sensorik**: sensory disability (sight, hearing, speech)."),
    ],
    [
        ("foreign_national", "**WNA**: a foreign national, no NIK."),
        ("not_registered", "**Belum terdaftar**: not registered with Dukcapil."),
        ("unknown", "**Tidak diketahui**: the NIK is not known."),
    ],
    [
        ("created", "A new referral was created (201)."),
        ("updated", "The referral's data or custody status changed."),
        ("unchanged", "Same data and no state change; nothing but the history row."),
        ("cancelled", "`release.cancelled` cancelled the referral."),
        ("revoked", "`release.revoked` applied (cancelled, or on hold when in service)."),
        ("stale", "Older than the last applied event of the case: recorded, not applied."),
        (
            "consent_withdrawn",
            "The person withdrew consent (SPEC §12): recorded, never applied.",
        ),
    ],
    [
        ("status", "The lifecycle status."),
        ("pas_category", "Each PAS category (a referral counts once in each of its own)."),
        ("custody_status", "The custody status."),
        ("province_code", "The domicile province."),
        ("sentra_code", "The assigned sentra (null: none)."),
        ("facility_code", "The sending facility."),
        ("release_type", "The release type."),
        ("responsible_agency", "`imipas` or `kemensos`, as of today."),
        ("bapas_code", "The supervising Bapas (null: none)."),
        (
            "ppks_type",
            "Each PPKS-26 type (a referral counts once in each of its own, none when it has "
            "none; keys are numbers).",
        ),
    ],
    [
        ("-created_at", "Newest first (the default)."),
        ("created_at", "Oldest first."),
        ("release_date", "Earliest release date first."),
        ("-release_date", "Latest release date first."),
        ("-updated_at", "Most recently changed first."),
    ],
    [
        ("active", "Receives deliveries."),
        (
            "disabled",
            "Receives nothing more: the endpoint answered 410, or deliveries failed for 3 days "
            "(see `disabled_reason`).",
        ),
    ],
    [
        ("pending", "Waiting for its next attempt (`next_attempt_at`)."),
        ("delivered", "The endpoint answered 2xx."),
        ("failed", "Given up (410, or retries exhausted); `redeliver` queues it again."),
        (
            "cancelled",
            "Not sent: the subscription was disabled or deleted, or its client may no longer "
            "read the referral (`last_error`).",
        ),
    ],
    [
        ("referral.created", "A new referral (only this event for it)."),
        (
            "referral.status_changed",
            "Its lifecycle status changed; a `return` too (`assigned` → `accepted`, "
            "`sentra_code` cleared).",
        ),
        (
            "referral.updated",
            "Its case data or custody status changed, or its `sentra_code` did without a "
            "status change: a reassignment (`assign` while `assigned`).",
        ),
        ("referral.assessment_recorded", "An assessment (*asesmen*) was recorded (§10)."),
        (
            "referral.plan_updated",
            "The service plan (*rencana intervensi*) changed (§10); `data.plan_version`.",
        ),
        ("referral.appointment_scheduled", "An appointment was made; `data.appointment_id`."),
        (
            "referral.attendance_recorded",
            "Attendance was recorded (attended, late or cancelled); `data.appointment_id`.",
        ),
        (
            "referral.appointment_missed",
            "The person missed an appointment (instead of `attendance_recorded`).",
        ),
        ("referral.service_recorded", "A service delivered was recorded; `data.service_id`."),
        (
            "referral.note_added",
            "A note was written; `data.note_id`. Only to subscribers who may read the note "
            "(a `kemensos` note: Kemensos and the assigned sentra). Never the body.",
        ),
        (
            "referral.report_published",
            "The referral was closed and its end-of-service report (*laporan akhir "
            "layanan*) can be read; after the close's `status_changed`.",
        ),
        ("referral.follow_up_recorded", "An aftercare follow-up was recorded (`follow_up_id`)."),
        (
            "referral.rectification_requested",
            "Kemensos or the sentra asked the prison to correct case data (SPEC §12); "
            "`data.rectification_request_id` names the request.",
        ),
        ("referral.consent_withdrawn", "The person withdrew consent (SPEC §12)."),
        (
            "referral.handover_reached",
            "Moment: responsibility passed to Kemensos (the handover date, or "
            "`supervision.ended`).",
        ),
        ("referral.triage_overdue", "Moment: a `received` referral passed `triage_due_at`."),
        (
            "referral.stalled",
            "Moment: no transition or record for `RUJUKAN_STALL_DAYS` (again each period).",
        ),
        ("referral.follow_up_due", "Moment: an aftercare follow-up fell due."),
    ],
    [(c.code.value, f"**{c.name_id}**: {c.name_en}.") for c in ATENSI_COMPONENTS],
    [
        ("low", "**Rendah**: a low need."),
        ("medium", "**Sedang**: a moderate need."),
        ("high", "**Tinggi**: a high need, to address first."),
    ],
    [
        ("has", "**Ada**: the person holds the document."),
        ("missing", "**Tidak ada**: the person has none (to be issued by Dukcapil)."),
        ("unknown", "**Tidak diketahui**: not known yet."),
    ],
    [
        ("sentra", "**Di sentra**: at the sentra."),
        ("facility", "**Di UPT**: at the prison (before release) or another facility."),
        ("home", "**Kunjungan rumah**: a home visit."),
        ("online", "**Daring**: by video or phone."),
        ("other", "**Lainnya**: elsewhere (`location.detail` says where)."),
    ],
    [
        ("attended", "**Hadir**: the person came."),
        ("late", "**Terlambat**: the person came late."),
        ("missed", "**Tidak hadir**: the person did not come (`referral.appointment_missed`)."),
        ("cancelled", "**Dibatalkan**: called off; may be recorded before `starts_at`."),
    ],
    [
        ("all", "**Semua pihak**: every party that reads the referral (keep health out)."),
        ("kemensos", "**Internal Kemensos**: Kemensos and the assigned sentra only."),
    ],
    [
        ("achieved", "**Tercapai**: the goal was reached."),
        ("partially_achieved", "**Tercapai sebagian**: partly reached."),
        ("not_achieved", "**Tidak tercapai**: not reached."),
    ],
]
ENUM_MEANINGS: dict[frozenset[str], list[tuple[str, str]]] = {
    frozenset(code for code, _ in rows): rows for rows in _ENUMS
}


def _enum_values(node: dict[str, Any]) -> frozenset[str] | None:
    """The enum values of a schema, of its array items, or of its non-null anyOf member."""
    candidates = [node, node.get("items")]
    candidates += list(node.get("anyOf") or [])
    candidates += [m.get("items") for m in node.get("anyOf") or [] if isinstance(m, dict)]
    for candidate in candidates:
        if isinstance(candidate, dict) and isinstance(candidate.get("enum"), list):
            return frozenset(v for v in candidate["enum"] if isinstance(v, str))
    return None


def _describe(target: dict[str, Any], values: frozenset[str]) -> None:
    rows = ENUM_MEANINGS.get(values)
    if rows is None:
        return
    text = "Values:\n\n" + _bullets(rows)
    current = target.get("description")
    target["description"] = f"{current}\n\n{text}" if current else text


def _walk_schemas(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _walk_schemas(item)
        return
    if not isinstance(node, dict):
        return
    values = _enum_values(node)
    if values is not None:
        _describe(node, values)
        return
    for value in node.values():
        _walk_schemas(value)


def describe_enums(schema: dict[str, Any]) -> None:
    _walk_schemas(schema.get("components", {}).get("schemas", {}))
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                values = _enum_values(parameter.get("schema", {}))
                if values is not None:
                    _describe(parameter, values)


def describe_operations(schema: dict[str, Any]) -> None:
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not operation.get("description"):
                text = OPERATION_DESCRIPTIONS.get(f"{method.upper()} {path}")
                if text:
                    operation["description"] = text


def used_tags(schema: dict[str, Any]) -> list[dict[str, str]]:
    """The tag texts of the tags some operation uses, in TAGS order."""
    used = {
        tag
        for operations in schema.get("paths", {}).values()
        for operation in operations.values()
        for tag in operation.get("tags", [])
    }
    tags: list[dict[str, str]] = schema.get("tags", TAGS)
    return [t for t in tags if t["name"] in used]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def declare_problems(schema: dict[str, Any]) -> None:
    """Statuses every client should parse as a problem: 412/428 on operations that take
    `If-Match`, 500 on every `/v1` operation. Undeclared, a generated client drops them."""
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            headers = {
                p.get("name", "").lower()
                for p in operation.get("parameters", [])
                if p.get("in") == "header"
            }
            if "if-match" in headers:
                responses.setdefault("412", _problem("VERSION_MISMATCH: `If-Match` is stale"))
                responses.setdefault("428", _problem("PRECONDITION_REQUIRED: send `If-Match`"))
            if path.startswith("/v1/"):
                responses.setdefault("500", _problem("INTERNAL_ERROR: nothing was written"))


# Path and query parameters whose exact form the routes do not declare in their types:
# the service refuses anything else (a path segment with a 404, a cursor with a 400
# `INVALID_CURSOR`), so the schema says it, and a generated client can check it first.
_UUID = {"type": "string", "format": "uuid"}
PARAMETER_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("path", "referral_id"): _UUID,
    ("path", "client_id"): _UUID,
    ("path", "subscription_id"): _UUID,
    ("path", "delivery_id"): _UUID,
    ("path", "code"): {"type": "string", "pattern": rf"^{UNIT_CODE}$"},
    ("query", "cursor"): {"type": "string", **CURSOR_SCHEMA},
    ("query", "after"): {"type": "string", **CURSOR_SCHEMA},
    # `*` is no version (428), nor is anything but an ETag the service issued (412).
    ("header", "If-Match"): {"type": "string", "pattern": r'^(W/)?"[0-9]+"$'},
    # A guide's name as app/ops/guides.py serves it (`_NAME`; a test holds them equal).
    ("path", "name"): {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{0,63}$"},
}
# Parameters the service needs though the route declares them optional (to answer their
# absence with its own code: `If-Match` missing is a 428, not a 422).
REQUIRED_PARAMETERS = frozenset({("header", "If-Match")})


def exact_parameters(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                key = (parameter.get("in", ""), parameter.get("name", ""))
                exact = PARAMETER_SCHEMAS.get(key)
                if exact is not None:
                    title = parameter.get("schema", {}).get("title")
                    parameter["schema"] = {**exact, **({"title": title} if title else {})}
                if key in REQUIRED_PARAMETERS:
                    parameter["required"] = True


# SPEC §1: the reasons a request valid against its operation's schema may still be refused
# (400/422), per operation id: what no schema here can say. Each is listed in the
# operation's description; the fuzz suite (tests/fuzz/hooks.py) lets through exactly these.
# A location (a pointer, or a parameter's name) narrows the code to that place.
EVENT_RULES = (
    ("UNKNOWN_REGION", None, "a well-formed region code that is not in the 2025 table"),
    ("REGION_MISMATCH", None, "region codes that do not nest"),
    (
        "INVALID_DATE",
        None,
        "a date that does not exist, or out of its range (SPEC §3) relative to today "
        "or to another date",
    ),
    ("INVALID_NIK", None, "16 digits without a real DDMMYY, or of an unknown province"),
    ("INVALID_TEXT", None, "a blank name, format characters, or a non-printable reference"),
    *(
        (code, None, "a rule across fields (SPEC §3)")
        for code in (
            "NIK_OR_REASON_REQUIRED",
            "PAS_WARGA_BINAAN_REQUIRED",
            "PAS_WARGA_BINAAN_NOT_CONVICTED",
            "PAS_CHILD_REQUIRES_ANAK_RENTAN",
            "GUARDIAN_REQUIRED",
            "GUARDIAN_CONSENT_REQUIRED",
            "CONSENT_DETAIL_REQUIRED",
            "CONSENT_NOT_RECORDED",
            "CONSENT_EVIDENCE_REQUIRED",
            "PAS_LANSIA_AGE",
            "PAS_PEREMPUAN_SEX",
            "PAS_NAPZA_HIV_DETAIL_REQUIRED",
            "PAS_DISABILITY_DETAIL_REQUIRED",
            "PPKS_TYPE_MISMATCH",
            "SUPERVISION_END_REQUIRED",
            "SUPERVISION_END_NOT_ALLOWED",
            "BAPAS_REQUIRED",
            "BAPAS_NOT_ALLOWED",
        )
    ),
)
_FILTERS: tuple[tuple[str, str | None, str], ...] = (
    (
        "INVALID_DATE",
        None,
        "a day that does not exist, `release_date_to` before `release_date_from`, or a "
        "`created_` bound UTC cannot hold",
    ),
)
_FILTERS += (
    (
        "INVALID_VALUE",
        "q",
        "no letter or digit to search for (a pattern cannot name Unicode letters)",
    ),
)
_CURSOR = (("INVALID_CURSOR", None, "a cursor the service did not issue for this query"),)
_SENTRA = (
    ("UNKNOWN_REGION", None, "a well-formed region code that is not in the 2025 table"),
    ("REGION_MISMATCH", None, "a regency outside the sentra's province"),
)
BEYOND_SCHEMA: dict[str, tuple[tuple[str, str | None, str], ...]] = {
    "post_event": EVENT_RULES,
    "list_referrals": _FILTERS + _CURSOR,
    "referral_stats": _FILTERS,
    "export_referrals": _FILTERS,
    "get_durations": _FILTERS,
    "post_consent_withdrawal": (
        ("INVALID_DATE", "/withdrawn_at", "a withdrawal in the future (5 minutes of clock skew)"),
    ),
    "post_follow_up": (
        (
            "INVALID_DATE",
            "/done_on",
            "a `done_on` in the future or before the referral's close (in RUJUKAN_TIMEZONE)",
        ),
    ),
    "post_transition": (
        ("FIELD_REQUIRED", None, "a field the action needs (SPEC §4)"),
        ("INVALID_VALUE", None, "a reason or outcome that is not the action's"),
        ("UNKNOWN_SENTRA", None, "a sentra that is not active in the registry"),
        ("UNKNOWN_GOAL", None, "a report goal that is not a goal of the plan"),
        ("REPORT_REQUIRED", "/report", "`completed` or `ended_early` without the report"),
        ("REPORT_INCOMPLETE", "/report/goals", "a goal of the plan without its result"),
    ),
    "post_assessment": (
        ("INVALID_DATE", "/assessed_on", "an assessment dated in the future"),
        *(
            ("INVALID_VALUE", f"/needs/{i}/component", "a component listed twice")
            for i in range(len(ATENSI_COMPONENTS))
        ),
    ),
    "put_plan": (
        ("UNKNOWN_GOAL", None, "a goal `id` that is not a goal of the plan"),
        ("INVALID_VALUE", None, "a goal `id` listed twice"),
    ),
    "post_service": (
        (
            "INVALID_DATE",
            "/delivered_on",
            "a day in the future, or before the referral was created",
        ),
        ("UNKNOWN_GOAL", "/goal_id", "a goal that is not a goal of the plan"),
    ),
    "post_note": (
        (
            "INVALID_VALUE",
            "/audience",
            "`kemensos` from a prison or a Bapas: only Kemensos and the sentra write it",
        ),
    ),
    "regencies": (("UNKNOWN_REGION", "province_code", "not a 2025 province code"),),
    "create_sentra": _SENTRA,
    "replace_sentra": (
        *_SENTRA,
        ("INVALID_VALUE", "/code", "the body's code differs from the path's"),
    ),
    "create_client": tuple(
        (code, f"/{field}", "each role is bound to its own kind of code, and to one at least")
        for code in ("INVALID_VALUE", "FIELD_REQUIRED")
        for field in ("facility_codes", "sentra_codes", "bapas_codes")
    ),
    "list_audit_events": _CURSOR,
    "list_disclosures": _CURSOR,
    "list_audit_seals": _CURSOR,
    "create_subscription": (
        ("URL_NOT_ALLOWED", "/url", "a target on a loopback, private or non-public address"),
    ),
    "list_deliveries": _CURSOR,
    "read_feed": _CURSOR,
}


def document_refusals(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            reasons = BEYOND_SCHEMA.get(operation.get("operationId", ""))
            if not reasons:
                continue
            lines = [
                f"- `{code}`{f' (`{where}`)' if where else ''}: {why}"
                for code, where, why in reasons
            ]
            operation["description"] = (
                operation.get("description", "").rstrip()
                + "\n\n**Refused though valid against this schema** (what no schema can say; "
                "400/422 with these codes):\n" + "\n".join(lines)
            ).lstrip()


def enrich(schema: dict[str, Any]) -> None:
    schema["tags"] = used_tags(schema)
    describe_operations(schema)
    describe_enums(schema)
    exact_parameters(schema)
    document_refusals(schema)
    declare_problems(schema)


def _catalogue_markdown() -> str:
    lines = [
        "## Error catalogue",
        "",
        "| code | status | meaning |",
        "|---|---|---|",
    ]
    for code, entry in CATALOGUE.items():
        status = str(entry.status) if entry.status else "in `errors[]`/`warnings[]`"
        lines.append(f"| `{code}` | {status} | {entry.meaning} |")
    return "\n".join(lines)


CONVENTIONS_TAG = "Conventions and errors"


def conventions_markdown() -> str:
    """The introduction, the conventions of every operation and the error catalogue: the
    last tag's description, and the page /guides/conventions."""
    return INTRODUCTION + "\n" + CONVENTIONS + "\n" + _catalogue_markdown()


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document `/openapi.json` serves (and `openapi/openapi.json` holds)."""
    if app.openapi_schema:
        return app.openapi_schema
    tags = [
        {**tag, "description": conventions_markdown()} if tag["name"] == CONVENTIONS_TAG else tag
        for tag in TAGS
    ]
    schema = get_openapi(
        title="Rujukan",
        version=__version__,
        description=DESCRIPTION,
        routes=app.routes,
        tags=tags,
    )
    components = schema.setdefault("components", {})
    # Every problem response refers to it (app/core/openapi.py); no route returns it.
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in problem.pop("$defs", {}).items():
        components.setdefault("schemas", {}).setdefault(name, sub)
    components["schemas"]["Problem"] = problem
    components["securitySchemes"] = {
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "rjk_…",
            "description": "Client API key, shown once at creation.",
        }
    }
    for path, operations in schema.get("paths", {}).items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                operation["security"] = [{"apiKey": []}]
    enrich(schema)
    app.openapi_schema = schema
    return schema
