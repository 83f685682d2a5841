"""The relays: how a committed outbox row reaches a worker, and the outbox's two beat jobs.

``CeleryRelay`` publishes rows to the broker by task name; ``InProcessRelay`` (the embedded mode)
runs them in a thread of this process, with a second thread for the beat schedule. Each takes the
process's ``JobContext`` (the ``Runtime``). ``outbox.reconcile`` publishes whatever is due and not
leased (a crash between commit and broker, a broker that was down); ``outbox.purge`` deletes
old completed rows.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time

from config.celery import SCHEDULE, ScheduleEntry, celery_settings
from config.logging import get_logger
from config.settings import Settings
from panel_service import jobs, outbox
from panel_service.jobs import JobContext, job
from panel_service.models import OutboxMessage
from panel_service.tasks import Task
from panel_service.timeutil import utcnow

log = get_logger(__name__)


class CeleryRelay:
    """Publishes leased outbox rows to the broker by task name."""

    def __init__(self, runtime: JobContext) -> None:
        from celery import Celery

        self.runtime = runtime
        self.client = Celery("panel-relay", set_as_current=False)
        self.client.conf.update(celery_settings(runtime.settings))

    def notify(self, ids: list[int]) -> None:
        self._publish(ids)

    def publish_due(self) -> int:
        return self._publish(None)

    def _publish(self, ids: list[int] | None) -> int:
        rows = outbox.lease(self.runtime.database, self.runtime.settings.outbox_lease_seconds, ids=ids)
        for row in rows:
            try:
                self.send(row)
            except Exception as exc:  # broker down: the reconciler publishes it again later
                log.warning("outbox.publish_failed", outbox_id=row.id, task=row.task_name, error=str(exc))
                outbox.release(
                    self.runtime.database,
                    row.id,
                    outbox.describe_error(exc),
                    retry_in=outbox.backoff(row.publish_count),
                )
        return len(rows)

    def send(self, row: OutboxMessage) -> None:
        jobs.load_all_jobs(self.runtime.settings.job_modules)
        self.client.send_task(
            row.task_name,
            kwargs={"outbox_id": row.id, **row.payload},
            queue=jobs.queue_for(row.task_name),
            retry=False,
            # No job's result is read. Without this, every send subscribes this process to the
            # task's result channel on the broker: a subscription per message that is never read,
            # and an ``AsyncResult`` whose garbage collection reconnects to a broker that is gone.
            ignore_result=True,
        )

    def close(self) -> None:
        self.client.close()


class InProcessRelay:
    """Embedded mode: a daemon thread runs published jobs; another runs the beat schedule.

    Threads start only with ``start()`` (the app factory does that outside tests); until then
    ``drain()`` runs every due job synchronously, which is what the tests use.
    """

    def __init__(self, runtime: JobContext, schedule: tuple[ScheduleEntry, ...] = SCHEDULE) -> None:
        self.runtime = runtime
        self.schedule = schedule
        self.pending: queue.Queue[int] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def notify(self, ids: list[int]) -> None:
        if self._threads:
            for outbox_id in ids:
                self.pending.put(outbox_id)

    def publish_due(self) -> int:
        return self.drain()

    def drain(self, max_rounds: int = 100) -> int:
        """Run due jobs until none are left (jobs may enqueue further jobs)."""
        ran = 0
        for _ in range(max_rounds):
            rows = outbox.lease(self.runtime.database, self.runtime.settings.outbox_lease_seconds)
            if not rows:
                break
            for row in rows:
                self._run(row)
                ran += 1
        return ran

    def _run(self, row: OutboxMessage) -> None:
        try:
            jobs.run_job(self.runtime, row.task_name, row.payload, outbox_id=row.id)
        except Exception:
            # run_job recorded the failure on the row: retried after the backoff, or dead.
            log.exception("job.failed", task=row.task_name, outbox_id=row.id)

    def start(self) -> None:
        if self._threads:
            return
        jobs.load_all_jobs(self.runtime.settings.job_modules)
        for target, name in ((self._work, "panel-jobs"), (self._beat, "panel-beat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                self.pending.get(timeout=1.0)
            except queue.Empty:
                continue
            try:
                self.drain()
            except Exception:
                log.exception("relay.drain_failed")

    def _beat(self) -> None:
        next_run: dict[str, float] = {}
        while not self._stop.wait(1.0):
            now = time.time()
            for entry in self.schedule:
                due = next_run.get(entry.name)
                if due is None:
                    next_run[entry.name] = _next_due(entry, now, self.runtime.settings)
                    if entry.every_seconds is None:
                        continue
                    due = now
                if now < due:
                    continue
                next_run[entry.name] = _next_due(entry, now, self.runtime.settings)
                try:
                    jobs.run_job(self.runtime, entry.task, {})
                except Exception:
                    log.exception("beat.job_failed", task=entry.task)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()


def _next_due(entry: ScheduleEntry, now: float, settings: Settings) -> float:
    if entry.every_seconds is not None:
        return now + entry.every_seconds
    hour, minute = (int(part) for part in (entry.daily_at or "00:00").split(":"))
    local_now = dt.datetime.fromtimestamp(now, settings.zone)
    target = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= local_now:
        target += dt.timedelta(days=1)
    return target.timestamp()


@job(Task.OUTBOX_RECONCILE, queue="maintenance")
def reconcile(context: JobContext) -> int:
    """Publish every due row whose lease is free or expired. Safe on two beats at once:
    leasing is a conditional update under row locks."""
    published = context.relay.publish_due()
    if published:
        log.info("outbox.reconciled", published=published)
    return published


@job(Task.OUTBOX_PURGE, queue="maintenance")
def purge(context: JobContext, keep_days: int = 14) -> int:
    with context.database.session_scope() as session:
        return outbox.purge_completed(session, utcnow() - dt.timedelta(days=keep_days))
