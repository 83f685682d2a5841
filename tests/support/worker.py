"""A live ``celery -A workers worker`` for tests: started as a real subprocess against the test
database, a Redis database of its own and an aiosmtpd recorder; SIGKILL and restart helpers;
always cleaned up. Plus a slow SMTP recorder (to open the "accepted but not recorded" window)
and the test's stand-in for ``celery beat``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panel_service import jobs
from panel_service.runtime import Runtime
from tests.support.services import SmtpRecorder

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class SlowSmtpRecorder(SmtpRecorder):
    """Stores the message, then waits ``hold_seconds`` before answering 250: the client cannot know
    whether the message was accepted (the window P3 calls ambiguous)."""

    hold_seconds: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.hold_seconds:
            await asyncio.sleep(self.hold_seconds)
        return answer


@contextmanager
def slow_smtp_server(hold_seconds: float) -> Iterator[SlowSmtpRecorder]:
    from aiosmtpd.controller import Controller

    from tests.support.services import free_port

    recorder = SlowSmtpRecorder(port=free_port(), hold_seconds=hold_seconds)
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


class LiveWorker:
    """One ``celery worker`` process (its own process group, so SIGKILL takes the pool children)."""

    def __init__(
        self, env: dict[str, str], log_path: Path, concurrency: int = 2, name: str = "pipeline-test"
    ) -> None:
        self.env = env
        self.name = name
        self.log_path = log_path
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, wait: bool = True) -> None:
        """Start it; ``wait``: until it says ready (it cannot while the broker is down)."""
        self.starts += 1
        log = self.log_path.with_suffix(f".{self.starts}.log")
        self.current_log = log
        handle = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.concurrency}",
                "--pool=prefork",
                "-Q",
                "matching,contact,maintenance,default",
                "-n",
                f"{self.name}-{os.getpid()}-{self.starts}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        if wait:
            wait_until(self._ready, READY_TIMEOUT, "the celery worker to be ready", interval=0.2)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"celery worker exited early:\n{self.log()}")
        return b" ready." in self.current_log.read_bytes()

    def log(self) -> str:
        return self.current_log.read_text(errors="replace")[-6000:]

    def output(self) -> str:
        """Everything this start of the worker wrote (stdout and stderr)."""
        return self.current_log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pool_pids(self) -> list[int]:
        """The main process's children: the prefork pool processes."""
        assert self.process is not None
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(child) for child in children.split()]

    def kill_pool_child(self) -> int:
        """SIGKILL one pool process (as the OOM killer would); the main process should replace it."""
        wait_until(lambda: len(self.pool_pids()) >= self.concurrency, 30, "a full pool")
        victim = self.pool_pids()[0]
        os.kill(victim, signal.SIGKILL)
        return victim

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children): no cleanup, no acks."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()


def worker_env(database_url: str, broker_url: str, smtp: SmtpRecorder, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PANEL_", "SMTP_", "CELERY_", "DATABASE_"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "PANEL_ENV": "test",
            "SECRET_KEY": "test-secret-key-0123456789abcdef",
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


@contextmanager
def live_worker(env: dict[str, str], log_path: Path, concurrency: int = 2) -> Iterator[LiveWorker]:
    worker = LiveWorker(env, log_path, concurrency)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


BEAT_JOBS = ("matching.expire_approvals", "contact.detect_ambiguous", "contact.sweep", "outbox.reconcile")


def beat_tick(publisher: Runtime) -> None:
    """What ``celery beat`` would trigger, run now: expiry, ambiguity detection, the dispatch sweep
    (which queues work through the outbox) and the outbox reconciler (which publishes it)."""
    for name in BEAT_JOBS:
        jobs.run_job(publisher, name, {})
