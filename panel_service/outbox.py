"""Transactional outbox, the store: record work with the change that needs it, publish after commit.

This module is the rows and nothing else (it imports the models, never the job registry, the
relays or the runtime). The registry (``jobs``) runs a row's job under the row's run lease; the
relays (``relays``) publish rows and run the two beat jobs, ``outbox.reconcile`` and
``outbox.purge``.

``enqueue()`` adds a row in the caller's transaction. When that transaction commits, the
session hook hands the new ids to the relay, which leases and publishes them (to Celery,
or to the in-process runner in the embedded mode). ``reconcile`` runs on beat and
publishes anything due whose lease ran out unfinished, so a crash between commit and
broker, or a broker that was down, loses nothing.

The outbox is the one owner of retries, in both modes: a run that raises records the failure
on its row (``record_failure``: attempts + 1, the exception type, the next attempt after an
exponential backoff, the lease released) and the reconciler publishes it again once that time
has come. Celery itself never retries a task. After ``PANEL_JOB_MAX_ATTEMPTS`` failed runs the
row is dead: not published again until an operator re-queues it (``retry_dead``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panel_service.db import Database
from panel_service.domain import leases
from panel_service.models import OutboxMessage
from panel_service.timeutil import utcnow

SESSION_KEY = "panel_outbox_ids"


def enqueue(
    session: Session,
    task_name: str,
    payload: dict[str, Any] | None = None,
    *,
    dedup_key: str | None = None,
    delay: dt.timedelta | None = None,
) -> OutboxMessage | None:
    """Record a job in the caller's transaction. With a ``dedup_key`` already present, nothing
    is added and None is returned (the work is already recorded)."""
    message = OutboxMessage(
        task_name=task_name,
        payload=payload or {},
        dedup_key=dedup_key,
        available_at=utcnow() + (delay or dt.timedelta(0)),
    )
    if dedup_key is None:
        session.add(message)
        session.flush()
    else:
        try:
            with session.begin_nested():
                session.add(message)
                session.flush()
        except IntegrityError:
            return None
    session.info.setdefault(SESSION_KEY, []).append(message.id)
    return message


_MANY: dict[str, Any] = {}  # enqueue_many's statement per dialect, built once


def enqueue_many(session: Session, task_name: str, work: list[tuple[dict[str, Any], str]]) -> list[int]:
    """Record several jobs of one kind, each with its dedup key, in one statement (``INSERT …
    ON CONFLICT (dedup_key) DO NOTHING RETURNING id``): a key already present adds nothing, as in
    ``enqueue``. Returns the ids added. The incremental match queues one send per invitation it
    creates this way, so its statement count does not grow with the studies it matches."""
    if not work:
        return []
    dialect = session.get_bind().dialect.name
    statement = _MANY.get(dialect)
    if statement is None:
        table: Table = OutboxMessage.__table__  # type: ignore[assignment]
        insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _MANY[dialect] = (
            insert_fn(table).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(table.c.id)
        )
    now = utcnow()
    rows = [
        {"task_name": task_name, "payload": payload, "dedup_key": key, "available_at": now}
        for payload, key in work
    ]
    # One statement for all the rows (SQLAlchemy's multi-row "insertmanyvalues"), cached.
    ids = [int(row_id) for row_id in session.execute(statement, rows).scalars()]
    session.info.setdefault(SESSION_KEY, []).extend(ids)
    return ids


def take_committed_ids(session: Session) -> list[int]:
    ids: list[int] = session.info.pop(SESSION_KEY, [])
    return ids


def forget_ids(session: Session) -> None:
    session.info.pop(SESSION_KEY, None)


def lease(
    database: Database, lease_seconds: int, *, ids: list[int] | None = None, limit: int = 500
) -> list[OutboxMessage]:
    """Claim due rows (all due ones, or just ``ids``) for publishing and return them."""
    now = utcnow()
    with database.session_scope() as session:
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.completed_at.is_(None),
                OutboxMessage.dead_at.is_(None),
                OutboxMessage.available_at <= now,
                or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if ids is not None:
            query = query.where(OutboxMessage.id.in_(ids))
        if not database.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        for row in rows:
            row.publish_count += 1
            row.lease_until = leases.lease_end(
                now, leases.publish_lease_seconds(lease_seconds, row.publish_count)
            )
            row.lease_owner = None  # published, not running: the run that starts takes the lease
            row.published_at = now
        session.flush()
        session.expunge_all()
        return rows


def release(database: Database, outbox_id: int, error: str, *, retry_in: dt.timedelta) -> None:
    """Publishing or running failed: keep the row, try again after ``retry_in`` (a backoff,
    so a job that keeps failing is not retried in a hot loop)."""
    with database.session_scope() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(lease_until=utcnow() + retry_in, last_error=error[:2000])
        )


def backoff(attempts: int, *, base_seconds: float = 5, cap_seconds: float = 600) -> dt.timedelta:
    """The wait after the ``attempts``-th failure: base, 2 x base, 4 x base ..., at most the cap."""
    return dt.timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, min(attempts - 1, 30))))


def describe_error(exc: BaseException) -> str:
    """What ``last_error`` keeps of a failure: the exception's type, never its message, which
    may carry personal data (an address in an SMTP answer, a value in a database error). The
    worker's log has the traceback."""
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


