"""The outbox's retry schedule for failed jobs (panel_service.outbox.backoff)."""

from __future__ import annotations

import datetime as dt

from panel_service.outbox import backoff, describe_error


def test_backoff_doubles_from_the_base_and_stops_at_the_cap() -> None:
    waits = [backoff(attempt, base_seconds=5, cap_seconds=600).total_seconds() for attempt in range(1, 10)]
    assert waits == [5, 10, 20, 40, 80, 160, 320, 600, 600]


def test_backoff_with_a_fractional_base_and_huge_attempt_counts() -> None:
    assert backoff(1, base_seconds=0.2, cap_seconds=1).total_seconds() == 0.2
    assert backoff(3, base_seconds=0.2, cap_seconds=1).total_seconds() == 0.8
    assert backoff(10_000, base_seconds=0.2, cap_seconds=1) == dt.timedelta(seconds=1)
    assert backoff(0, base_seconds=5, cap_seconds=600) == dt.timedelta(seconds=5)


def test_the_recorded_error_is_the_type_never_the_message() -> None:
    assert describe_error(RuntimeError("vera@example.org refused")) == "RuntimeError"
    assert describe_error(LookupError("no job named x")) == "LookupError"
