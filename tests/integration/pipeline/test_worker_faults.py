"""The pipeline on the real parts: a live ``celery -A workers worker`` subprocess, Redis, PostgreSQL
and an aiosmtpd server; faults made for real (SIGKILL, SMTP refusing, locks held, duplicate
deliveries). Nothing here patches smtplib, Celery or the database session. The test plays
``celery beat`` with ``beat_tick`` (the same jobs, triggered now instead of on a timer).

Expectations are computed independently: ``narrow_expected`` is the example study's rule
written out in plain Python over the generated volunteers, not the criteria engine.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import and_, func, or_, select, text, update

from config.settings import Settings
from panel_service import outbox
from panel_service.models import (
    Consent,
    EthicsApproval,
    Invitation,
    MatchChunk,
    MatchRun,
    OutboxMessage,
    Participant,
    Study,
)
from panel_service.runtime import CeleryRelay, Runtime
from panel_service.services import matching, volunteers
from panel_service.timeutil import as_utc, panel_today, pause_ends_at
from tests.factories import add_condition, make_recruiting_study, make_volunteer
from tests.support.pipeline import NARROW, narrow_expected, seed_population
from tests.support.services import redis_url_for_tests
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
OUTBOX_LEASE = 5  # the smallest the settings allow: how soon a lost task is published again
CLAIM_LEASE = 2
JOB_MAX_ATTEMPTS = 3


QUEUE_KEYS = ("matching", "contact", "maintenance", "default", "unacked", "unacked_index")


@dataclass
class Stack:
    broker_url: str
    smtp: SlowSmtpRecorder
    publisher: Runtime
    worker: LiveWorker


@pytest.fixture(scope="module")
def stack(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker for the module (starting one costs seconds on a busy machine); tests that kill it
    start it again. The SMTP recorder can hold its answer to open the ambiguous window."""
    broker_url = redis_url_for_tests()
    publisher = Runtime(
        settings.model_copy(
            update={
                "celery_broker_url": broker_url,
                "outbox_lease_seconds": OUTBOX_LEASE,
                "claim_lease_seconds": CLAIM_LEASE,
            }
        )
    )
    assert isinstance(publisher.relay, CeleryRelay)
    with slow_smtp_server(hold_seconds=0) as smtp:
        env = worker_env(
            settings.database_url,
            broker_url,
            smtp,
            PANEL_MATCH_CHUNK_SIZE="7",
            PANEL_SEND_RETRY_BASE_SECONDS="0.5",
            PANEL_OUTBOX_LEASE_SECONDS=str(OUTBOX_LEASE),
            PANEL_CLAIM_LEASE_SECONDS=str(CLAIM_LEASE),
            PANEL_EXTRA_JOB_MODULES="tests.support.failing_jobs",
            PANEL_JOB_MAX_ATTEMPTS=str(JOB_MAX_ATTEMPTS),
            PANEL_JOB_RETRY_BASE_SECONDS="0.5",
            PANEL_JOB_RETRY_MAX_SECONDS="1",
        )
        worker = LiveWorker(env, tmp_path_factory.mktemp("worker") / "worker", concurrency=2)
        worker.start()
        try:
            yield Stack(broker_url, smtp, publisher, worker)
        finally:
            worker.stop()
            publisher.close()


@pytest.fixture()
def fresh(stack: Stack, committed_runtime: Runtime) -> Iterator[Stack]:
    """Empty tables (committed_runtime), empty queues, a quiet SMTP recorder, a running worker.
    Queues are emptied rather than flushing Redis: the worker's queue bindings live there too."""
    import redis

    def empty_queues() -> None:
        client = redis.Redis.from_url(stack.broker_url)
        client.delete(*QUEUE_KEYS)
        client.close()

    empty_queues()
    with stack.smtp.lock:
        stack.smtp.messages.clear()
        stack.smtp.envelopes.clear()
    stack.smtp.refuse = False
    stack.smtp.hold_seconds = 0
    if stack.worker.process is None:
        stack.worker.start()
    yield stack
    stack.smtp.refuse = False
    stack.smtp.hold_seconds = 0
    if stack.worker.process is None:
        stack.worker.start()
    empty_queues()


