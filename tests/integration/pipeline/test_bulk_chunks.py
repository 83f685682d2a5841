"""The bulk match's chunks (issue 15 item 1): one per worker process, and the last one matched by
the job that starts the run, under that chunk's own outbox row and lease. PostgreSQL and SQLite,
jobs run through ``jobs.run_job`` as a worker runs them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from panel_service import jobs, outbox
from panel_service.models import Invitation, MatchChunk, MatchRun, OutboxMessage, Profile
from panel_service.runtime import Runtime
from panel_service.services import matching
from panel_service.tasks import Task
from tests.factories import make_recruiting_study
from tests.support.pipeline import NARROW, narrow_expected, seed_population

TODAY = dt.date.today()


@pytest.fixture()
def two_workers(runtime: Runtime) -> Iterator[Runtime]:
    original = runtime.settings
    runtime.settings = original.model_copy(update={"match_chunk_size": 125_000, "match_workers": 2})
    try:
        yield runtime
    finally:
        runtime.settings = original


def outbox_row(db: Session, task: str, **payload: int) -> OutboxMessage:
    db.expire_all()
    for row in db.scalars(select(OutboxMessage).where(OutboxMessage.task_name == task)):
        if all(row.payload.get(key) == value for key, value in payload.items()):
            return row
    raise AssertionError(f"no {task} row with {payload}")


def test_one_chunk_per_worker_and_the_starter_matches_the_last(db: Session, two_workers: Runtime) -> None:
    people = seed_population(db, 40, seed=23)
    expected = {v.participant_id for v in people if narrow_expected(v, TODAY)}
    assert expected
    study = make_recruiting_study(db, NARROW, start_matching=False)
    outbox.enqueue(db, Task.MATCHING_START_STUDY, {"study_id": study.id})
    db.commit()
    start = outbox_row(db, Task.MATCHING_START_STUDY, study_id=study.id)

    run_id = jobs.run_job(two_workers, start.task_name, start.payload, outbox_id=start.id)

    run = db.get(MatchRun, run_id)
    assert run is not None and run.chunks_total == 2  # 40 profiles, 2 processes: not 1 per 7 or 10,000
    low, high = db.execute(select(func.min(Profile.participant_id), func.max(Profile.participant_id))).one()
    chunks = db.scalars(
        select(MatchChunk).where(MatchChunk.run_id == run_id).order_by(MatchChunk.chunk_no)
    ).all()
    assert chunks[0].low_id == low and chunks[1].high_id >= high and chunks[1].low_id == chunks[0].high_id + 1
    # The starter matched the last chunk, as its own job: that chunk's row is done, the first is not.
    assert chunks[1].done_at is not None and chunks[0].done_at is None
    last = outbox_row(db, Task.MATCHING_MATCH_CHUNK, run_id=run_id, chunk_no=1)
    first = outbox_row(db, Task.MATCHING_MATCH_CHUNK, run_id=run_id, chunk_no=0)
    assert last.completed_at is not None and first.completed_at is None
    assert outbox_row(db, Task.MATCHING_START_STUDY, study_id=study.id).completed_at is not None
    in_last = {
        p
        for (p,) in db.execute(
            select(Invitation.participant_id).where(
                Invitation.study_id == study.id, Invitation.participant_id >= chunks[1].low_id
            )
        )
    }
    assert in_last == {p for p in expected if p >= chunks[1].low_id}
    assert chunks[1].matched == len(in_last)

    # The broker still delivers the last chunk's task: the delivery does nothing.
    assert jobs.run_job(two_workers, last.task_name, last.payload, outbox_id=last.id) is None
    # A duplicate delivery of the start reuses the run and runs nothing twice.
    assert matching.start_study(two_workers, study.id) == run_id
    assert jobs.run_job(two_workers, first.task_name, first.payload, outbox_id=first.id) == len(
        expected - in_last
    )

    db.expire_all()
    run = db.get(MatchRun, run_id)
    assert run is not None and run.finished_at is not None
    invited = {
        p for (p,) in db.execute(select(Invitation.participant_id).where(Invitation.study_id == study.id))
    }
    assert invited == expected
