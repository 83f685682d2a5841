"""Faults of the services themselves: PostgreSQL restarted in immediate mode, Redis killed with -9,
pool processes SIGKILLed, on a live ``celery -A workers worker``. The database and the broker are
private to this module (tests/support/private_services.py): the shared ones on 5432 and 6379 serve
other test runs and are never restarted. Nothing here patches smtplib, Celery or the session.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from panel_service.db import make_engine
from panel_service.migrate import upgrade
from panel_service.models import Invitation
from panel_service.runtime import CeleryRelay, Runtime
from tests.conftest import make_test_settings, truncate_all
from tests.factories import make_recruiting_study, make_volunteer
from tests.support.pipeline import NARROW
from tests.support.private_services import PrivatePostgres, PrivateRedis, private_postgres, private_redis
from tests.support.worker import (
    LiveWorker,
    SlowSmtpRecorder,
    beat_tick,
    slow_smtp_server,
    wait_until,
    worker_env,
)

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.redis]

TODAY = dt.date.today()
ADULT = TODAY.replace(year=TODAY.year - 40)
OUTBOX_LEASE = 5
# Longer than any outage made here: recording a known outcome is retried for this long, and a
# claim only becomes ambiguous after it.
CLAIM_LEASE = 20


@dataclass
class Stack:
    pg: PrivatePostgres
    redis: PrivateRedis
    smtp: SlowSmtpRecorder
    publisher: Runtime
    worker: LiveWorker


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with private_postgres() as pg, private_redis() as redis, slow_smtp_server(hold_seconds=0) as smtp:
        database_url = pg.create_database("panel")
        engine = make_engine(database_url)
        upgrade(engine)
        engine.dispose()
        settings = make_test_settings(
            database_url,
            tmp_path_factory.mktemp("instance"),
            celery_broker_url=redis.url(),
            outbox_lease_seconds=OUTBOX_LEASE,
            claim_lease_seconds=CLAIM_LEASE,
        )
        publisher = Runtime(settings)
        assert isinstance(publisher.relay, CeleryRelay)
        env = worker_env(
            database_url,
            redis.url(),
            smtp,
            PANEL_MATCH_CHUNK_SIZE="7",
            PANEL_SEND_RETRY_BASE_SECONDS="0.5",
            PANEL_OUTBOX_LEASE_SECONDS=str(OUTBOX_LEASE),
            PANEL_CLAIM_LEASE_SECONDS=str(CLAIM_LEASE),
        )
        worker = LiveWorker(env, tmp_path_factory.mktemp("worker") / "worker", concurrency=2)
        worker.start()
        try:
            yield Stack(pg, redis, smtp, publisher, worker)
        finally:
            worker.stop()
            publisher.close()


@pytest.fixture()
def fresh(stack: Stack) -> Iterator[Stack]:
    """Both services up, empty tables and queues, a quiet SMTP recorder, a running worker."""

    def reset() -> None:
        if not stack.pg.running:
            stack.pg.start()
        if stack.redis.process is None:
            stack.redis.start()
        truncate_all(stack.publisher.database.engine)
        import redis

        client = redis.Redis.from_url(stack.redis.url())
        client.delete("matching", "contact", "maintenance", "default", "unacked", "unacked_index")
        client.close()
        with stack.smtp.lock:
            stack.smtp.messages.clear()
            stack.smtp.envelopes.clear()
        stack.smtp.refuse = False
        stack.smtp.hold_seconds = 0
        if not stack.worker.alive():
            stack.worker.start()

    reset()
    yield stack
    reset()


def statuses(publisher: Runtime, study_id: int) -> dict[int, str]:
    with publisher.database.session_scope() as session:
        rows = session.execute(
            select(Invitation.participant_id, Invitation.status).where(Invitation.study_id == study_id)
        )
        return {pid: status for pid, status in rows}


def wait_all(publisher: Runtime, study_id: int, count: int, status: str, timeout: float = 60.0) -> None:
    """Until ``count`` invitations are ``status``, playing beat meanwhile (the reconciler republishes
    what a lost broker dropped; the detector marks claims past their lease ambiguous)."""

    def done() -> bool:
        found = statuses(publisher, study_id)
        if len(found) == count and set(found.values()) == {status}:
            return True
        if set(found.values()) - {"queued", "claimed", status}:
            return True  # something ended otherwise (ambiguous, failed): the assertions say what
        beat_tick(publisher)
        return False

    wait_until(done, timeout, f"{count} invitations {status}", interval=0.5)


def test_a_postgres_restart_between_smtp_and_the_record_still_records_sent(fresh: Stack) -> None:
    publisher, smtp, pg = fresh.publisher, fresh.smtp, fresh.pg
    hold = 2.0
    smtp.hold_seconds = hold
    with publisher.database.session_scope() as session:
        volunteer = make_volunteer(session, birth_date=ADULT, conditions=["G25.81"], medications=[])
        study_id = make_recruiting_study(session, NARROW).id
    publisher.relay.publish_due()

    # The server has the message and holds its 250: PostgreSQL goes down now (immediate: every
    # connection cut, as in a crash) and is still down when the 250 comes, so the first attempt to
    # record ``sent`` fails; it comes back a moment later.
    smtp.wait_for(1, timeout=60)
    pg.stop("immediate")
    time.sleep(hold + 1.5)
    smtp.hold_seconds = 0
    pg.start()

    wait_until(
        lambda: statuses(publisher, study_id) == {volunteer.participant_id: "sent"},
        CLAIM_LEASE - 2,
        "the invitation recorded as sent, within the claim lease",
        interval=0.5,
    )
    for _ in range(3):
        beat_tick(publisher)
        time.sleep(0.5)
    assert statuses(publisher, study_id) == {volunteer.participant_id: "sent"}
    assert smtp.to_addresses() == [volunteer.email]
    assert "invitation.recorded_after_retry" in fresh.worker.output()


def test_redis_killed_during_a_dispatch_burst_every_invitation_sent_once(fresh: Stack) -> None:
    publisher, smtp, redis = fresh.publisher, fresh.smtp, fresh.redis
    smtp.hold_seconds = 0.4
    with publisher.database.session_scope() as session:
        volunteers = [
            make_volunteer(session, birth_date=ADULT, conditions=["G25.81"], medications=[])
            for _ in range(12)
        ]
        study_id = make_recruiting_study(session, NARROW).id
    publisher.relay.publish_due()

    # Mid-burst, with a message held by the server: the broker dies (every queued message with it,
    # no persistence) and comes back on the same port a moment later.
    smtp.wait_for(3, timeout=60)
    redis.kill()
    time.sleep(1.0)
    redis.start()
    smtp.hold_seconds = 0

    wait_all(publisher, study_id, len(volunteers), "sent", timeout=90)
    assert statuses(publisher, study_id) == {v.participant_id: "sent" for v in volunteers}
    assert sorted(smtp.to_addresses()) == sorted(v.email for v in volunteers)
    assert fresh.worker.alive()


def test_a_pool_processs_log_lines_reach_the_workers_output(fresh: Stack) -> None:
    publisher, smtp = fresh.publisher, fresh.smtp
    with publisher.database.session_scope() as session:
        volunteer = make_volunteer(session, birth_date=ADULT, conditions=["G25.81"], medications=[])
        study_id = make_recruiting_study(session, NARROW).id
    publisher.relay.publish_due()
    wait_all(publisher, study_id, 1, "sent")
    assert smtp.to_addresses() == [volunteer.email]

    # Logged in a pool process (the mailer's line and Celery's own task line), read from what the
    # main process as started by ``celery -A workers worker`` wrote.
    wait_until(lambda: "email.sent" in fresh.worker.output(), 10, "email.sent in the worker's output")
    output = fresh.worker.output()
    assert "example.org" in output.split("email.sent", 1)[1].splitlines()[0]  # to_domain, never the address
    assert "contact.dispatch_due" in output and "succeeded" in output


def test_the_main_process_survives_killed_pool_processes_and_two_broker_losses(fresh: Stack) -> None:
    publisher, smtp, redis, worker = fresh.publisher, fresh.smtp, fresh.redis, fresh.worker
    main_pid = worker.process.pid if worker.process else None
    killed = []
    for _ in range(4):
        killed.append(worker.kill_pool_child())
        wait_until(
            lambda: len(set(worker.pool_pids()) - set(killed)) >= worker.concurrency, 30, "the pool refilled"
        )
    for _ in range(2):
        redis.restart(down_seconds=1.0)
        time.sleep(1.0)
    assert worker.alive() and worker.process is not None and worker.process.pid == main_pid

    # A worker (re)started while the broker is down waits for it with its pool already forked; a
    # pool process killed in that wait used to end the worker when the broker came back
    # ("Could not start worker processes").
    worker.stop()
    redis.kill()
    worker.start(wait=False)
    wait_until(lambda: len(worker.pool_pids()) >= worker.concurrency, 30, "the pool forked")
    worker.kill_pool_child()
    time.sleep(0.5)
    redis.start()
    wait_until(lambda: " ready." in worker.output(), 30, "the worker connected")
    for _ in range(15):  # the old check ran just after "ready." and ended the process
        assert worker.alive(), worker.log()
        time.sleep(0.2)

    # And it keeps working.
    with publisher.database.session_scope() as session:
        volunteer = make_volunteer(session, birth_date=ADULT, conditions=["G25.81"], medications=[])
        study_id = make_recruiting_study(session, NARROW).id
    publisher.relay.publish_due()
    wait_all(publisher, study_id, 1, "sent")
    assert smtp.to_addresses() == [volunteer.email]
    assert worker.alive()
