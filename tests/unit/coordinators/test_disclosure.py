"""P4 differencing: what one response shows of related counts (domain.disclosure)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel_service.domain.disclosure import WITHHELD, Cell, protect_breakdown, protect_chain
from tests.support.disclosure import breakdown_leaks, chain_leaks

FEWER = "fewer than 11"
_keys = itertools.count()

counts = st.one_of(st.integers(0, 12), st.integers(0, 60), st.sampled_from([0, 1, 10, 11, 12, 20, 21, 22]))
thresholds = st.sampled_from([11, 11, 11, 3, 5])


@st.composite
def chains(draw: st.DrawFn) -> list[int]:
    return sorted(draw(st.lists(counts, min_size=1, max_size=9)), reverse=True)


@settings(max_examples=400)
@given(chains(), thresholds)
def test_no_shown_step_or_difference_of_steps_is_small(chain: list[int], threshold: int) -> None:
    assert chain_leaks(chain, protect_chain(chain, threshold), threshold) == []


def _leaf(draw: st.DrawFn) -> Cell:
    return Cell(f"c{next(_keys)}", draw(counts), shown=draw(st.booleans()) or draw(st.booleans()))


@st.composite
def breakdowns(draw: st.DrawFn, depth: int = 3) -> Cell:
    """A total with 1 to 6 parts, each a count or (up to ``depth``) a breakdown of its own;
    some parts are never displayed (like the invitations not answered yet)."""
    parts: list[Cell] = []
    for _ in range(draw(st.integers(1, 6))):
        if depth > 1 and draw(st.integers(0, 3)) == 0:
            parts.append(draw(breakdowns(depth - 1)))
        else:
            parts.append(_leaf(draw))
    return Cell(f"c{next(_keys)}", sum(part.count for part in parts), parts)


@settings(max_examples=400)
@given(breakdowns(), thresholds)
def test_no_shown_total_minus_shown_parts_is_small(root: Cell, threshold: int) -> None:
    shown = protect_breakdown(root, threshold)
    assert breakdown_leaks(root, shown, threshold) == []
    assert set(shown) == {cell.key for cell in root.walk() if cell.shown}


def test_one_volunteer_of_eighteen_in_a_region_is_not_revealed_by_attrition() -> None:
    # has condition G25.8 → 18; and not (region = DK-81) → 17; matching 17
    assert protect_chain([18, 17, 17]) == [WITHHELD, 17, 17]
    assert protect_chain([40, 18, 17]) == [40, WITHHELD, 17]


def test_a_withheld_step_is_never_the_threshold_itself() -> None:
    """Withholding 11 below a shown 12 would say "11 or more, less than 12"."""
    assert protect_chain([12, 11]) == [WITHHELD, 11]
    assert protect_chain([25, 14, 12, 3]) == [25, WITHHELD, 12, FEWER]


def test_criteria_that_exclude_no_one_keep_their_counts() -> None:
    assert protect_chain([300, 300, 120, 120, 45]) == [300, 300, 120, 120, 45]


def test_a_total_beside_all_but_one_small_part_is_protected() -> None:
    """invitations 17 beside queued 16: the one other invitation must not show."""
    root = Cell("invitations", 17, [Cell("queued", 16), Cell("sent", 1), Cell("failed", 0)])
    shown = protect_breakdown(root)
    assert shown == {"invitations": 17, "queued": WITHHELD, "sent": FEWER, "failed": FEWER}
    no_small_part = Cell("invitations", 27, [Cell("queued", 16), Cell("sent", 11), Cell("failed", 0)])
    assert protect_breakdown(no_small_part) == {"invitations": 27, "queued": 16, "sent": 11, "failed": FEWER}


def test_small_parts_that_cannot_be_told_apart_leave_the_total() -> None:
    days = [Cell(f"day{index}", count) for index, count in enumerate([3, 4, 5])]
    assert protect_breakdown(Cell("answers", 12, days)) == {"answers": 12} | {
        f"day{i}": FEWER for i in range(3)
    }
    # 20 in two days of at most 10 each: both are 10, so the total is withheld
    pinned = [Cell("day0", 10), Cell("day1", 10)]
    assert protect_breakdown(Cell("answers", 20, pinned))["answers"] == WITHHELD


def test_a_part_never_shown_still_counts() -> None:
    """sent 30, interested 14, not interested 13: the 3 who did not answer must not follow."""
    sent = Cell(
        "sent", 30, [Cell("interested", 14), Cell("not_interested", 13), Cell("unanswered", 3, shown=False)]
    )
    shown = protect_breakdown(sent)
    assert "unanswered" not in shown
    assert breakdown_leaks(sent, shown, 11) == []
    assert shown == {"sent": 30, "interested": 14, "not_interested": WITHHELD}


def test_inconsistent_input_is_refused() -> None:
    with pytest.raises(ValueError, match="never grows"):
        protect_chain([3, 4])
    with pytest.raises(ValueError, match="add up"):
        protect_breakdown(Cell("t", 5, [Cell("a", 1)]))
    with pytest.raises(ValueError, match="unique"):
        protect_breakdown(Cell("t", 2, [Cell("a", 1), Cell("a", 1)]))
