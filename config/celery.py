"""Celery settings as data, shared by the worker, beat and the web app's outbox relay.

Why these values:
- JSON only: payloads are ids; pickle would let a broker message run code.
- acks_late + reject_on_worker_lost + prefetch 1: a task killed mid-way is redelivered,
  and a worker holds at most one unacknowledged message. Every job is idempotent for this.
- time limits well under the Redis visibility timeout: otherwise Redis would hand a still
  running task to a second worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.settings import Settings

QUEUES = ("matching", "contact", "maintenance", "default")
VISIBILITY_TIMEOUT_SECONDS = 3600
TASK_SOFT_TIME_LIMIT_SECONDS = 240
TASK_TIME_LIMIT_SECONDS = 270


@dataclass(frozen=True)
class ScheduleEntry:
    """A periodic job: every ``every_seconds``, or daily at ``daily_at`` (HH:MM, panel time zone)."""

    name: str
    task: str
    queue: str
    every_seconds: int | None = None
    daily_at: str | None = None


SCHEDULE: tuple[ScheduleEntry, ...] = (
    # Republishes jobs whose lease (PANEL_OUTBOX_LEASE_SECONDS, renewed while they run) ran out:
    # a job lost with its worker runs again within lease + 15 s.
    ScheduleEntry("outbox-reconcile", "outbox.reconcile", "maintenance", every_seconds=15),
    ScheduleEntry("outbox-purge", "outbox.purge", "maintenance", daily_at="03:30"),
    # Invitations whose send is due (retries after an SMTP outage, volunteers back under the
    # contact cap): often enough that one leaves within a minute of becoming due.
    ScheduleEntry("contact-sweep", "contact.sweep", "contact", every_seconds=30),
    # A claim whose lease (PANEL_CLAIM_LEASE_SECONDS, renewed while its send runs) ran out with no
    # send recorded becomes 'ambiguous': lease + 15 s, so a crashed claim shows within a minute.
    ScheduleEntry("contact-detect-ambiguous", "contact.detect_ambiguous", "maintenance", every_seconds=15),
    # Approvals end at midnight (panel time zone): pause those studies promptly, then every hour
    # in case the beat was down at midnight.
    ScheduleEntry(
        "matching-expire-approvals", "matching.expire_approvals", "maintenance", every_seconds=3600
    ),
    ScheduleEntry(
        "matching-expire-approvals-midnight", "matching.expire_approvals", "maintenance", daily_at="00:01"
    ),
    # Ages change and approvals expire: re-match every recruiting study once a night.
    ScheduleEntry("matching-nightly", "matching.nightly", "matching", daily_at="02:00"),
    ScheduleEntry("tokens-purge", "contact.purge_tokens", "maintenance", daily_at="03:45"),
    # Question reminders (at most one per volunteer per PANEL_QUESTION_REMINDER_DAYS): hourly, a
    # batch at a time (PANEL_QUESTION_REMINDER_BATCH), so a large panel is spread over the days.
    ScheduleEntry("questions-remind-due", "questions.remind_due", "default", every_seconds=3600),
)


def celery_settings(settings: Settings, schedule: tuple[ScheduleEntry, ...] = SCHEDULE) -> dict[str, Any]:
    from celery.schedules import crontab
    from kombu import Queue

    beat_schedule: dict[str, dict[str, Any]] = {}
    for entry in schedule:
        when: Any
        if entry.every_seconds is not None:
            when = float(entry.every_seconds)
        else:
            hour, minute = (entry.daily_at or "00:00").split(":")
            when = crontab(hour=hour, minute=minute)
        beat_schedule[entry.name] = {"task": entry.task, "schedule": when, "options": {"queue": entry.queue}}
    return {
        "broker_url": settings.celery_broker_url,
        "result_backend": settings.result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT_SECONDS,
        "task_time_limit": TASK_TIME_LIMIT_SECONDS,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        "broker_connection_retry_on_startup": True,
        # Off: with it on, every broker blip SIGTERMs the pool child running a late-acked task,
        # which may be between SMTP's 250 and recording ``sent`` (an invitation left ambiguous for
        # nothing). Every job is idempotent, so a running task finishes and records; its message,
        # if redelivered after the reconnect, finds the work done (the outbox row is completed, an
        # invitation is claimed at most once by its state). The cancelling path also crashed the
        # main process on a later reconnect (celery/celery#7185, #9250).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_ignore_result": True,
        "result_expires": 3600,
        "task_default_queue": "default",
        "task_queues": [Queue(name) for name in QUEUES],
        "task_create_missing_queues": False,
        "beat_schedule": beat_schedule,
        "timezone": settings.timezone,
        "enable_utc": True,
        "worker_hijack_root_logger": False,
        # The prefork pool with Celery's start-up check narrowed: a pool process killed before the
        # first broker connection no longer exits the worker (see workers/pool.py).
        "worker_pool": "workers.pool:TaskPool",
        "worker_send_task_events": True,
        "task_send_sent_event": True,
    }
