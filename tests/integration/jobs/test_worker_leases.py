"""Leases on the real parts: a live ``celery -A workers worker`` subprocess, Redis and PostgreSQL.
A job lost with a SIGKILLed worker runs again on the next worker without waiting out a long lease
(the default settings: a 30 s lease, renewed while the job runs, and the 15 s reconcile beat); a
job running longer than its lease is not published again or started twice while it runs. The test
plays ``celery beat`` with ``beat_tick``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from panel_service import outbox
from panel_service.models import OutboxMessage
from panel_service.runtime import CeleryRelay, Runtime
from tests.support.services import redis_url_for_tests
from tests.support.slow_jobs import SLOW, runs
from tests.support.worker import (
    LiveWorker,
    SlowSmtpRecorder,
    beat_tick,
    slow_smtp_server,
    wait_until,
    worker_env,
)

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.redis]

# Well under the 300 s lease that was the default before leases were renewed by a heartbeat.
REDONE_WITHIN = 120


@pytest.fixture()
def smtp_server() -> Iterator[SlowSmtpRecorder]:
    with slow_smtp_server(hold_seconds=0) as smtp:
        yield smtp


def run(settings: Settings, tmp: Path, smtp: SlowSmtpRecorder, **env: str) -> tuple[Runtime, LiveWorker]:
    """A publisher (this process) and a started worker, with the same settings where they matter."""
    broker_url = redis_url_for_tests()
    updates: dict[str, object] = {"celery_broker_url": broker_url}
    if "PANEL_OUTBOX_LEASE_SECONDS" in env:
        updates["outbox_lease_seconds"] = int(env["PANEL_OUTBOX_LEASE_SECONDS"])
    publisher = Runtime(settings.model_copy(update=updates))
    assert isinstance(publisher.relay, CeleryRelay)
    worker_settings = worker_env(
        settings.database_url, broker_url, smtp, PANEL_EXTRA_JOB_MODULES="tests.support.slow_jobs", **env
    )
    worker = LiveWorker(worker_settings, tmp / "worker")
    worker.start()
    return publisher, worker


def enqueue(publisher: Runtime, payload: dict[str, object]) -> int:
    with publisher.database.session_scope() as session:
        message = outbox.enqueue(session, SLOW, payload)
        assert message is not None
        return message.id  # published to the worker when this commits


def row(publisher: Runtime, outbox_id: int) -> OutboxMessage:
    with publisher.database.session_scope() as session:
        found = session.get(OutboxMessage, outbox_id)
        assert found is not None
        session.expunge(found)
        return found


def test_the_job_of_a_killed_worker_is_redone_by_the_next_worker_without_waiting_out_a_long_lease(
    settings: Settings, committed_runtime: Runtime, smtp_server: SlowSmtpRecorder, tmp_path: Path
) -> None:
    publisher, worker = run(settings, tmp_path, smtp_server)  # the default leases
    log = tmp_path / "runs.log"
    try:
        outbox_id = enqueue(publisher, {"path": str(log), "seconds": 600, "again_seconds": 0})
        wait_until(lambda: len(runs(log)) == 1, 60, "the job to start on the worker")
        worker.kill()  # mid-job: no ack, no cleanup, its lease no longer renewed
        worker.start()

        def redone() -> bool:
            beat_tick(publisher)
            return row(publisher, outbox_id).completed_at is not None

        wait_until(redone, REDONE_WITHIN, "the lost job to be redone", interval=1.0)
    finally:
        worker.stop()
        publisher.close()
    assert [line.split()[0] for line in runs(log)] == ["start", "start", "end"]


def test_a_job_running_longer_than_its_lease_is_not_published_again_or_run_twice(
    settings: Settings, committed_runtime: Runtime, smtp_server: SlowSmtpRecorder, tmp_path: Path
) -> None:
    lease = 5
    publisher, worker = run(settings, tmp_path, smtp_server, PANEL_OUTBOX_LEASE_SECONDS=str(lease))
    log = tmp_path / "runs.log"
    try:
        outbox_id = enqueue(publisher, {"path": str(log), "seconds": lease * 2.5})
        wait_until(lambda: len(runs(log)) == 1, 60, "the job to start on the worker")
        # Beat every half second while it runs (two worker processes are free to take a duplicate).
        deadline = time.monotonic() + 120
        while row(publisher, outbox_id).completed_at is None and time.monotonic() < deadline:
            beat_tick(publisher)
            time.sleep(0.5)
        done = row(publisher, outbox_id)
    finally:
        worker.stop()
        publisher.close()
    assert done.completed_at is not None
    assert [line.split()[0] for line in runs(log)] == ["start", "end"]
    assert done.publish_count == 1
