"""Short leases renewed by a heartbeat, in the embedded mode (PostgreSQL and SQLite): a job that
runs longer than its lease keeps it and is neither published again nor started a second time; a
lease taken over is never renewed and its old run stops; a claim being sent keeps its lease, and a
claim whose process died is reported ambiguous when its lease ends. The live-worker versions (a
SIGKILLed worker's job redone) are in tests/integration/jobs/test_worker_leases.py."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from panel_service import heartbeat, jobs, outbox
from panel_service.models import Invitation, OutboxMessage
from panel_service.runtime import InProcessRelay, Runtime
from panel_service.services import contact, matching
from panel_service.timeutil import as_utc, utcnow
from tests.factories import make_recruiting_study, make_volunteer
from tests.support.pipeline import NARROW
from tests.support.slow_jobs import SLOW, runs
from tests.support.worker import wait_until

LEASE = 5  # the smallest the settings allow


@pytest.fixture()
def short(committed_runtime: Runtime) -> Iterator[Runtime]:
    """Real commits (the heartbeat writes from its own thread), five-second job leases."""
    original = committed_runtime.settings
    committed_runtime.settings = original.model_copy(
        update={"outbox_lease_seconds": LEASE, "extra_job_modules": "tests.support.slow_jobs"}
    )
    try:
        yield committed_runtime
    finally:
        committed_runtime.settings = original


def enqueue(runtime: Runtime, task: str, payload: dict[str, object]) -> int:
    with runtime.database.session_scope() as session:
        message = outbox.enqueue(session, task, payload)
        assert message is not None
        outbox.forget_ids(session)  # the test delivers it, not the relay
        return message.id


def row(runtime: Runtime, outbox_id: int) -> OutboxMessage:
    with runtime.database.session_scope() as session:
        found = session.get(OutboxMessage, outbox_id)
        assert found is not None
        session.expunge(found)
        return found


def test_a_job_running_longer_than_its_lease_keeps_it_and_never_runs_twice_at_once(
    short: Runtime, tmp_path: Path
) -> None:
    relay = short.relay
    assert isinstance(relay, InProcessRelay)
    log = tmp_path / "runs.log"
    payload = {"path": str(log), "seconds": LEASE * 1.6}
    outbox_id = enqueue(short, SLOW, payload)
    [published] = outbox.lease(short.database, LEASE)
    first = threading.Thread(target=jobs.run_job, args=(short, SLOW, payload, published.id))
    first.start()
    try:
        wait_until(lambda: len(runs(log)) == 1, 30, "the first run to start")
        # While it runs, past its first lease: a duplicate delivery, and the reconciler, every 0.2 s.
        assert jobs.run_job(short, SLOW, payload, outbox_id=outbox_id) is None
        while first.is_alive():
            relay.drain()
            first.join(timeout=0.2)
    finally:
        first.join()
    assert [line.split()[0] for line in runs(log)] == ["start", "end"]
    done = row(short, outbox_id)
    assert done.completed_at is not None
    assert done.publish_count == 1  # never published again while it ran


def test_a_lease_taken_over_is_never_renewed_and_its_old_run_stops(short: Runtime, tmp_path: Path) -> None:
    outbox_id = enqueue(short, SLOW, {"path": str(tmp_path / "unused"), "seconds": 0})
    assert outbox.start_run(short.database, outbox_id, "run-a", LEASE)
    assert not outbox.start_run(short.database, outbox_id, "run-b", LEASE)  # held: no second run
    with heartbeat.running(short, outbox_id, "run-a") as beat:
        assert beat.beat()
        heartbeat.check_lease()  # still held: carries on
        # Its lease ran out unrenewed (a frozen process) and another run took the row over.
        taken_until = utcnow().replace(microsecond=0)
        with short.database.session_scope() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id)
                .values(lease_owner="run-b", lease_until=taken_until)
            )
        assert not beat.beat()
        with pytest.raises(heartbeat.LeaseLost):
            heartbeat.check_lease()
    taken = row(short, outbox_id)
    assert (taken.lease_owner, as_utc(taken.lease_until)) == ("run-b", taken_until)  # not extended
    assert not outbox.complete_run(short.database, outbox_id, "run-a")
    assert row(short, outbox_id).completed_at is None
    assert outbox.complete_run(short.database, outbox_id, "run-b")


def test_a_claim_keeps_its_lease_while_its_send_runs_and_a_dead_claim_is_reported_when_it_ends(
    short: Runtime, tmp_path: Path
) -> None:
    runtime = short
    runtime.settings = runtime.settings.model_copy(update={"claim_lease_seconds": 1})
    today = dt.date.today()
    with runtime.database.session_scope() as session:
        volunteer = make_volunteer(
            session, birth_date=today.replace(year=today.year - 40), conditions=["G25.81"], medications=[]
        )
        study = make_recruiting_study(session, NARROW, start_matching=False)
        study_id, participant_id = study.id, volunteer.participant_id
    run_id = matching.start_study(runtime, study_id)
    assert run_id is not None
    matching.match_chunk(runtime, run_id, 0)
    claim = contact.claim_next(runtime).claim
    assert isinstance(claim, contact.Claimed)

    def status() -> str:
        with runtime.database.session_scope() as session:
            return str(
                session.scalar(select(Invitation.status).where(Invitation.participant_id == participant_id))
            )

    # The send runs (here: waits) three times as long as the claim lease, inside a job whose
    # heartbeat holds the claim: the detector leaves it alone.
    outbox_id = enqueue(runtime, SLOW, {"path": str(tmp_path / "unused"), "seconds": 0})
    assert outbox.start_run(runtime.database, outbox_id, "sender", LEASE)
    with (
        heartbeat.running(runtime, outbox_id, "sender"),
        heartbeat.holding(("claim", study_id, participant_id), contact.claim_renewer(runtime, claim)),
    ):
        for _ in range(6):
            threading.Event().wait(0.5)
            assert contact.detect_ambiguous(runtime) == 0
    assert status() == "claimed"
    # Then the process "dies" before recording the send: nothing renews the lease any more.
    wait_until(lambda: contact.detect_ambiguous(runtime) == 1, 30, "the dead claim to be reported")
    assert status() == "ambiguous"
