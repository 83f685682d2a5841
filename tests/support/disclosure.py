"""What a reader can compute from one response's counts (P4): used by the unit and API tests.

The checks recompute every difference of two shown steps of an attrition chain and every shown
total minus any set of shown parts of it (at any depth, none inside another), and report each
result from 1 to threshold - 1, each shown count below the threshold, each shown count that is not
the true count, and each hidden label that is untrue ("fewer than 11" on 11 or more, or
"withheld" on less).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from panel_service.domain.disclosure import WITHHELD, Cell, Count, below


def label_problems(key: str, count: int, shown: Count, threshold: int) -> list[str]:
    if isinstance(shown, int):
        problems = [] if shown == count else [f"{key}: shows {shown}, is {count}"]
        if shown < threshold:
            problems.append(f"{key}: shows {shown}, below {threshold}")
        return problems
    if shown == below(threshold) and count < threshold:
        return []
    if shown == WITHHELD and count >= threshold:
        return []
    return [f"{key}: {shown!r} for a count of {count}"]


def chain_leaks(counts: Sequence[int] | None, shown: Sequence[Count], threshold: int) -> list[str]:
    """Every problem in a shown attrition chain (each step a subset of the one before). Without
    the true ``counts`` the labels are not checked, the shown numbers and differences are."""
    problems = [
        f"step {index}: shows {value}" for index, value in enumerate(shown) if _small(value, threshold)
    ]
    if counts is not None:
        assert len(counts) == len(shown)
        problems = [
            problem
            for index, (count, value) in enumerate(zip(counts, shown, strict=True))
            for problem in label_problems(f"step {index}", count, value, threshold)
        ]
    numbers = [(index, value) for index, value in enumerate(shown) if isinstance(value, int)]
    for position, (first, larger) in enumerate(numbers):
        for second, smaller in numbers[position + 1 :]:
            if 0 < larger - smaller < threshold:
                problems.append(f"step {first} - step {second} = {larger - smaller}")
    return problems


def _small(value: Count, threshold: int) -> bool:
    return isinstance(value, int) and value < threshold


def _sums(cell: Cell, shown: Mapping[str, Count]) -> set[int]:
    """Every sum of shown cells in ``cell``'s subtree, none inside another (0 for none)."""
    options = {0}
    if isinstance(shown.get(cell.key), int):
        options.add(cell.count)
    return options | _part_sums(cell, shown)


def _part_sums(cell: Cell, shown: Mapping[str, Count]) -> set[int]:
    totals = {0}
    for part in cell.parts:
        totals = {left + right for left in totals for right in _sums(part, shown)}
    return totals


def breakdown_leaks(root: Cell, shown: Mapping[str, Count], threshold: int) -> list[str]:
    """Every problem in a shown breakdown (each cell's parts partition it)."""
    problems = [
        problem
        for cell in root.walk()
        if cell.shown
        for problem in label_problems(cell.key, cell.count, shown[cell.key], threshold)
    ]
    for cell in root.walk():
        if cell.parts and isinstance(shown.get(cell.key), int):
            for parts in _part_sums(cell, shown):
                if 0 < cell.count - parts < threshold:
                    problems.append(
                        f"{cell.key} minus shown parts adding up to {parts} = {cell.count - parts}"
                    )
    return problems
