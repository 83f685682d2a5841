"""The hourly approval-expiry job against a study that starts recruiting while it runs.

Found by ``make chaos`` (seed 3): a study recruited between the job's two reads (which approvals
are in force, which studies recruit) was paused as expired and never matched. The test commits
the recruit, from another connection, exactly between the job's first and second statements.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select, text

from panel_service.models import Study
from panel_service.runtime import Runtime
from panel_service.services import matching
from tests.factories import make_recruiting_study
from tests.support.pipeline import NARROW

pytestmark = pytest.mark.postgres  # two connections writing at once


def test_a_study_that_starts_recruiting_while_approvals_are_checked_stays_recruiting(
    committed_runtime: Runtime,
) -> None:
    runtime = committed_runtime
    with runtime.database.session_scope() as session:
        steady = make_recruiting_study(session, NARROW, start_matching=False).id
        starting = make_recruiting_study(session, NARROW, status="approved", start_matching=False).id

    engine = runtime.database.engine
    statements = 0
    injecting = False

    def recruit_in_between(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal statements, injecting
        if injecting or not statement.lstrip().upper().startswith("SELECT"):
            return
        statements += 1
        if statements == 2:  # after the job's first read, before its second
            injecting = True
            with engine.begin() as other:
                other.execute(
                    text("UPDATE studies SET status = 'recruiting' WHERE id = :id"), {"id": starting}
                )
            injecting = False

    event.listen(engine, "before_cursor_execute", recruit_in_between)
    try:
        assert matching.expire_approvals(runtime) == 0
    finally:
        event.remove(engine, "before_cursor_execute", recruit_in_between)
    assert statements >= 2

    with runtime.database.session_scope() as session:
        status = dict(session.execute(select(Study.id, Study.status)).all())
    assert status == {steady: "recruiting", starting: "recruiting"}
