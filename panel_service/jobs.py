"""Registry of background jobs by task name.

Services declare jobs with ``@job("matching.match_chunk", queue="matching")``. The Celery
worker turns each into a task of that name; the embedded mode runs the same handler in a
thread. Handlers take the ``Runtime`` and keyword ids only, and must be idempotent: the
outbox and Celery's late acknowledgement may deliver a job more than once. A job that raises
is retried by the outbox alone (``outbox.record_failure``), never by Celery.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config.celery import QUEUES
from config.logging import get_logger

if TYPE_CHECKING:
    from panel_service.runtime import Runtime

log = get_logger(__name__)

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

    def register(handler: JobHandler) -> JobHandler:
        existing = JOBS.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"job {name!r} registered twice")
        JOBS[name] = JobSpec(name=name, handler=handler, queue=queue)
        return handler

    return register


def load_all_jobs(extra_modules: Sequence[str] = ()) -> dict[str, JobSpec]:
    """Import every service module so that their ``@job`` declarations register, and the
    ``extra_modules`` a setting names (PANEL_EXTRA_JOB_MODULES)."""
    import panel_service.services as services

    importlib.import_module("panel_service.outbox")
    for module in pkgutil.walk_packages(services.__path__, prefix="panel_service.services."):
        importlib.import_module(module.name)
    for name in extra_modules:
        importlib.import_module(name)
    return JOBS


def queue_for(task_name: str) -> str:
    spec = JOBS.get(task_name)
    return spec.queue if spec else "default"


def run_job(runtime: Runtime, task_name: str, payload: dict[str, Any], outbox_id: int | None = None) -> Any:
    """Run one job by name. With an outbox row: take the row's run lease first (a delivery of a row
    that is done, dead or running elsewhere does nothing), renew it by a heartbeat while the job
    runs, mark the row done afterwards if the lease is still this run's. When the job raises, the
    failure is recorded on the outbox row (the retry is the outbox's) and the error re-raised.
    A job that lost its lease stops (``LeaseLost``) and leaves the row to the run that took it."""
    from panel_service import heartbeat, outbox

    spec = JOBS.get(task_name) or load_all_jobs(runtime.settings.job_modules).get(task_name)
    if outbox_id is None:
        if spec is None:
            raise LookupError(f"no job named {task_name!r}")
        return spec.handler(runtime, **payload)
    owner = heartbeat.new_owner()
    if not outbox.start_run(runtime.database, outbox_id, owner, runtime.settings.outbox_lease_seconds):
        return None  # a duplicate delivery of work done, dead, or running under another lease
    with heartbeat.running(runtime, outbox_id, owner):
        try:
            if spec is None:
                raise LookupError(f"no job named {task_name!r}")
            result = spec.handler(runtime, **payload)
        except heartbeat.LeaseLost:
            log.warning("job.lease_lost", task=task_name, outbox_id=outbox_id)
            return None
        except Exception as exc:
            outbox.record_failure(runtime.database, runtime.settings, outbox_id, exc, owner=owner)
            raise
    if not outbox.complete_run(runtime.database, outbox_id, owner):
        log.warning("job.lease_lost", task=task_name, outbox_id=outbox_id)
    return result
