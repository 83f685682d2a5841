"""The Celery app, built from config/celery.py without a Flask app.

Every job registered with ``panel_service.jobs.job`` becomes a task of the same name. Tasks
are thin: ids in, the job runs in its own ``session_scope()``s, done.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery, Task
from celery.signals import setup_logging, task_postrun, task_prerun, worker_process_init

from config.celery import celery_settings
from config.logging import configure_logging, get_logger
from config.settings import load_settings
from panel_service import jobs
from panel_service.metrics import JOBS_RUN
from panel_service.runtime import Runtime

log = get_logger("panel.worker")
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        settings = load_settings()
        configure_logging(settings)
        _runtime = Runtime(settings)
    return _runtime


def build_celery() -> Celery:
    settings = load_settings()
    app = Celery("panel")
    app.conf.update(celery_settings(settings))
    for spec in jobs.load_all_jobs().values():
        _register(app, spec)
    return app


def _register(app: Celery, spec: jobs.JobSpec) -> None:
    @app.task(
        name=spec.name,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        queue=spec.queue,
        max_retries=None,
    )
    def run(self: Task, outbox_id: int | None = None, **payload: Any) -> Any:
        try:
            result = jobs.run_job(get_runtime(), spec.name, payload, outbox_id=outbox_id)
        except Exception as exc:
            JOBS_RUN.labels(spec.name, "error").inc()
            if outbox_id is None:
                raise
            # The outbox row keeps its lease; retry here with backoff, and should this worker
            # die the reconciler re-publishes the row when the lease runs out.
            countdown = min(300, 2 ** min(self.request.retries, 8))
            log.warning("task.retry", task=spec.name, error=str(exc), countdown=countdown)
            raise self.retry(exc=exc, countdown=countdown) from exc
        JOBS_RUN.labels(spec.name, "ok").inc()
        return result if isinstance(result, int | str | bool | type(None)) else None


@setup_logging.connect
def _setup_logging(**_: Any) -> None:
    # Ours, in the main process, before the pool forks: the children inherit a handler on the real
    # stderr. Without this receiver Celery sets up its own and replaces sys.stdout/sys.stderr with
    # a proxy to its logger; a child that then configured logging on sys.stderr wrote into that
    # proxy, which drops what it gets back from the root logger: no child's line ever reached the
    # worker's output. Having a receiver also tells Celery to leave the std streams alone.
    configure_logging(load_settings())


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    # A forked child must not reuse the parent's database connections.
    if _runtime is not None:
        _runtime.database.reset_after_fork()


@task_prerun.connect
def _bind_task_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, job=getattr(task, "name", None))


@task_postrun.connect
def _clear_task_context(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


app = build_celery()
