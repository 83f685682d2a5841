"""How a bulk match splits the profile-id space into chunks (one task each).

Every chunk costs a task: an outbox row, a broker round trip, a task start, a transaction with
its lock and its "all done?" count. So a match is split into as few chunks as keep every worker
process busy: ``workers`` chunks, or the smallest multiple of ``workers`` whose chunks stay within
``max_size`` profile ids (a crash redoes at most one chunk, and a long chunk holds one process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkPlan:
    """``total`` id ranges of ``size`` ids each from ``low`` (the last one may reach past the
    highest id: the ranges are only bounds)."""

    low: int
    size: int
    total: int

    def bounds(self, number: int) -> tuple[int, int]:
        start = self.low + number * self.size
        return start, start + self.size - 1


def chunk_plan(low: int | None, high: int | None, max_size: int, workers: int) -> ChunkPlan:
    """The chunks of the ids ``low``..``high`` (None: no profiles, no chunk) for ``workers``
    processes, none larger than ``max_size`` ids."""
    if max_size < 1 or workers < 1:
        raise ValueError("max_size and workers must be at least 1")
    if low is None or high is None or high < low:
        return ChunkPlan(low or 0, max_size, 0)
    span = high - low + 1
    total = min(span, workers * math.ceil(span / (workers * max_size)))
    return ChunkPlan(low, math.ceil(span / total), total)
