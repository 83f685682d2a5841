"""The heartbeat of a running job: keeps its leases alive while it works, and only then.

``run_job`` takes a *run lease* on the job's outbox row (``outbox.start_run``: conditional, so a
second delivery of the same row never runs while the first still holds it) and starts a
``Heartbeat``: a daemon thread that, every third of the lease, extends ``lease_until`` of the rows
the job holds: its outbox row, and any invitation it has claimed and is sending (``hold``).
Every renewal is conditional on still holding the row (same owner token, same claim), so a lease
that was taken over is never extended. When the thread stops (the job ended) or dies with its
process, the leases simply run out: the reconciler republishes the job, the detector marks the
claim ambiguous.

A job that loses its lease (taken over, or not renewed for too long) must not go on working next
to its successor: long loops call ``check_lease()`` between units of work, which raises
``LeaseLost``; and the completion of a run is conditional on its lease (``outbox.complete_run``).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from config.logging import get_logger
from panel_service import outbox
from panel_service.domain import leases
from panel_service.timeutil import utcnow

if TYPE_CHECKING:
    from panel_service.jobs import JobContext

log = get_logger(__name__)

# Renews one held row in the heartbeat's transaction; returns False once the row is no longer held.
Renewer = Callable[[Session], bool]

_current: contextvars.ContextVar[Heartbeat | None] = contextvars.ContextVar("panel_heartbeat", default=None)


class LeaseLost(RuntimeError):
    """The running job no longer holds its outbox row: stop, another run owns the work now."""


def new_owner() -> str:
    return uuid.uuid4().hex


class Heartbeat:
    def __init__(self, runtime: JobContext, outbox_id: int, owner: str) -> None:
        self.runtime = runtime
        self.outbox_id = outbox_id
        self.owner = owner
        self.lease_seconds = runtime.settings.outbox_lease_seconds
        # Often enough for the shorter of the two leases a job may hold.
        self.interval = leases.renew_every(min(self.lease_seconds, runtime.settings.claim_lease_seconds))
        self.last_renewed = utcnow()
        self.lost = threading.Event()
        self._held: dict[object, Renewer] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name=f"panel-heartbeat-{self.outbox_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> bool:
        """Renew every lease held; True while the job still holds its outbox row."""
        if self.lost.is_set():
            return False
        with self._lock:
            held = list(self._held.items())
        try:
            with self.runtime.database.session_scope() as session:
                still_held = outbox.renew_run(session, self.outbox_id, self.owner, self.lease_seconds)
                if still_held:
                    for key, renew in held:
                        if not renew(session):
                            self.release(key)
        except Exception as exc:  # the database is away: try again next beat, stop if too long
            log.warning("heartbeat.renew_failed", outbox_id=self.outbox_id, error=outbox.describe_error(exc))
            return not self.lost.is_set()
        if not still_held:
            log.warning("heartbeat.lease_lost", outbox_id=self.outbox_id)
            self.lost.set()
            return False
        self.last_renewed = utcnow()
        return True

    def holds(self) -> bool:
        """False once the lease is lost, or has gone unrenewed so long that the job must stop."""
        if self.lost.is_set():
            return False
        if leases.must_stop(self.last_renewed, utcnow(), self.lease_seconds):
            return self.beat()  # one more try now, before giving up
        return True

    def hold(self, key: object, renew: Renewer) -> None:
        with self._lock:
            self._held[key] = renew

    def release(self, key: object) -> None:
        with self._lock:
            self._held.pop(key, None)


@contextlib.contextmanager
def running(runtime: JobContext, outbox_id: int, owner: str) -> Iterator[Heartbeat]:
    """Beat while the block runs (the caller took the run lease with ``outbox.start_run``)."""
    heartbeat = Heartbeat(runtime, outbox_id, owner)
    token = _current.set(heartbeat)
    heartbeat.start()
    try:
        yield heartbeat
    finally:
        heartbeat.stop()
        _current.reset(token)


@contextlib.contextmanager
def holding(key: object, renew: Renewer) -> Iterator[None]:
    """Keep a row's lease alive for the length of the block, while the current job runs (nothing
    outside a job: a beat job or a direct call has no heartbeat, and its row's lease stands)."""
    heartbeat = _current.get()
    if heartbeat is None:
        yield
        return
    heartbeat.hold(key, renew)
    try:
        yield
    finally:
        heartbeat.release(key)


def check_lease() -> None:
    """Raise ``LeaseLost`` when the running job no longer holds its row (no-op outside a job)."""
    heartbeat = _current.get()
    if heartbeat is not None and not heartbeat.holds():
        raise LeaseLost(f"outbox row {heartbeat.outbox_id} is no longer held by this run")