def statuses(publisher: Runtime, study_id: int) -> dict[int, tuple[str, str | None]]:
    with publisher.database.session_scope() as session:
        rows = session.execute(
            select(Invitation.participant_id, Invitation.status, Invitation.reason).where(
                Invitation.study_id == study_id
            )
        )
        return {pid: (status, reason) for pid, status, reason in rows}


def settled(publisher: Runtime, study_id: int) -> bool:
    """The run finished, no outbox row open, no invitation due or claimed (a paused volunteer's
    invitation waits, queued, for the end of the pause)."""
    with publisher.database.session_scope() as session:
        open_rows = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.completed_at.is_(None))
        )
        unfinished_runs = session.scalar(
            select(func.count())
            .select_from(MatchRun)
            .where(MatchRun.study_id == study_id, MatchRun.finished_at.is_(None))
        )
        runs = session.scalar(select(func.count()).select_from(MatchRun).where(MatchRun.study_id == study_id))
        pending = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(
                Invitation.study_id == study_id,
                or_(
                    Invitation.status == "claimed",
                    and_(
                        Invitation.status == "queued",
                        or_(Invitation.next_attempt_at.is_(None), Invitation.next_attempt_at <= func.now()),
                    ),
                ),
            )
        )
    return bool(runs) and not open_rows and not unfinished_runs and not pending


def settle(publisher: Runtime, study_id: int, timeout: float = 45.0) -> None:
    def ticked() -> bool:
        if settled(publisher, study_id):
            return True
        beat_tick(publisher)
        return False

    wait_until(ticked, timeout, "the pipeline to settle", interval=0.5)


def seed(publisher: Runtime, count: int, seed_value: int) -> tuple[int, set[str]]:
    with publisher.database.session_scope() as session:
        people = seed_population(session, count, seed=seed_value)
        study = make_recruiting_study(session, NARROW)
        expected = {v.email for v in people if narrow_expected(v, TODAY)}
        return study.id, expected


def test_recruit_emails_exactly_the_consistent_volunteers_once_despite_duplicate_deliveries(
    fresh: Stack,
) -> None:
    publisher, smtp = fresh.publisher, fresh.smtp
    study_id, expected = seed(publisher, 50, 3)
    assert len(expected) >= 3

    # Every task is delivered (at least) twice: a second publisher sends each outbox row again as
    # soon as it appears, usually while the first delivery is still running.
    duplicates = CeleryRelay(publisher)
    seen: set[int] = set()
    stop = threading.Event()

    def duplicate() -> None:
        while not stop.is_set():
            with publisher.database.session_scope() as session:
                rows = session.scalars(
                    select(OutboxMessage).where(OutboxMessage.id.not_in(seen or {0}))
                ).all()
                session.expunge_all()
            for row in rows:
                duplicates.send(row)
                seen.add(row.id)
            stop.wait(0.05)

    thread = threading.Thread(target=duplicate, daemon=True)
    thread.start()
    try:
        publisher.relay.publish_due()
        settle(publisher, study_id)
        time.sleep(1.0)  # let late duplicates run too
    finally:
        stop.set()
        thread.join(timeout=5)
        duplicates.close()
    assert len(seen) >= 10  # start + 8 chunks + dispatches were all duplicated

    assert sorted(smtp.to_addresses()) == sorted(expected)
    assert {status for status, _ in statuses(publisher, study_id).values()} == {"sent"}
    with publisher.database.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(MatchRun)) == 1
        assert session.scalar(select(func.sum(MatchChunk.matched))) == len(expected)


