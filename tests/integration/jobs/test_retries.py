"""Failed background jobs in the embedded mode (PostgreSQL and SQLite): the outbox retries them
with a backoff, gives up after PANEL_JOB_MAX_ATTEMPTS (dead), counts them in /metrics, and an
operator lists and re-queues them with ``panel jobs``. The live-worker version is in
tests/integration/pipeline/test_worker_faults.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from panel_service import outbox
from panel_service.cli import main
from panel_service.models import OutboxMessage
from panel_service.runtime import InProcessRelay, Runtime
from panel_service.timeutil import as_utc, utcnow
from tests.support.failing_jobs import FAIL_ALWAYS
from tests.support.worker import wait_until

MAX_ATTEMPTS = 3


@pytest.fixture()
def quick(committed_runtime: Runtime) -> Iterator[Runtime]:
    """Real commits, three attempts, each retry due a second after the failure."""
    original = committed_runtime.settings
    committed_runtime.settings = original.model_copy(
        update={
            "job_max_attempts": MAX_ATTEMPTS,
            "job_retry_base_seconds": 1.0,
            "job_retry_max_seconds": 1.0,
            "extra_job_modules": "tests.support.failing_jobs",
        }
    )
    try:
        yield committed_runtime
    finally:
        committed_runtime.settings = original


def row(runtime: Runtime, outbox_id: int) -> OutboxMessage:
    with runtime.database.session_scope() as session:
        found = session.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id))
        assert found is not None
        session.expunge(found)
        return found


def test_a_failing_job_is_retried_with_backoff_then_dead_and_an_operator_requeues_it(
    quick: Runtime, app: Flask
) -> None:
    relay = quick.relay
    assert isinstance(relay, InProcessRelay)
    with quick.database.session_scope() as session:
        message = outbox.enqueue(session, FAIL_ALWAYS, {"note": "one"})
        assert message is not None
        outbox_id = message.id

    assert relay.drain() == 1
    first = row(quick, outbox_id)
    assert (first.attempts, first.dead_at, first.lease_until, first.completed_at) == (1, None, None, None)
    assert first.last_error == "tests.support.failing_jobs.AlwaysFails"  # the type, not the message
    assert first.last_failed_at is not None and as_utc(first.available_at) > as_utc(first.last_failed_at)

    def dead() -> bool:
        relay.drain()
        return row(quick, outbox_id).dead_at is not None

    wait_until(dead, 30, "the job to be given up", interval=0.2)
    final = row(quick, outbox_id)
    assert final.attempts == MAX_ATTEMPTS and final.completed_at is None
    assert "example.org" not in (final.last_error or "")
    assert relay.drain() == 0  # a dead row is never published again

    with app.test_client() as client:
        scraped = client.get("/metrics").get_data(as_text=True)
    assert "panel_jobs_dead 1.0" in scraped
    assert f'panel_jobs_given_up_total{{task="{FAIL_ALWAYS}"}}' in scraped

    env = {"DATABASE_URL": quick.settings.database_url, "PANEL_ENV": "test", "LOG_LEVEL": "WARNING"}
    runner = CliRunner()
    listed = runner.invoke(main, ["jobs", "dead"], env=env)
    assert listed.exit_code == 0, listed.output
    fields = listed.stdout.strip().split("\t")
    assert fields[:4] == [str(outbox_id), FAIL_ALWAYS, str(MAX_ATTEMPTS), final.last_error]
    assert len(fields) == 7 and all(fields[4:])

    assert runner.invoke(main, ["jobs", "retry"], env=env).exit_code == 2  # ids or --all
    unknown = runner.invoke(main, ["jobs", "retry", str(outbox_id + 1000)], env=env)
    assert unknown.exit_code == 1 and "not dead" in unknown.stderr
    requeued = runner.invoke(main, ["jobs", "retry", str(outbox_id)], env=env)
    assert requeued.exit_code == 0, requeued.output
    again = row(quick, outbox_id)
    assert (again.attempts, again.dead_at) == (0, None)
    assert as_utc(again.available_at) <= utcnow()
    assert runner.invoke(main, ["jobs", "dead"], env=env).stdout == ""

    assert relay.drain() == 1  # due now: it runs (and fails) once more, a fresh set of attempts
    assert row(quick, outbox_id).attempts == 1
