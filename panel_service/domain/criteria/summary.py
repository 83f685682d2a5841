"""The per-profile code summary: what a plain code leaf needs of a code list, as one set of strings.

``profiles.condition_codes`` / ``medication_codes`` hold, for an answered list, every prefix of
every listed code (``G2581`` gives ``G``, ``G2``, ``G25``, ``G258``, ``G2581``) and each code's
exact form marked with ``=`` (``=G2581``); an unanswered list is NULL, an answered empty one
``[]``. That is the in-memory evaluator's prefix set (``evaluate._prefixes``) plus its set of
codes (for the less-specific rule of §4a), so a plain code leaf is one overlap test on the
summary (PostgreSQL: ``&&`` on a ``text[]`` under a GIN index):

* TRUE: the summary holds one of ``true_terms`` (the leaf's code, or for a category range the
  fewest prefixes that cover exactly the range's categories: ``A00-B99`` is ``A`` and ``B0`` …
  ``B9``);
* FALSE: the list is answered and the summary holds none of ``false_terms`` (the same terms and
  each less specific code, marked: ``=G25``, ``=G258`` for ``G25.81``), so a less specific
  answer stays UNKNOWN.

Qualified leaves (``current``, ``within``, ``for_at_least``) need each entry's dates and stay on
the join tables. The writers (``services.profiles.save_codes``, the import) store
``code_summary`` of exactly the codes they write to the join tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from panel_service.domain.criteria.model import Condition, Medication

EXACT = "="
# Byte order, as the code tables and ``evaluate.range_categories`` sort: digits before letters.
ICD10_CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ICD10_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def code_summary(codes: Iterable[str] | None) -> list[str] | None:
    """The summary of one stored code list (normalised codes), sorted; None for unanswered."""
    if codes is None:
        return None
    items: set[str] = set()
    for code in codes:
        items.update(code[:length] for length in range(1, len(code) + 1))
        items.add(EXACT + code)
    return sorted(items)


def range_cover(low: str, high: str) -> list[str]:
    """The fewest prefixes whose codes are exactly those with a category from ``low`` to ``high``.

    A stored code is well formed (``domain.profile.ICD10_CODE``: a letter, then two of
    ``0-9A-Z``), so a letter or a letter and a character whose every category lies in the range
    stands for all of them; elsewhere the categories themselves are listed.
    """
    cover: list[str] = []
    for first in ICD10_FIRST:
        if not low[0] <= first <= high[0]:
            continue
        if low <= first + "00" and first + "ZZ" <= high:
            cover.append(first)
            continue
        for second in ICD10_CHARACTERS:
            prefix = first + second
            if low <= prefix + "0" and prefix + "Z" <= high:
                cover.append(prefix)
                continue
            cover += [prefix + third for third in ICD10_CHARACTERS if low <= prefix + third <= high]
    return cover


def true_terms(leaves: Sequence[Condition | Medication]) -> list[str]:
    """Summary items of which one present makes an ``any`` of these plain leaves TRUE."""
    terms: set[str] = set()
    for leaf in leaves:
        if isinstance(leaf, Condition) and leaf.range_end is not None:
            terms.update(range_cover(leaf.code, leaf.range_end))
        else:
            terms.add(leaf.code)
    return sorted(terms)


def false_terms(leaves: Sequence[Condition | Medication]) -> list[str]:
    """Summary items none of which may be present for an ``any`` of these plain leaves to be FALSE
    (on an answered list): every TRUE term and every less specific code, marked exact."""
    ancestors = {EXACT + ancestor for leaf in leaves for ancestor in leaf.ancestors}
    return sorted(set(true_terms(leaves)) | ancestors)


__all__ = ["EXACT", "code_summary", "false_terms", "range_cover", "true_terms"]
