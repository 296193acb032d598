"""One Settings object, read from `RUJUKAN_*` environment variables, checked at start."""

from __future__ import annotations

import base64
import binascii
import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./var/rujukan.db"


_MAKE_KEY = "`openssl rand -base64 32` makes one"


class ConfigError(Exception):
    """A setting that cannot work: the process stops with this one line (SPEC §9)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUJUKAN_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_SQLITE_URL,
        description="SQLAlchemy async URL; sqlite+aiosqlite (embedded) or postgresql+asyncpg.",
    )
    data_key: SecretStr | None = Field(
        default=None,
        description="Base64 of 32 random bytes; encrypts the most sensitive fields at rest.",
    )
    previous_data_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated base64 keys still accepted for decryption during a "
        "key rotation (`rujukan keys rotate` moves every row to RUJUKAN_DATA_KEY).",
    )
    audit_signing_key: SecretStr | None = Field(
        default=None,
        description="Base64 of a 32-byte Ed25519 seed that signs the audit log's seals "
        "(SPEC §8); required with PostgreSQL, generated beside the embedded database.",
    )
    audit_seal_interval_seconds: float = Field(
        default=20.0,
        gt=0,
        le=60,
        description="How often the worker seals new audit rows (at most a minute apart).",
    )
    retention_days: int = Field(
        default=1825,
        ge=1,
        description="Days after a referral ended (closed, rejected, cancelled) before "
        "`rujukan retention` anonymises it.",
    )
    event_retention_days: int = Field(
        default=90,
        ge=1,
        description="Days outbox events and webhook delivery logs are kept; the worker prunes "
        "older ones (never an event not yet delivered). A feed cursor older than that is a "
        "410 CURSOR_EXPIRED.",
    )
    timezone: str = "Asia/Jakarta"
    triage_days: int = Field(default=14, ge=0, le=365)
    stall_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Days without a transition or a record (notes aside) before an "
        "assigned, in-service or held referral is `referral.stalled`, and again after each "
        "further period.",
    )
    moment_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How often the moment scheduler looks for moments that came due.",
    )
    rate_limit_per_second: float = Field(default=100.0, gt=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    auth_failures_per_second: float = Field(
        default=0.5,
        gt=0,
        description="Failed authentications a source address may make per second, after "
        "`auth_failure_burst`; past them its requests are 429 before any key is looked up "
        "(a key this process authenticated recently still passes).",
    )
    auth_failure_burst: int = Field(default=30, ge=1)
    key_grace_seconds: int = Field(default=86_400, ge=0)
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long a process remembers an authenticated API key. Deactivation "
        "and rotation apply at once in the process that made them, within this time in "
        "other replicas; 0 looks every key up.",
    )
    intake_group_max_events: int = Field(
        default=100,
        ge=1,
        le=500,
        description="Group commit: at most this many single-event requests of one client "
        "that arrive while earlier ones are being written are applied in one transaction "
        "(1: one each, still at most `intake_group_in_flight` at a time per client). A "
        "lone request is never held back.",
    )
    intake_group_in_flight: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Group commit: transactions of one client's single-event requests that "
        "may be in progress at once.",
    )
    webhook_allow_private: bool = False
    db_pool_size: int = Field(
        default=20,
        ge=1,
        le=200,
        description="PostgreSQL connections a process keeps open. Size it to the requests "
        "in flight: a connection beyond it (overflow) is opened for one request and closed "
        "after it, which costs a connect and re-preparing every statement.",
    )
    db_max_overflow: int = Field(default=10, ge=0, le=500)
    log_level: str = Field(
        default="INFO", pattern="^(?i:debug|info|warning|error|critical)$", description="Log level."
    )
    host: str = Field(default="127.0.0.1", description="`rujukan serve`'s address.")
    port: int = Field(default=8000, ge=1, le=65535, description="`rujukan serve`'s port.")
    run_worker_in_process: bool | None = Field(
        default=None,
        description="Run the webhook relay inside `rujukan serve`; unset: yes on the "
        "embedded SQLite default, no on PostgreSQL (run `rujukan worker` instead).",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a claimed delivery stays invisible to other workers; must "
        "exceed the per-attempt timeout. A worker that dies mid-attempt is retried after it.",
    )
    webhook_backoff_base_seconds: float = Field(default=5.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    webhook_retry_window_seconds: float = Field(default=3 * 86_400.0, gt=0)
    webhook_secret_overlap_seconds: int = Field(default=86_400, ge=0)
    webhook_poll_interval_seconds: float = Field(
        default=0.25,
        gt=0,
        le=60,
        description="How often the relay looks for new events and due retries when nothing "
        "woke it (a fallback while wake-ups are on).",
    )
    webhook_wakeups: bool = Field(
        default=True,
        description="Wake the relay when an event commits: LISTEN/NOTIFY on PostgreSQL, an "
        "in-process signal on the embedded database. false: polling only.",
    )
    webhook_concurrency: int = Field(default=16, ge=1, le=512)
    worker_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve /metrics from `rujukan worker`."
    )

    @model_validator(mode="after")
    def _lease_outlasts_attempt(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "RUJUKAN_WEBHOOK_LEASE_SECONDS must exceed RUJUKAN_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self

    @property
    def worker_in_process(self) -> bool:
        if self.run_worker_in_process is None:
            return self.is_sqlite
        return self.run_worker_in_process

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            return value
        scheme = value.split("://", 1)[0] if "://" in value else value[:20]
        raise ValueError(
            f"`{scheme}://…` names no asynchronous driver: use postgresql+asyncpg://user:pass@"
            "host/db for PostgreSQL, or sqlite+aiosqlite:///path for the embedded database"
        )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}: an IANA name such as Asia/Jakarta, Asia/Makassar "
                "or Asia/Jayapura"
            ) from exc
        return value

    @field_validator("data_key", "audit_signing_key")
    @classmethod
    def _key_is_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"not standard base64 ({_MAKE_KEY})") from exc
        if len(raw) != 32:
            raise ValueError(f"decodes to {len(raw)} bytes, not 32 ({_MAKE_KEY})")
        return value

    @field_validator("previous_data_keys")
    @classmethod
    def _previous_keys_are_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for n, part in enumerate(value.get_secret_value().split(","), start=1):
            try:
                raw = base64.b64decode(part.strip(), validate=True)
            except binascii.Error as exc:
                raise ValueError(f"key {n} is not standard base64") from exc
            if part.strip() and len(raw) != 32:
                raise ValueError(f"key {n} decodes to {len(raw)} bytes, not 32")
        return value

    def resolve_previous_keys(self) -> list[bytes]:
        if self.previous_data_keys is None:
            return []
        keys = []
        for part in self.previous_data_keys.get_secret_value().split(","):
            if part.strip():
                keys.append(base64.b64decode(part.strip(), validate=True))
        return keys

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        _, _, path = self.database_url.partition(":///")
        return Path(path) if path and path != ":memory:" else None

    def resolve_data_key(self) -> bytes:
        return self._resolve_key(self.data_key, "RUJUKAN_DATA_KEY", ".key")

    def resolve_audit_signing_key(self) -> bytes:
        """The Ed25519 seed that signs audit seals: configured, or (embedded default only)
        a key file beside the database, like the data key."""
        return self._resolve_key(self.audit_signing_key, "RUJUKAN_AUDIT_SIGNING_KEY", ".audit-key")

    def _resolve_key(self, configured: SecretStr | None, variable: str, suffix: str) -> bytes:
        """A key: configured, or (embedded default only) a key file beside the DB.

        PostgreSQL is the production database: there a missing key is a start-up error,
        never a silently generated key that a restart on another host would not know.
        """
        if configured is not None:
            return base64.b64decode(configured.get_secret_value())
        db_path = self.sqlite_path
        if db_path is None:
            raise ConfigError(
                f"{variable}: required with PostgreSQL, base64 of 32 random bytes ({_MAKE_KEY})"
            )
        key_file = db_path.with_name(db_path.name + suffix)
        if key_file.exists():
            raw = base64.b64decode(key_file.read_text().strip())
            if len(raw) != 32:
                raise ConfigError(f"{key_file} does not hold a 32-byte key (base64)")
            return raw
        key_file.parent.mkdir(parents=True, exist_ok=True)
        raw = os.urandom(32)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(raw).decode() + "\n")
        return raw


@lru_cache
def get_settings() -> Settings:
    return Settings()
