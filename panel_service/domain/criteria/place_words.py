"""Explanations of the place leaves (§4a), in English and Danish: where the volunteer lives
(``region``, up the ISO 3166 hierarchy) and how far from the study's nearest site
(``distance_to_site_km``): "you live about 40 km from the nearest site of the study".

Kept apart from ``explain`` so the sentences of both languages sit together; the domain layer
cannot use the web layer's translations, and these sentences are the volunteer's own page.
"""

from __future__ import annotations

from panel_service.domain.criteria.evaluate import Facts
from panel_service.domain.criteria.model import DISTANCE_FIELDS, FieldLeaf, Truth
from panel_service.domain.geo import Sites, nearest_km
from panel_service.domain.regions import region_ancestors, region_name

PLACE_FIELDS = ("region", *DISTANCE_FIELDS)

WORDS = {
    "en": {
        "no_region": "you have not told us where you live",
        "region_question": "Which region do you live in?",
        "vaguer": "you told us you live in {told}, which is less specific than what the study asks ({asked})",
        "region": "you told us you live in {told}, and that is {negation}{wanted}",
        "not": "not ",
        "eq": "in {0}",
        "ne": "outside {0}",
        "in": "in one of {0}",
        "no_home": "you have not told us which town you live in",
        "home_question": "Which town do you live in?",
        "no_sites": "the study has not said where it takes place, so we cannot tell how far you live from it",
        "distance": (
            "you live about {km} km from the nearest site of the study, and the study asks for {wanted}"
        ),
        "le": "at most {0} km",
        "lt": "less than {0} km",
        "ge": "at least {0} km",
        "gt": "more than {0} km",
        "between": "between {0} and {1} km",
        "or": ", ",
    },
    "da": {
        "no_region": "du har ikke fortalt os, hvor du bor",
        "region_question": "Hvilken region bor du i?",
        "vaguer": "du har fortalt os, at du bor i {told}, hvilket er mindre præcist end det, studiet spørger om ({asked})",
        "region": "du har fortalt os, at du bor i {told}, og det er {negation}{wanted}",
        "not": "ikke ",
        "eq": "i {0}",
        "ne": "uden for {0}",
        "in": "i et af disse områder: {0}",
        "no_home": "du har ikke fortalt os, hvilken by du bor i",
        "home_question": "Hvilken by bor du i?",
        "no_sites": "studiet har ikke oplyst, hvor det foregår, så vi kan ikke se, hvor langt du bor derfra",
        "distance": "du bor cirka {km} km fra studiets nærmeste sted, og studiet spørger om {wanted}",
        "le": "højst {0} km",
        "lt": "under {0} km",
        "ge": "mindst {0} km",
        "gt": "over {0} km",
        "between": "mellem {0} og {1} km",
        "or": ", ",
    },
}


def _named(code: str, language: str) -> str:
    """The region's name as it reads in a sentence: "the Capital Region of Denmark"."""
    name = region_name(code, language) or code
    if language != "da" and (
        ("Region" in name and not name.startswith("Region "))
        or name.startswith("United ")
        or name == "Netherlands"
    ):
        return f"the {name}"
    return name


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def place_sentence(
    leaf: FieldLeaf, result: Truth, facts: Facts, sites: Sites, language: str = "en"
) -> tuple[str, str | None]:
    """The sentence for a place leaf and, when it is unknown, the question that would settle it."""
    words = WORDS["da" if language == "da" else "en"]
    if leaf.field == "region":
        return _region_sentence(leaf, result, facts, words, language)
    if facts.home is None:
        return words["no_home"], words["home_question"]
    km = nearest_km(facts.home, sites)
    if km is None:
        return words["no_sites"], None
    values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
    wanted = words[leaf.op].format(*(_number(value) for value in values))
    return words["distance"].format(km=round(km), wanted=wanted), None


def _region_sentence(
    leaf: FieldLeaf, result: Truth, facts: Facts, words: dict[str, str], language: str
) -> tuple[str, str | None]:
    if facts.region is None:
        return words["no_region"], words["region_question"]
    told = _named(facts.region, language)
    values = [str(value) for value in (leaf.value if isinstance(leaf.value, tuple) else (leaf.value,))]
    if result is Truth.UNKNOWN:
        asked = next(
            (value for value in values if facts.region in region_ancestors(value)[1:]),
            values[0],
        )
        return words["vaguer"].format(told=told, asked=_named(asked, language)), words["region_question"]
    names = words["or"].join(_named(value, language) for value in values)
    wanted = words[leaf.op].format(names)
    negation = "" if result is Truth.TRUE else words["not"]
    return words["region"].format(told=told, negation=negation, wanted=wanted), None