def test_changes_between_match_and_send_and_an_smtp_outage(
    fresh: Stack,
) -> None:
    publisher, smtp = fresh.publisher, fresh.smtp
    adult = TODAY.replace(year=TODAY.year - 40)
    with publisher.database.session_scope() as session:
        volunteers = [
            make_volunteer(session, birth_date=adult, conditions=["G25.81"], medications=[]) for _ in range(4)
        ]
        make_volunteer(session, birth_date=adult, conditions=["I10"], medications=[])
        study_id = make_recruiting_study(session, NARROW).id
    withdrawn, changed, paused, kept = volunteers
    smtp.refuse = True  # SMTP is down from the start
    publisher.relay.publish_due()

    def all_refused_once() -> bool:
        with publisher.database.session_scope() as session:
            attempts = session.scalars(
                select(Invitation.attempts).where(Invitation.study_id == study_id)
            ).all()
        return len(attempts) == 4 and all(a >= 1 for a in attempts)

    wait_until(all_refused_once, 30, "four invitations refused by SMTP at least once")
    assert smtp.to_addresses() == []
    with publisher.database.session_scope() as session:
        # Consent withdrawn the racy way (no cancel_pending yet), a profile that stopped matching
        # (no incremental match yet), a contact pause: the dispatcher must catch all three.
        session.execute(
            update(Consent)
            .where(Consent.participant_id == withdrawn.participant_id)
            .values(withdrawn_at=func.now())
        )
        add_condition(session, changed.participant_id, "N183")
        session.execute(
            update(Participant)
            .where(Participant.id == paused.participant_id)
            .values(contact_paused_until=TODAY + dt.timedelta(days=7))
        )
    time.sleep(1.0)  # SMTP stays down a little longer: more refused attempts, all retried
    smtp.refuse = False
    settle(publisher, study_id)

    assert smtp.to_addresses() == [kept.email]
    assert statuses(publisher, study_id) == {
        withdrawn.participant_id: ("cancelled", "consent_withdrawn"),
        changed.participant_id: ("cancelled", "no_longer_matches"),
        paused.participant_id: ("queued", None),  # held until the pause ends (P6)
        kept.participant_id: ("sent", None),
    }


def test_worker_killed_in_the_middle_of_a_chunk_redoes_it_without_duplicates(
    fresh: Stack,
) -> None:
    publisher, smtp, worker = fresh.publisher, fresh.smtp, fresh.worker
    with publisher.database.session_scope() as session:
        people = seed_population(session, 40, seed=5)
        study = make_recruiting_study(session, NARROW, start_matching=False)
        expected = {v.email for v in people if narrow_expected(v, TODAY)}
        study_id = study.id
    # The run and its chunk rows (start_study's first transaction alone: the job would go on to
    # match a chunk here, in the test's process).
    with publisher.database.session_scope() as session:
        run_id = matching.start_match_run(session, publisher.settings, study_id)
    assert run_id is not None

    # Hold the run row: a chunk inserts its invitations, then blocks on this lock before it can
    # mark itself done and commit. That is "the middle of a chunk".
    holder = publisher.database.engine.connect()
    holder_tx = holder.begin()
    holder.execute(select(MatchRun.id).where(MatchRun.id == run_id).with_for_update())
    try:
        publisher.relay.publish_due()

        def chunk_blocked() -> bool:
            with publisher.database.engine.connect() as probe:
                waiting = probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query ILIKE '%match_runs%'"
                    )
                ).scalar()
            return bool(waiting)

        wait_until(chunk_blocked, 30, "a chunk to block mid-way on the run lock")
        worker.kill()
    finally:
        holder_tx.rollback()
        holder.close()

    with publisher.database.session_scope() as session:
        # The killed chunks' inserts died with their transactions.
        assert (
            session.scalar(
                select(func.count()).select_from(MatchChunk).where(MatchChunk.done_at.is_not(None))
            )
            == 0
        )
        assert session.scalar(select(func.count()).select_from(Invitation)) == 0
    time.sleep(OUTBOX_LEASE + 0.5)  # the leases of the lost deliveries run out
    worker.start()
    settle(publisher, study_id, timeout=60)

    assert sorted(smtp.to_addresses()) == sorted(expected)
    with publisher.database.session_scope() as session:
        assert session.scalar(select(func.sum(MatchChunk.matched)).where(MatchChunk.run_id == run_id)) == len(
            expected
        )


