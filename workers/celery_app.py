"""The Celery app, built from config/celery.py without a Flask app.

Every job registered with ``panel_service.jobs.job`` becomes a task of the same name. Tasks
are thin: ids in, the job runs in its own ``session_scope()``s, done.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery, Task
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init, worker_process_init

from config.celery import celery_settings
from config.logging import configure_logging, get_logger
from config.settings import load_settings
from panel_service import jobs
from panel_service.domain.gazetteer import gazetteer
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
    for spec in jobs.load_all_jobs(settings.job_modules).values():
        _register(app, spec)
    return app


def _register(app: Celery, spec: jobs.JobSpec) -> None:
    # No Celery retries (max_retries=0, no autoretry): the outbox owns them. A failed run has been
    # recorded on its outbox row by run_job (attempts, error type, next attempt after a backoff,
    # lease released), and the reconciler publishes it again when due, or never once it is dead.
    @app.task(
        name=spec.name,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        queue=spec.queue,
        max_retries=0,
    )
    def run(self: Task, outbox_id: int | None = None, **payload: Any) -> Any:
        try:
            result = jobs.run_job(get_runtime(), spec.name, payload, outbox_id=outbox_id)
        except Exception:
            JOBS_RUN.labels(spec.name, "error").inc()
            if outbox_id is None:
                raise  # a beat job: the next tick runs it again
            log.exception("task.failed", task=spec.name, outbox_id=outbox_id)
            return None
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


@worker_init.connect
def _load_gazetteer(**_: Any) -> None:
    # Every invitation names its sites' towns (``gazetteer.site_text``). Loaded once here, in the
    # main process before the pool forks, the children share it instead of each spending most of
    # a second on its first email.
    gazetteer()


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
