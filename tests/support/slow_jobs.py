"""A slow job for the tests of leases, loaded through PANEL_EXTRA_JOB_MODULES (the worker imports
this module only when a test names it there): it notes each start and end of a run in a file,
and sleeps in between, longer than the lease it runs under. Runs in one process write from one
thread at a time; the file is the test's view of how many runs started and ended."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from panel_service.jobs import job

if TYPE_CHECKING:
    from panel_service.runtime import Runtime

SLOW = "tests.slow"


@job(SLOW, queue="default")
def slow(runtime: Runtime, path: str, seconds: float, again_seconds: float | None = None) -> None:
    """Sleeps ``seconds``, or ``again_seconds`` when a run already started before (a redo)."""
    log = Path(path)
    again = bool(runs(log))
    with log.open("a") as handle:
        handle.write(f"start {os.getpid()}\n")
    time.sleep(again_seconds if again and again_seconds is not None else seconds)
    with log.open("a") as handle:
        handle.write(f"end {os.getpid()}\n")


def runs(path: Path) -> list[str]:
    """The lines written so far: ``start PID`` and ``end PID`` per run."""
    return path.read_text().split("\n")[:-1] if path.exists() else []
