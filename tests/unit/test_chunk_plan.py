"""The bulk match's chunk plan: as many chunks as worker processes, more only past the size cap."""

from __future__ import annotations

import pytest

from panel_service.domain.chunks import chunk_plan


def covered(plan) -> list[int]:
    ids: list[int] = []
    for number in range(plan.total):
        low, high = plan.bounds(number)
        ids.extend(range(low, high + 1))
    return ids


@pytest.mark.parametrize(
    ("low", "high", "max_size", "workers", "total", "size"),
    [
        (1, 20_000, 125_000, 2, 2, 10_000),  # a small panel: one chunk per process
        (1, 100_000, 125_000, 2, 2, 50_000),
        (1, 1_000_000, 125_000, 2, 8, 125_000),  # capped: a multiple of the processes
        (1, 1_000_001, 125_000, 2, 10, 100_001),
        (1, 60, 7, 2, 10, 6),  # the tests' small chunks: many
        (1, 1000, 50, 2, 20, 50),
        (5, 5, 125_000, 2, 1, 1),  # one profile: never an empty chunk for the second process
        (1, 3, 125_000, 4, 3, 1),
        (1, 100, 125_000, 1, 1, 100),
    ],
)
def test_plan(low: int, high: int, max_size: int, workers: int, total: int, size: int) -> None:
    plan = chunk_plan(low, high, max_size, workers)
    assert (plan.total, plan.size) == (total, size)
    ids = covered(plan)
    assert ids[: high - low + 1] == list(range(low, high + 1))  # every id once, in order
    assert len(ids) - (high - low + 1) < plan.size  # the last range reaches past high by < a chunk
    assert plan.size <= max_size


def test_no_profiles() -> None:
    assert chunk_plan(None, None, 10, 2).total == 0


def test_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        chunk_plan(1, 10, 0, 2)
    with pytest.raises(ValueError):
        chunk_plan(1, 10, 10, 0)
