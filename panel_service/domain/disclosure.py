"""Small-cell suppression (P4). Every count a coordinator receives passes through this module.

A count from the threshold (11) up is shown exactly; below it, zero included, it is the words
"fewer than 11" (``suppress``). Counts that come together in one response are related, and a
reader can subtract them: an attrition chain (each step a subset of the one before) and a total
beside its parts. Those go through ``protect_chain`` and ``protect_breakdown``, which hide more
cells so that nothing from 1 to 10 can be derived from what one response shows. A cell hidden
although its own count is 11 or more reads ``WITHHELD``: saying "fewer than 11" would be false.

**Chains** (``protect_chain``). Walk from the smallest count to the largest and keep the last
count shown, R. A count below the threshold is "fewer than 11". Otherwise it is shown when it
equals R or exceeds R by at least the threshold (or when nothing is shown yet), and becomes R;
else it is withheld. Why that is safe: every shown count is 11 or more, and two neighbouring
shown counts differ by 0 or by 11 or more, so the difference of any two shown counts (a sum of
neighbouring differences) is 0 or 11 or more. A withheld count lies strictly between R and
R + 11, and the next count shown above it is at least R + 11, so the reader learns a range of ten
values, never one value; a "fewer than 11" lies in 0..10 and every shown count is 11 or more.
Walking from the small end matters: walking from the large end would withhold the smaller count
of a step such as 12 → 11, and "withheld" (so 11 or more) below 12 is exactly 11.

**Totals with parts** (``protect_breakdown``). A breakdown is a tree: each cell's parts partition
it (invitations → statuses, cancelled → reasons, sent → answers and the not-yet-answered). Some
parts are never displayed (``shown=False``): they are hidden like any other cell. What a reader
can compute are the totals shown minus the parts shown. Each shown total T therefore fixes the
sum S of the hidden cells in its *region*: the leaves under T that are not under another shown
total. For every shown total, starting from the deepest, the rule requires one of:

1. S is 0 (the reader learns that the hidden cells are empty, which is no count from 1 to 10);
2. a hidden leaf of the region holds 11 or more. It absorbs anything from 11 to S, so every
   other hidden cell, or group of them, can still be anything from 0 up: nothing is pinned;
3. the region is flat (no hidden total inside it), at least two hidden leaves, all of them
   "fewer than 11", and 11 <= S < 10 x (their number). Each lies in 0..10 with a known sum,
   which pins a cell only when the sum forces every cell to 10.

When none holds, the smallest shown leaf of the region is withheld (complementary suppression,
which then satisfies rule 2); when the region has no shown leaf, the total itself is hidden and
its region joins its parent's. Counts of 0 that can be derived (rule 1, or a difference of 0 in a
chain) are allowed: they single no one out, and hiding them would hide every criterion that
excludes nobody.

The rules use only counts of one response; repeated queries are limited by audit and rate limits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

DEFAULT_THRESHOLD = 11
WITHHELD = "withheld"

Count = int | str


def suppress(count: int, threshold: int = DEFAULT_THRESHOLD) -> int | str:
    """Exact from ``threshold`` up; below it (zero included) the words "fewer than N".

    Zero is suppressed too: "none match" next to "fewer than 11" for a slightly different query
    would tell the difference of one person.
    """
    if count >= threshold:
        return count
    return below(threshold)


def below(threshold: int = DEFAULT_THRESHOLD) -> str:
    return f"fewer than {threshold}"


def hidden(count: int, threshold: int = DEFAULT_THRESHOLD) -> str:
    """How a cell that is not shown reads: "fewer than N" when true, otherwise ``WITHHELD``."""
    return below(threshold) if count < threshold else WITHHELD


def protect_chain(counts: Sequence[int], threshold: int = DEFAULT_THRESHOLD) -> list[Count]:
    """What may be shown of an attrition chain: non-increasing counts, each a subset of the one
    before. No shown count is below ``threshold`` and no two shown counts differ by 1 to
    ``threshold - 1`` (see the module docstring)."""
    if any(count < 0 for count in counts):
        raise ValueError("counts cannot be negative")
    if any(later > earlier for earlier, later in pairwise(counts)):
        raise ValueError("an attrition chain never grows")
    shown: list[Count] = [0] * len(counts)
    last: int | None = None
    for index in range(len(counts) - 1, -1, -1):
        count = counts[index]
        if count >= threshold and (last is None or count == last or count - last >= threshold):
            shown[index] = count
            last = count
        else:
            shown[index] = hidden(count, threshold)
    return shown


@dataclass
class Cell:
    """A count in a breakdown; ``parts`` (if any) partition it. ``shown=False``: never displayed."""

    key: str
    count: int
    parts: list[Cell] = field(default_factory=list)
    shown: bool = True

    def walk(self) -> Iterator[Cell]:
        yield self
        for part in self.parts:
            yield from part.walk()


def protect_breakdown(root: Cell, threshold: int = DEFAULT_THRESHOLD) -> dict[str, Count]:
    """What may be shown of a total and its parts, by cell key (cells with ``shown=False`` are
    left out). Every count shown is ``threshold`` or more, and no total shown minus the parts
    shown gives a count from 1 to ``threshold - 1`` (see the module docstring)."""
    cells = list(root.walk())
    if len({cell.key for cell in cells}) != len(cells):
        raise ValueError("cell keys must be unique")
    for cell in cells:
        if cell.count < 0:
            raise ValueError(f"{cell.key}: counts cannot be negative")
        if cell.parts and sum(part.count for part in cell.parts) != cell.count:
            raise ValueError(f"{cell.key}: the parts do not add up to the total")
    visible = {cell.key: cell.shown and cell.count >= threshold for cell in cells}

    def region(total: Cell) -> Iterator[Cell]:
        """Leaves under ``total`` not under a shown total below it, and the hidden totals passed."""
        for part in total.parts:
            if not part.parts:
                yield part
            elif not visible[part.key]:
                yield part
                yield from region(part)

    def protect(total: Cell) -> None:
        for part in total.parts:
            protect(part)
        if not total.parts or not visible[total.key]:
            return
        cells_in_region = list(region(total))
        leaves = [cell for cell in cells_in_region if not cell.parts]
        hidden_leaves = [cell for cell in leaves if not visible[cell.key]]
        gap = sum(cell.count for cell in hidden_leaves)
        flat = all(not cell.parts for cell in cells_in_region)
        if (
            gap == 0
            or any(cell.count >= threshold for cell in hidden_leaves)
            or (
                flat
                and len(hidden_leaves) >= 2
                and all(cell.shown for cell in hidden_leaves)
                and threshold <= gap < (threshold - 1) * len(hidden_leaves)
            )
        ):
            return
        shown_leaves = [cell for cell in leaves if visible[cell.key]]
        if shown_leaves:
            visible[min(shown_leaves, key=lambda cell: cell.count).key] = False
        else:
            visible[total.key] = False

    protect(root)
    return {
        cell.key: cell.count if visible[cell.key] else hidden(cell.count, threshold)
        for cell in cells
        if cell.shown
    }


__all__ = [
    "DEFAULT_THRESHOLD",
    "WITHHELD",
    "Cell",
    "Count",
    "below",
    "hidden",
    "protect_breakdown",
    "protect_chain",
    "suppress",
]
