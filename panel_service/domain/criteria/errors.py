"""Errors are data: a list of (JSON path, message) so every caller can show each at its place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CriteriaIssue:
    """One thing wrong with criteria. ``path`` is like ``all[1].value``; ``$`` is the whole tree."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class CriteriaError(ValueError):
    """Criteria that cannot be used; ``issues`` holds every problem found, not just the first."""

    def __init__(self, issues: list[CriteriaIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))


class CriteriaSyntaxError(CriteriaError):
    """The text form could not be read; the message carries line, column and a caret line."""

    def __init__(self, message: str, text: str, line: int, column: int) -> None:
        source_line = text.splitlines()[line - 1] if text.splitlines() else ""
        self.line = line
        self.column = column
        self.caret = f"{source_line}\n{' ' * (column - 1)}^"
        detail = f"line {line}, column {column}: {message}\n{self.caret}"
        super().__init__([CriteriaIssue("$", detail)])
