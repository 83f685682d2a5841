"""Registry of background jobs by task name (``tasks.Task``), and running one.

Job modules declare jobs with ``@job(Task.MATCHING_MATCH_CHUNK, queue="matching")``; the modules
are listed in ``JOB_MODULES`` (no scan). The Celery worker turns each job into a task of that
name; the embedded mode runs the same handler in a thread. Handlers take a ``JobContext`` and
keyword ids only, and must be idempotent: the outbox and Celery's late acknowledgement may
deliver a job more than once. A job that raises is retried by the outbox alone
(``outbox.record_failure``), never by Celery.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from config.celery import QUEUES, SCHEDULE
from config.logging import get_logger
from panel_service import heartbeat, outbox
from panel_service.metrics import JOBS_DEAD
from panel_service.tasks import Task

if TYPE_CHECKING:
    from config.settings import Settings
    from panel_service.db import Database
    from panel_service.mail import Mailer

log = get_logger(__name__)

# Every module that declares jobs, imported by ``load_all_jobs`` (a setting may add more:
# PANEL_EXTRA_JOB_MODULES, which the tests use for their own jobs).
JOB_MODULES = (
    "panel_service.relays",
    "panel_service.services.account_mail",
    "panel_service.services.email_change",
    "panel_service.services.answer_mail",
    "panel_service.services.contact.jobs",
    "panel_service.services.matching",
    "panel_service.services.question_reminders",
    "panel_service.services.review_mail",
)


class Relay(Protocol):
    """Publishes outbox rows: to Celery, or to the in-process runner (``relays``)."""

    def notify(self, ids: list[int]) -> None: ...

    def publish_due(self) -> int: ...

    def close(self) -> None: ...


class JobContext(Protocol):
    """What a job may use: the settings, the database, the mailer and the relay. The
    ``runtime.Runtime`` of each process is one."""

    settings: Settings
    database: Database
    mailer: Mailer
    relay: Relay


JobHandler = Callable[..., Any]


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: JobHandler
    queue: str


JOBS: dict[str, JobSpec] = {}


def job(name: str, *, queue: str = "default") -> Callable[[JobHandler], JobHandler]:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    name = str(name)  # a Task is stored by its plain value

    def register(handler: JobHandler) -> JobHandler:
        existing = JOBS.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"job {name!r} registered twice")
        JOBS[name] = JobSpec(name=name, handler=handler, queue=queue)
        return handler

    return register


def load_all_jobs(extra_modules: Sequence[str] = ()) -> dict[str, JobSpec]:
    """Import the job modules (``JOB_MODULES`` and the ``extra_modules`` a setting names) so that
    their ``@job`` declarations register, then check that every task has its handler."""
    for name in (*JOB_MODULES, *extra_modules):
        importlib.import_module(name)
    check_handlers()
    return JOBS


def check_handlers() -> None:
    """Every ``Task`` has a handler and every beat entry names a ``Task``: a name queued (or
    scheduled) without a handler would fail only when its row is run, over and over."""
    missing = sorted(task.value for task in Task if task.value not in JOBS)
    names = {task.value for task in Task}
    unknown = sorted(entry.task for entry in SCHEDULE if entry.task not in names)
    if missing or unknown:
        raise RuntimeError(f"tasks without a handler: {missing}; beat entries naming no task: {unknown}")


def queue_for(task_name: str) -> str:
    spec = JOBS.get(task_name)
    return spec.queue if spec else "default"


def run_job(
    context: JobContext, task_name: str, payload: dict[str, Any], outbox_id: int | None = None
) -> Any:
    """Run one job by name. With an outbox row: take the row's run lease first (a delivery of a row
    that is done, dead or running elsewhere does nothing), renew it by a heartbeat while the job
    runs, mark the row done afterwards if the lease is still this run's. When the job raises, the
    failure is recorded on the outbox row (the retry is the outbox's) and the error re-raised.
    A job that lost its lease stops (``LeaseLost``) and leaves the row to the run that took it."""
    settings = context.settings
    spec = JOBS.get(task_name) or load_all_jobs(settings.job_modules).get(task_name)
    if outbox_id is None:
        if spec is None:
            raise LookupError(f"no job named {task_name!r}")
        return spec.handler(context, **payload)
    owner = heartbeat.new_owner()
    if not outbox.start_run(context.database, outbox_id, owner, settings.outbox_lease_seconds):
        return None  # a duplicate delivery of work done, dead, or running under another lease
    with heartbeat.running(context, outbox_id, owner):
        try:
            if spec is None:
                raise LookupError(f"no job named {task_name!r}")
            result = spec.handler(context, **payload)
        except heartbeat.LeaseLost:
            log.warning("job.lease_lost", task=task_name, outbox_id=outbox_id)
            return None
        except Exception as exc:
            _record_failure(context, outbox_id, exc, owner)
            raise
    if not outbox.complete_run(context.database, outbox_id, owner):
        log.warning("job.lease_lost", task=task_name, outbox_id=outbox_id)
    return result


def _record_failure(context: JobContext, outbox_id: int, exc: BaseException, owner: str) -> None:
    settings = context.settings
    failure = outbox.record_failure(
        context.database,
        outbox_id,
        exc,
        max_attempts=settings.job_max_attempts,
        retry_base_seconds=settings.job_retry_base_seconds,
        retry_max_seconds=settings.job_retry_max_seconds,
        owner=owner,
    )
    if failure is None:
        return
    error = outbox.describe_error(exc)
    if failure.dead:
        JOBS_DEAD.labels(failure.task).inc()
        log.error("job.dead", outbox_id=outbox_id, task=failure.task, attempts=failure.attempts, error=error)
    else:
        log.warning(
            "job.retry", outbox_id=outbox_id, task=failure.task, attempts=failure.attempts, error=error
        )
