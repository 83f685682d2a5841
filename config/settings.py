"""Typed settings read once from the environment.

Every setting has the name an operator types (product contract §8). ``load_settings()`` validates
them all at start and raises ``SettingsError`` naming the bad variable, so a typo fails fast
instead of surfacing as a confusing error deep inside a request or a task.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production below
# Values that have been published as examples: anyone can sign sessions with them.
KNOWN_PLACEHOLDER_SECRETS = frozenset(
    {
        DEFAULT_SECRET_KEY,
        "change-me-to-a-long-random-string",  # .env.example
        "change-me",
        "changeme",
        "secret",
        "secret-key",
        "your-secret-key",
        "your-secret-key-here",
        "please-change-me",
        "test-secret-key-0123456789abcdef",  # the test suite's
    }
)
# 32 bytes: the size of the HMAC-SHA256 keys the secret stands for (sessions, CSRF, links).
MIN_SECRET_KEY_BITS = 256
# The estimate below reads a random key of exactly 256 bits as about 250; this floor lets such
# keys pass while anything with a quarter fewer bits (token_urlsafe(24): ~186) fails.
SECRET_KEY_ESTIMATE_FLOOR = 224
KEY_COMMAND = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
DEFAULT_INSTANCE_PATH = Path.cwd() / "instance"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    env: Literal["development", "production", "test"] = Field("development", alias="PANEL_ENV")
    instance_path: Path = Field(DEFAULT_INSTANCE_PATH, alias="PANEL_INSTANCE_PATH")
    database_url: str = Field("", alias="DATABASE_URL")
    celery_broker_url: str | None = Field(None, alias="CELERY_BROKER_URL")
    celery_result_backend: str | None = Field(None, alias="CELERY_RESULT_BACKEND")
    secret_key: str = Field(DEFAULT_SECRET_KEY, alias="SECRET_KEY", min_length=16)
    smtp_host: str | None = Field(None, alias="SMTP_HOST")
    smtp_port: int = Field(25, alias="SMTP_PORT", ge=1, le=65535)
    smtp_username: str | None = Field(None, alias="SMTP_USERNAME")
    smtp_password: str | None = Field(None, alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, alias="SMTP_STARTTLS")
    smtp_ssl: bool = Field(False, alias="SMTP_SSL")
    smtp_timeout_seconds: float = Field(10.0, alias="SMTP_TIMEOUT", gt=0)
    mail_from: str = Field("Panel <no-reply@panel.invalid>", alias="MAIL_FROM")
    base_url: str = Field("http://127.0.0.1:5000", alias="PANEL_BASE_URL")
    timezone: str = Field("UTC", alias="PANEL_TIMEZONE")
    small_cell_threshold: int = Field(11, alias="PANEL_SMALL_CELL_THRESHOLD", ge=1)
    contact_cap: int = Field(2, alias="PANEL_CONTACT_CAP", ge=1)
    contact_cap_days: int = Field(30, alias="PANEL_CONTACT_CAP_DAYS", ge=1)
    # The "questions that matter" reminder email goes to a volunteer at most once in this many
    # days (about six months: often enough that answers stay fresh, rarely enough not to nag),
    # and the beat checks at most this many volunteers an hour (each check evaluates the
    # volunteer against every recruiting study in memory).
    question_reminder_days: int = Field(182, alias="PANEL_QUESTION_REMINDER_DAYS", ge=1)
    question_reminder_batch: int = Field(500, alias="PANEL_QUESTION_REMINDER_BATCH", ge=1)
    # A bulk match is split into PANEL_MATCH_WORKERS chunks, or a multiple of it, none larger
    # than PANEL_MATCH_CHUNK_SIZE profile ids (domain.chunks.chunk_plan).
    match_chunk_size: int = Field(125_000, alias="PANEL_MATCH_CHUNK_SIZE", ge=1)
    match_workers: int = Field(2, alias="PANEL_MATCH_WORKERS", ge=1)
    send_max_attempts: int = Field(8, alias="PANEL_SEND_MAX_ATTEMPTS", ge=1)
    link_ttl_days: int = Field(30, alias="PANEL_LINK_TTL_DAYS", ge=1)
    # A job's lease on its outbox row: taken when it is published and when it starts, renewed by
    # the running job's heartbeat every third of it. A job lost with its worker is published
    # again once it runs out (plus the 15 s reconcile beat): short, so lost work resumes within a
    # minute; long enough that two missed heartbeats do not give away a running job.
    outbox_lease_seconds: int = Field(30, alias="PANEL_OUTBOX_LEASE_SECONDS", ge=5)
    # A background job that raises is retried by the outbox (the one owner of retries) after
    # base * 2^(attempts-1) seconds, at most the max; after this many failed runs it is dead
    # (counted in /metrics, listed by `panel jobs dead`, re-queued by `panel jobs retry`).
    job_max_attempts: int = Field(8, alias="PANEL_JOB_MAX_ATTEMPTS", ge=1)
    job_retry_base_seconds: float = Field(5.0, alias="PANEL_JOB_RETRY_BASE_SECONDS", gt=0)
    job_retry_max_seconds: float = Field(600.0, alias="PANEL_JOB_RETRY_MAX_SECONDS", gt=0)
    # Further modules whose @job declarations the worker and the in-process runner load
    # (comma-separated import paths); empty in production, the test suite adds a failing job.
    extra_job_modules: str = Field("", alias="PANEL_EXTRA_JOB_MODULES")
    # First retry delay after SMTP refused an invitation; doubles per attempt (capped at 1 h).
    send_retry_base_seconds: float = Field(30.0, alias="PANEL_SEND_RETRY_BASE_SECONDS", gt=0)
    # An invitation's claim lease: taken at claim, renewed by the sending job's heartbeat while
    # the send runs. A claim whose lease ran out (its process died between claim and record) is
    # marked 'ambiguous' by the next detector beat (every 15 s): reported within a minute.
    claim_lease_seconds: int = Field(30, alias="PANEL_CLAIM_LEASE_SECONDS", ge=1)
    # Crash tests only (panel_service/faults.py): kill the sending process at a window of a send.
    # Refused unless PANEL_ENV=test.
    fault_inject: str = Field("", alias="PANEL_FAULT_INJECT")
    feasibility_rate_limit: str = Field("30 per hour", alias="PANEL_FEASIBILITY_RATE_LIMIT")
    ratelimit_storage_uri: str = Field("memory://", alias="RATELIMIT_STORAGE_URI")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    log_format: Literal["json", "console"] | None = Field(None, alias="LOG_FORMAT")
    argon2_time_cost: int = Field(2, alias="PANEL_ARGON2_TIME_COST", ge=1)
    argon2_memory_kib: int = Field(19_456, alias="PANEL_ARGON2_MEMORY_KIB", ge=8)
    argon2_parallelism: int = Field(1, alias="PANEL_ARGON2_PARALLELISM", ge=1)
    run_jobs_in_process: bool | None = Field(None, alias="PANEL_IN_PROCESS_JOBS")
    # A web session ends this long after sign-in whatever the activity (the idle limit is 12 h).
    # Staff sessions reach every study of an organisation or the review queue, so they are short.
    session_max_age_volunteer_hours: float = Field(168, alias="PANEL_SESSION_MAX_AGE_VOLUNTEER_HOURS", gt=0)
    session_max_age_staff_hours: float = Field(12, alias="PANEL_SESSION_MAX_AGE_STAFF_HOURS", gt=0)
    # /metrics answers these client networks (comma-separated CIDRs) or a bearer token; 404 otherwise.
    metrics_allow: str = Field("127.0.0.0/8,::1", alias="PANEL_METRICS_ALLOW")
    metrics_token: str | None = Field(None, alias="PANEL_METRICS_TOKEN", min_length=16)
    # Reverse proxies in front of gunicorn whose X-Forwarded-For/-Proto are believed. 0: the peer
    # address is the client (otherwise every client would share the proxy's throttles).
    proxy_hops: int = Field(0, alias="PANEL_PROXY_HOPS", ge=0, le=5)
    # Who answers for the volunteers' data (GDPR Art. 13): named on the privacy, about and contact
    # pages. Unset, the pages say "the organisation that runs this panel" (in the page's language);
    # an operator sets their own organisation's name, postal address and a monitored address.
    controller_name: str = Field("", alias="PANEL_CONTROLLER_NAME")
    controller_address: str = Field("", alias="PANEL_CONTROLLER_ADDRESS")
    contact_email: str = Field(
        "privacy@panel.invalid", alias="PANEL_CONTACT_EMAIL", pattern=r"^[^@\s]+@[^@\s]+$"
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {value!r}") from exc
        backend = url.get_backend_name()
        if backend not in {"postgresql", "sqlite"}:
            raise ValueError(f"unsupported database {backend!r}: use postgresql:// or sqlite://")
        if backend == "postgresql" and url.drivername in {"postgresql", "postgres"}:
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("base_url")
    @classmethod
    def _absolute_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"not a network: {part.strip()!r} (use CIDRs like 10.0.0.0/8)") from exc
        return value

    @model_validator(mode="after")
    def _fill_defaults_and_guard_production(self) -> Settings:
        if not self.database_url:
            path = self.instance_path / "panel.sqlite3"
            object.__setattr__(self, "database_url", f"sqlite:///{path}")
        if self.fault_inject:
            if self.env != "test":
                raise ValueError(
                    "PANEL_FAULT_INJECT kills processes on purpose and is accepted only with PANEL_ENV=test"
                )
            from panel_service.faults import parse

            parse(self.fault_inject)
        if self.env == "production":
            if self.secret_key == DEFAULT_SECRET_KEY:
                raise ValueError(
                    f"SECRET_KEY must be set in production (PANEL_ENV=production); make one with {KEY_COMMAND}"
                )
            problem = secret_key_problem(self.secret_key)
            if problem:
                raise ValueError(f"{problem}; make one with {KEY_COMMAND}")
            if self.is_sqlite:
                raise ValueError("DATABASE_URL must point at PostgreSQL in production, not SQLite")
        return self

    @property
    def metrics_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.metrics_allow.split(",")
            if part.strip()
        )

    def session_max_age(self, role: str) -> dt.timedelta:
        hours = (
            self.session_max_age_volunteer_hours
            if role == "participant"
            else self.session_max_age_staff_hours
        )
        return dt.timedelta(hours=hours)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def jobs_in_process(self) -> bool:
        """Embedded mode: no broker configured, so the outbox relay runs jobs in a thread."""
        if self.run_jobs_in_process is not None:
            return self.run_jobs_in_process
        return not self.celery_broker_url

    @property
    def job_modules(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.extra_job_modules.split(",") if name.strip())

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def result_backend(self) -> str | None:
        return self.celery_result_backend or self.celery_broker_url

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("json" if self.env == "production" else "console")


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` cannot protect production, or None.

    The entropy estimate is length times bits per character, where a character is worth the
    smaller of its character classes' pool (lower, upper, digits, other) and what the key's
    distinct characters allow: generous to random keys (``token_urlsafe(32)`` or
    ``token_hex(32)`` pass), harsh to repetition (``"x" * 64`` scores 64 bits).
    """
    if key.strip().lower() in KNOWN_PLACEHOLDER_SECRETS:
        return "SECRET_KEY is a published placeholder, not a secret"
    if len(key.encode()) < MIN_SECRET_KEY_BITS // 8:
        return f"SECRET_KEY is too short: at least {MIN_SECRET_KEY_BITS // 8} bytes of random data are needed"
    if _estimated_bits(key) < SECRET_KEY_ESTIMATE_FLOOR:
        return (
            f"SECRET_KEY looks guessable (about {_estimated_bits(key):.0f} bits of entropy, "
            f"{MIN_SECRET_KEY_BITS} needed)"
        )
    return None


def _estimated_bits(key: str) -> float:
    pool = (
        26 * any(c.islower() for c in key)
        + 26 * any(c.isupper() for c in key)
        + 10 * any(c.isdigit() for c in key)
        + 33 * any(not c.isalnum() for c in key)
    )
    per_character = min(math.log2(max(pool, 2)), math.log2(len(set(key))) + 1)
    return len(key) * per_character


ENV_NAMES = {field.alias: name for name, field in Settings.model_fields.items() if field.alias}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from ``environ`` (default ``os.environ``) plus keyword overrides.

    Empty strings count as unset, as they do in docker-compose files and shells.
    """
    source = os.environ if environ is None else environ
    values: dict[str, object] = {alias: source[alias] for alias in ENV_NAMES if source.get(alias, "") != ""}
    for name, value in overrides.items():
        field = Settings.model_fields.get(name)
        if field is None:
            raise SettingsError(f"unknown setting {name!r}")
        values[field.alias or name] = value
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = error["loc"]
        if location:
            field_name = str(location[0])
            field = Settings.model_fields.get(field_name)
            variable = field.alias if field and field.alias else field_name
        else:
            variable = "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{variable}: {message}")
    return "invalid settings: " + "; ".join(problems)