def test_worker_killed_while_start_study_matches_its_own_chunk_redoes_it_without_duplicates(
    fresh: Stack,
) -> None:
    """``start_study`` goes on to match the run's last chunk itself (under that chunk's outbox row):
    the whole worker is killed while that chunk is mid-insert. The rows' leases run
    out, the reconciler publishes them again, and every expected email goes out exactly once."""
    publisher, smtp, worker = fresh.publisher, fresh.smtp, fresh.worker
    with publisher.database.session_scope() as session:
        people = seed_population(session, 40, seed=17)
        # The last volunteer matches: start_study's own chunk (the last id range) inserts a row.
        newest = make_volunteer(
            session, birth_date=TODAY.replace(year=TODAY.year - 40), conditions=["G25.81"], medications=[]
        )
        expected = {v.email for v in [*people, newest] if narrow_expected(v, TODAY)}
        study_id = make_recruiting_study(session, NARROW, start_matching=False).id
    assert newest.email in expected

    # Hold every volunteer row: a chunk's insert checks its foreign key to the volunteer
    # (FOR KEY SHARE) and waits here, mid-insert, in whichever process runs it.
    holder = publisher.database.engine.connect()
    holder_tx = holder.begin()
    holder.execute(select(Participant.id).with_for_update())
    try:
        with publisher.database.session_scope() as session:
            outbox.enqueue(session, "matching.start_study", {"study_id": study_id})

        def own_chunk_blocked() -> bool:
            with publisher.database.engine.connect() as probe:
                waiting = probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO invitations%'"
                    )
                ).scalar()
            if not waiting:
                return False
            with publisher.database.session_scope() as session:
                run = session.scalar(select(MatchRun).where(MatchRun.study_id == study_id))
                if run is None:
                    return False
                own = [
                    row
                    for row in session.scalars(
                        select(OutboxMessage).where(OutboxMessage.task_name == "matching.match_chunk")
                    )
                    if row.payload == {"run_id": run.id, "chunk_no": run.chunks_total - 1}
                ]
                return len(own) == 1 and own[0].lease_owner is not None and own[0].completed_at is None

        wait_until(own_chunk_blocked, 30, "start_study's own chunk to block mid-insert")
        time.sleep(0.5)  # let the other process reach its insert too, when its chunk has a match
        with publisher.database.session_scope() as session:
            run = session.scalar(select(MatchRun).where(MatchRun.study_id == study_id))
            assert run is not None and run.chunks_total >= 2
            run_id, last = run.id, run.chunks_total - 1
            start_row = session.scalar(
                select(OutboxMessage).where(OutboxMessage.task_name == "matching.start_study")
            )
            own = [
                row
                for row in session.scalars(
                    select(OutboxMessage).where(OutboxMessage.task_name == "matching.match_chunk")
                )
                if row.payload == {"run_id": run_id, "chunk_no": last}
            ]
            # start_study is still running, inside the last chunk's own job.
            assert start_row is not None and start_row.completed_at is None
            assert len(own) == 1 and own[0].lease_owner is not None and own[0].completed_at is None
        worker.kill()
    finally:
        holder_tx.rollback()
        holder.close()

    with publisher.database.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Invitation)) == 0
    time.sleep(OUTBOX_LEASE + 0.5)  # the leases of the killed runs run out
    worker.start()
    settle(publisher, study_id, timeout=60)

    assert sorted(smtp.to_addresses()) == sorted(expected)
    with publisher.database.session_scope() as session:
        assert session.scalar(select(func.sum(MatchChunk.matched)).where(MatchChunk.run_id == run_id)) == len(
            expected
        )
        assert (
            session.scalar(select(func.count()).select_from(MatchRun).where(MatchRun.study_id == study_id))
            == 1
        )


