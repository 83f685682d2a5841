"""Jobs for the tests of retries, loaded through PANEL_EXTRA_JOB_MODULES (the worker imports this
module only when a test names it there): a real job that always raises."""

from __future__ import annotations

from typing import TYPE_CHECKING

from panel_service.jobs import job

if TYPE_CHECKING:
    from panel_service.runtime import Runtime

FAIL_ALWAYS = "tests.fail_always"


class AlwaysFails(RuntimeError):
    """Raised with a message that must never reach the database (it stands for personal data)."""


@job(FAIL_ALWAYS, queue="default")
def fail_always(runtime: Runtime, note: str = "") -> None:
    raise AlwaysFails(f"failing on purpose for vera@example.org {note}")