@dataclass(frozen=True)
class Failure:
    """A failed run as recorded: the row's task, its failed runs so far, whether it is now dead."""

    task: str
    attempts: int
    dead: bool


def record_failure(
    database: Database,
    outbox_id: int,
    exc: BaseException,
    *,
    max_attempts: int,
    retry_base_seconds: float,
    retry_max_seconds: float,
    owner: str | None = None,
) -> Failure | None:
    """A run of this row raised: count it, keep the error type, release the lease and make it due
    after the backoff, or dead after ``max_attempts``. None for a row already completed (a
    duplicate delivery whose twin succeeded) or dead, nor, given the run's ``owner``, for a row
    whose lease another run has taken over."""
    now = utcnow()
    with database.session_scope() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.completed_at.is_(None),
            OutboxMessage.dead_at.is_(None),
        )
        if owner is not None:
            query = query.where(OutboxMessage.lease_owner == owner)
        row = session.scalar(query.with_for_update())
        if row is None:
            return None
        row.attempts += 1
        row.last_error = describe_error(exc)
        row.last_failed_at = now
        row.lease_until = None
        row.lease_owner = None
        dead = row.attempts >= max_attempts
        if dead:
            row.dead_at = now
        else:
            row.available_at = now + backoff(
                row.attempts, base_seconds=retry_base_seconds, cap_seconds=retry_max_seconds
            )
        return Failure(task=row.task_name, attempts=row.attempts, dead=dead)


def dead(session: Session) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.dead_at.is_not(None)).order_by(OutboxMessage.id)
        )
    )


def dead_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.dead_at.is_not(None))
        )
        or 0
    )


def retry_dead(session: Session, ids: list[int] | None = None) -> list[int]:
    """An operator re-queues dead rows (all, or the given ids): a fresh set of attempts, due now,
    published when the caller's transaction commits. Returns the ids re-queued; an id that is not
    dead is left alone (and not returned)."""
    query = select(OutboxMessage).where(OutboxMessage.dead_at.is_not(None)).with_for_update()
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    now = utcnow()
    requeued = []
    for row in session.scalars(query.order_by(OutboxMessage.id)):
        row.dead_at = None
        row.attempts = 0
        row.lease_until = None
        row.available_at = now
        requeued.append(row.id)
    session.flush()
    session.info.setdefault(SESSION_KEY, []).extend(requeued)
    return requeued


def start_run(database: Database, outbox_id: int, owner: str, lease_seconds: float) -> bool:
    """Take the run lease of a row for ``owner`` (a token for this run). False when the row is done,
    dead, or another run holds an unexpired lease on it: a duplicate delivery then does nothing,
    so one job never runs twice at once. One conditional UPDATE: of two deliveries starting
    together, PostgreSQL lets the second re-check the condition after the first committed."""
    now = utcnow()
    with database.session_scope() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == outbox_id,
                OutboxMessage.completed_at.is_(None),
                OutboxMessage.dead_at.is_(None),
                or_(
                    OutboxMessage.lease_owner.is_(None),
                    OutboxMessage.lease_until.is_(None),
                    OutboxMessage.lease_until < now,
                ),
            )
            .values(lease_owner=owner, lease_until=leases.lease_end(now, lease_seconds))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def renew_run(session: Session, outbox_id: int, owner: str, lease_seconds: float) -> bool:
    """The heartbeat: extend the run lease while ``owner`` still holds it. False when the row was
    taken over (republished after the lease ran out), finished or dead: never extended then."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.lease_owner == owner,
            OutboxMessage.completed_at.is_(None),
            OutboxMessage.dead_at.is_(None),
        )
        .values(lease_until=leases.lease_end(utcnow(), lease_seconds))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def complete_run(database: Database, outbox_id: int, owner: str) -> bool:
    """Mark done, if this run still holds the lease. False when another run took it over: that run
    redoes the (idempotent) work and completes the row itself."""
    with database.session_scope() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == outbox_id,
                OutboxMessage.completed_at.is_(None),
                OutboxMessage.lease_owner == owner,
            )
            .values(completed_at=utcnow(), lease_until=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def purge_completed(session: Session, before: dt.datetime) -> int:
    """Delete rows completed before ``before``; returns how many."""
    result = session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.completed_at.is_not(None), OutboxMessage.completed_at < before
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