def test_expired_approval_sends_nothing_more(
    fresh: Stack,
) -> None:
    publisher, smtp = fresh.publisher, fresh.smtp
    adult = TODAY.replace(year=TODAY.year - 40)
    with publisher.database.session_scope() as session:
        volunteers = [
            make_volunteer(session, birth_date=adult, conditions=["G25.81"], medications=[]) for _ in range(3)
        ]
        study_id = make_recruiting_study(session, NARROW).id
    smtp.refuse = True
    publisher.relay.publish_due()
    wait_until(lambda: len(statuses(publisher, study_id)) == 3, 30, "three invitations")
    with publisher.database.session_scope() as session:
        session.execute(
            update(EthicsApproval)
            .where(
                EthicsApproval.study_version_id
                == select(Study.active_version_id).where(Study.id == study_id).scalar_subquery()
            )
            .values(approved_on=TODAY - dt.timedelta(days=400), expires_on=TODAY)
        )

    # Every claim decided from now on sees the expired approval. One decided just before may still
    # be on its way to the (refusing) SMTP server: the server comes back only once all three
    # invitations are cancelled, so the test does not race a send that was already under way.
    def all_cancelled() -> bool:
        if all(status == "cancelled" for status, _ in statuses(publisher, study_id).values()):
            return True
        beat_tick(publisher)
        return False

    wait_until(all_cancelled, 30, "the three invitations cancelled", interval=0.5)
    with publisher.database.session_scope() as session:
        newcomer = make_volunteer(session, birth_date=adult, conditions=["G25.81"], medications=[])
        matching.request_profile_match(session, newcomer.participant_id)
    smtp.refuse = False
    settle(publisher, study_id)
    for _ in range(3):
        beat_tick(publisher)
        time.sleep(0.5)

    assert smtp.to_addresses() == []
    # A row whose refused send was in flight when the study was paused comes back queued and is
    # then cancelled by the dispatcher for the pause itself; either way it is never sent.
    final = statuses(publisher, study_id)
    assert set(final) == {v.participant_id for v in volunteers}
    assert all(status == "cancelled" for status, _ in final.values())
    reasons = {reason for _, reason in final.values()}
    assert "approval_expired" in reasons and reasons <= {"approval_expired", "study_paused"}
    with publisher.database.session_scope() as session:
        assert session.scalar(select(Study.status).where(Study.id == study_id)) == "paused"


def test_a_send_the_worker_died_in_is_ambiguous_and_never_resent(
    fresh: Stack,
) -> None:
    publisher, smtp, worker = fresh.publisher, fresh.smtp, fresh.worker
    adult = TODAY.replace(year=TODAY.year - 40)
    smtp.hold_seconds = 8.0
    with publisher.database.session_scope() as session:
        volunteer = make_volunteer(session, birth_date=adult, conditions=["G25.81"], medications=[])
        study_id = make_recruiting_study(session, NARROW).id
    publisher.relay.publish_due()
    # The server has the message but has not said 250 yet: kill the worker in that window.
    smtp.wait_for(1, timeout=30)
    worker.kill()
    assert statuses(publisher, study_id) == {volunteer.participant_id: ("claimed", None)}
    smtp.hold_seconds = 0
    worker.start()
    time.sleep(CLAIM_LEASE + 0.5)
    settle(publisher, study_id)
    for _ in range(4):
        beat_tick(publisher)
        time.sleep(0.5)

    assert statuses(publisher, study_id) == {volunteer.participant_id: ("ambiguous", None)}
    assert smtp.to_addresses() == [volunteer.email]  # once: never resent automatically


