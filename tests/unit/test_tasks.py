"""Every task name has its handler, checked when a runtime starts (``jobs.check_handlers``)."""

from __future__ import annotations

import pytest

from panel_service import jobs
from panel_service.tasks import Task


def test_every_task_has_a_handler_and_a_queue() -> None:
    registered = jobs.load_all_jobs()
    assert {task.value for task in Task} <= set(registered)
    assert all(
        registered[task.value].queue in ("matching", "contact", "maintenance", "default") for task in Task
    )


def test_a_task_without_a_handler_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs.load_all_jobs()
    monkeypatch.delitem(jobs.JOBS, Task.CONTACT_SWEEP.value)
    with pytest.raises(RuntimeError, match=r"contact\.sweep"):
        jobs.check_handlers()
