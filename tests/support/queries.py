"""Counting the SQL statements a request sends (issue 15: guards in the suite, not timings).

``statements(engine)`` listens to the engine's ``before_cursor_execute`` event, which sees every
statement any connection of the engine sends (the test's rolled-back connection included); it
observes and changes nothing. Savepoint statements are left out: they are how the ``db``
fixture turns a request's commit into something it can roll back, not the request's work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

_HARNESS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE")


@dataclass
class Statements:
    sql: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.sql)

    @property
    def writes(self) -> list[str]:
        return [statement for statement in self.sql if statement.lstrip().upper().startswith(_WRITES)]

    def __str__(self) -> str:
        return "\n".join(f"{number}. {' '.join(sql.split())[:160]}" for number, sql in enumerate(self.sql, 1))


@contextmanager
def statements(engine: Engine) -> Iterator[Statements]:
    """The statements sent while the block runs."""
    seen = Statements()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(_HARNESS):
            seen.sql.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