def test_a_pause_holds_the_invitation_and_resuming_sends_it_once(fresh: Stack) -> None:
    publisher, smtp = fresh.publisher, fresh.smtp
    adult = TODAY.replace(year=TODAY.year - 40)
    with publisher.database.session_scope() as session:
        volunteer = make_volunteer(session, birth_date=adult, conditions=["G25.81"], medications=[])
        study_id = make_recruiting_study(session, NARROW).id
    smtp.refuse = True  # the first attempt is refused, so the invitation is still queued ...
    publisher.relay.publish_due()

    def refused_once() -> bool:
        found = statuses(publisher, study_id)
        with publisher.database.session_scope() as session:
            attempts = session.scalar(select(func.max(Invitation.attempts)))
        return bool(found) and (attempts or 0) >= 1 and set(found.values()) == {("queued", None)}

    wait_until(refused_once, 30, "the invitation refused once and queued again")
    with publisher.database.session_scope() as session:  # ... when the volunteer pauses contact
        participant = session.get(Participant, volunteer.participant_id)
        assert participant is not None
        until = panel_today(publisher.settings) + dt.timedelta(days=5)
        held_now = volunteers.pause_contact(session, publisher.settings, participant, until)
    # Held by the pause itself, or, when the retry (due 0.5 s after the refusal) had claimed it
    # just before, by the next claim once SMTP refused that attempt too: held either way.
    assert held_now in (0, 1)
    held_until = pause_ends_at(publisher.settings, until)

    def held() -> bool:
        beat_tick(publisher)
        with publisher.database.session_scope() as session:
            status, next_attempt = session.execute(
                select(Invitation.status, Invitation.next_attempt_at).where(Invitation.study_id == study_id)
            ).one()
        return status == "queued" and next_attempt is not None and as_utc(next_attempt) >= held_until

    wait_until(held, 30, "the invitation held until the pause ends", interval=0.5)
    smtp.refuse = False
    for _ in range(6):  # the beat keeps ticking, the worker keeps dispatching: nothing goes out
        beat_tick(publisher)
        time.sleep(0.5)
    assert smtp.to_addresses() == []
    assert statuses(publisher, study_id) == {volunteer.participant_id: ("queued", None)}

    with publisher.database.session_scope() as session:
        participant = session.get(Participant, volunteer.participant_id)
        assert participant is not None
        volunteers.resume_contact(session, publisher.settings, participant)
    smtp.wait_for(1, timeout=30)
    settle(publisher, study_id)
    for _ in range(3):
        beat_tick(publisher)
        time.sleep(0.3)
    assert smtp.to_addresses() == [volunteer.email]
    assert statuses(publisher, study_id) == {volunteer.participant_id: ("sent", None)}


def test_a_job_that_always_fails_ends_as_one_dead_row_with_nothing_in_flight(
    fresh: Stack, app: Flask
) -> None:
    import redis
    from celery import Celery

    from config.celery import celery_settings
    from tests.support.failing_jobs import FAIL_ALWAYS

    publisher = fresh.publisher
    with publisher.database.session_scope() as session:
        message = outbox.enqueue(session, FAIL_ALWAYS, {"note": "live"})
        assert message is not None
        outbox_id = message.id

    def dead() -> bool:
        beat_tick(publisher)  # the reconciler republishes the row whenever its retry is due
        with publisher.database.session_scope() as session:
            return (
                session.scalar(select(OutboxMessage.dead_at).where(OutboxMessage.id == outbox_id)) is not None
            )

    wait_until(dead, 60, "the always-failing job to be given up", interval=0.3)
    for _ in range(4):  # more beats: a dead row is never published again
        beat_tick(publisher)
        time.sleep(0.5)

    with publisher.database.session_scope() as session:
        rows = session.execute(
            select(OutboxMessage.attempts, OutboxMessage.publish_count, OutboxMessage.last_error).where(
                OutboxMessage.task_name == FAIL_ALWAYS
            )
        ).all()
    assert len(rows) == 1
    attempts, publishes, last_error = rows[0]
    assert attempts == JOB_MAX_ATTEMPTS and publishes == JOB_MAX_ATTEMPTS
    assert last_error == "tests.support.failing_jobs.AlwaysFails"

    client = redis.Redis.from_url(fresh.broker_url)
    try:
        assert [client.llen(name) for name in ("matching", "contact", "maintenance", "default")] == [0] * 4
        assert client.hlen("unacked") == 0
    finally:
        client.close()
    inspector = Celery("inspect", set_as_current=False)
    inspector.conf.update(celery_settings(publisher.settings))
    try:
        inspect = inspector.control.inspect(timeout=3.0)
        active, reserved = inspect.active(), inspect.reserved()
    finally:
        inspector.close()
    assert active and all(tasks == [] for tasks in active.values())
    assert reserved is not None and all(tasks == [] for tasks in reserved.values())

    with app.test_client() as web:
        assert "panel_jobs_dead 1.0" in web.get("/metrics").get_data(as_text=True)
