"""The per-profile code summary: what a plain code leaf needs of a code list, as one set of strings.

``profiles.condition_codes`` / ``medication_codes`` hold, for an answered list, each listed code
marked exact (``=G2581``) and the strict prefixes of it that a criterion can name (``G``, ``G2``,
``G25``, ``G258``; for ATC only the levels: ``A``, ``A12``, ``A12C``, ``A12CC`` of
``A12CC05``); an unanswered list is NULL, an answered empty one ``[]``. That is the in-memory
evaluator's prefix set (``evaluate._prefixes``) and its set of codes (for the less-specific rule
of §4a) in one, each code written once, so a plain code leaf is one overlap test on the summary
(PostgreSQL: ``&&`` on a ``text[]`` under a GIN index):

* TRUE: the summary holds one of ``true_terms``: the leaf's code, plain (a longer code starts
  with it) or marked (it was listed itself); for a category range, the fewest prefixes that cover
  exactly the range's categories (``A00-B99`` is ``A`` and ``B0`` … ``B9``), a category plain
  and marked;
* FALSE: the list is answered and the summary holds none of ``false_terms``: the same terms and
  each less specific code, marked (``=G25``, ``=G258`` for ``G25.81``), so a less specific answer
  stays UNKNOWN.

Criteria codes and stored codes are well formed (``domain.profile``: an ICD-10 code is at least
a category; an ATC code is a level of 1, 3, 4, 5 or 7 characters), which is what lets the
summary leave out the prefixes nothing can ask for. Qualified leaves (``current``, ``within``,
``for_at_least``) need each entry's dates and stay on the join tables. The writers
(``services.profiles.save_codes``, the import) store ``code_summary`` of exactly the codes they
write to the join tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from panel_service.domain.criteria.model import Condition, Medication

EXACT = "="
# Byte order, as the code tables and ``evaluate.range_categories`` sort: digits before letters.
ICD10_CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ICD10_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ICD10_CATEGORY_LENGTH = 3
# The lengths of the ATC levels below a substance (7): a criterion names one of these or a substance.
ATC_LEVEL_LENGTHS = (1, 3, 4, 5)


def code_summary(codes: Iterable[str] | None, system: str) -> list[str] | None:
    """The summary of one stored code list (normalised codes of ``system``, ``icd10`` or ``atc``),
    sorted; None for an unanswered list."""
    if codes is None:
        return None
    items: set[str] = set()
    for code in codes:
        lengths = range(1, len(code)) if system == "icd10" else ATC_LEVEL_LENGTHS
        items.update(code[:length] for length in lengths if length < len(code))
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
    """Summary items of which one present makes an ``any`` of these plain leaves TRUE: each code
    (or covering prefix) plain, and marked where a stored code can be that code itself (stored
    ICD-10 codes are at least a category, so a shorter prefix is never one)."""
    terms: set[str] = set()
    for leaf in leaves:
        if isinstance(leaf, Condition) and leaf.range_end is not None:
            names = range_cover(leaf.code, leaf.range_end)
        else:
            names = [leaf.code]
        for name in names:
            terms.add(name)
            if isinstance(leaf, Medication) or len(name) >= ICD10_CATEGORY_LENGTH:
                terms.add(EXACT + name)
    return sorted(terms)


def false_terms(leaves: Sequence[Condition | Medication]) -> list[str]:
    """Summary items none of which may be present for an ``any`` of these plain leaves to be FALSE
    (on an answered list): every TRUE term and every less specific code, marked exact."""
    ancestors = {EXACT + ancestor for leaf in leaves for ancestor in leaf.ancestors}
    return sorted(set(true_terms(leaves)) | ancestors)


__all__ = ["EXACT", "code_summary", "false_terms", "range_cover", "true_terms"]
