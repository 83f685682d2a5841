"""Why a profile does or does not meet criteria, leaf by leaf, in words a volunteer understands,
in English or Danish ("du har fortalt os, at du stoppede med at tage magnesium i 2025"); condition
and medicine names in Danish come from ``vocabulary.Term.plain_name_in("da")``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from panel_service.domain.criteria.evaluate import Facts, compile_criteria, field_test, profile_facts
from panel_service.domain.criteria.json_form import join_path
from panel_service.domain.criteria.model import (
    All,
    Any,
    Condition,
    FieldLeaf,
    Leaf,
    Medication,
    Node,
    Not,
    QuestionLeaf,
    Truth,
)
from panel_service.domain.criteria.place_words import PLACE_FIELDS, place_sentence
from panel_service.domain.criteria.questions import DURATION_DA, question_sentence
from panel_service.domain.criteria.text_form import to_text
from panel_service.domain.criteria.vocabulary import ATC_SUBSTANCE_LENGTH, System, nearest_term
from panel_service.domain.geo import Sites
from panel_service.domain.history import EntryFacts, definitely, duration_words, possibly, thresholds
from panel_service.domain.profile import ProfileData, display_icd10
from panel_service.domain.questions import Catalogue, seed_catalogue
from panel_service.domain.vocab import Sex

REGION_NAMES = {
    "DK-81": "the North Denmark Region",
    "DK-82": "the Central Denmark Region",
    "DK-83": "the Region of Southern Denmark",
    "DK-84": "the Capital Region of Denmark",
    "DK-85": "Region Zealand",
}
COUNTABLE_ENDINGS = ("supplement", "inhibitor", "blocker", "inhaler", "pill", "tablet", "thinner", "statin")
QUESTIONS = {
    "age": "What is your date of birth?",
    "sex": "What is your sex?",
    "region": "Which region do you live in?",
    "bmi": "What are your height and weight?",
    "height_cm": "How tall are you, in centimetres?",
    "weight_kg": "How much do you weigh, in kilograms?",
    "smoker": "Do you smoke?",
    "pregnant": "Are you pregnant?",
}
UNANSWERED = {
    "age": "you have not told us your date of birth",
    "sex": "you have not told us your sex",
    "region": "you have not told us where you live",
    "bmi": "we cannot work out your BMI because you have not told us both your height and weight",
    "height_cm": "you have not told us your height",
    "weight_kg": "you have not told us your weight",
    "smoker": "you have not told us whether you smoke",
    "pregnant": "you have not told us whether you are pregnant",
}

REGION_NAMES_DA = {
    "DK-81": "Region Nordjylland",
    "DK-82": "Region Midtjylland",
    "DK-83": "Region Syddanmark",
    "DK-84": "Region Hovedstaden",
    "DK-85": "Region Sjælland",
}
QUESTIONS_DA = {
    "age": "Hvad er din fødselsdato?",
    "sex": "Hvad er dit køn?",
    "region": "Hvilken region bor du i?",
    "bmi": "Hvad er din højde og vægt?",
    "height_cm": "Hvor høj er du, i centimeter?",
    "weight_kg": "Hvor meget vejer du, i kilo?",
    "smoker": "Ryger du?",
    "pregnant": "Er du gravid?",
}
UNANSWERED_DA = {
    "age": "du har ikke fortalt os din fødselsdato",
    "sex": "du har ikke fortalt os dit køn",
    "region": "du har ikke fortalt os, hvor du bor",
    "bmi": "vi kan ikke beregne dit BMI, fordi du ikke har fortalt os både din højde og din vægt",
    "height_cm": "du har ikke fortalt os din højde",
    "weight_kg": "du har ikke fortalt os din vægt",
    "smoker": "du har ikke fortalt os, om du ryger",
    "pregnant": "du har ikke fortalt os, om du er gravid",
}
SEXES_DA = {"female": "kvinde", "male": "mand", "other": "andet"}


def _duration(duration: str, language: str) -> str:
    words = duration_words(duration)
    if language != "da":
        return words
    amount, _, unit = words.partition(" ")
    return f"{amount} {DURATION_DA.get(unit, unit)}"


@dataclass(frozen=True)
class LeafExplanation:
    path: str  # JSON path of the leaf in the canonical form, e.g. "all[2].not.any[0]"
    criterion: str  # the leaf in the text form, e.g. "has condition N17-N19"
    result: Truth  # of the leaf itself, before any "not" above it
    negated: bool  # an odd number of "not" above it: the study wants this to be false
    sentence: str
    question: str | None  # for an unknown leaf: the question whose answer would settle it


@dataclass(frozen=True)
class Explanation:
    result: Truth
    leaves: tuple[LeafExplanation, ...]


def explain(
    node: Node,
    profile: ProfileData,
    on: dt.date,
    sites: Sites = (),
    language: str = "en",
    *,
    catalogue: Catalogue | None = None,
) -> Explanation:
    """Leaf by leaf; ``sites`` are the study's (``geo.site_points``), for distance leaves.
    ``language`` ``"da"`` gives the place sentences (region, distance) and the ``question``
    sentences in Danish; question leaves are worded from ``catalogue`` (default: the shipped seed)."""
    facts = profile_facts(profile, on)
    explained: list[LeafExplanation] = []
    _walk(node, "$", False, facts, explained, (sites, language, catalogue or seed_catalogue()))
    return Explanation(compile_criteria(node, sites)(facts), tuple(explained))


def _walk(
    node: Node,
    path: str,
    negated: bool,
    facts: Facts,
    out: list[LeafExplanation],
    place: tuple[Sites, str, Catalogue] | None = None,
) -> None:
    if isinstance(node, All | Any):
        key = "all" if isinstance(node, All) else "any"
        for index, child in enumerate(node.children):
            _walk(child, join_path(join_path(path, key), index), negated, facts, out, place)
    elif isinstance(node, Not):
        _walk(node.child, join_path(path, "not"), not negated, facts, out, place)
    else:
        out.append(_explain_leaf(node, path, negated, facts, place))


def _explain_leaf(
    leaf: Leaf, path: str, negated: bool, facts: Facts, place: tuple[Sites, str, Catalogue] | None = None
) -> LeafExplanation:
    sites, language, catalogue = place or ((), "en", seed_catalogue())
    result = compile_criteria(leaf, sites)(facts)
    if isinstance(leaf, QuestionLeaf):
        sentence, question = question_sentence(
            leaf, int(result), facts.answers, facts.sex, facts.on, catalogue, language
        )
    elif isinstance(leaf, FieldLeaf) and leaf.field in PLACE_FIELDS:
        sentence, question = place_sentence(leaf, result, facts, sites, language)
    elif isinstance(leaf, Condition | Medication):
        if language == "da":
            sentence, question = _codes_sentence_da(leaf, result, facts)
        else:
            sentence, question = _codes_sentence(leaf, result, facts)
    else:
        da = language == "da"
        sentence = _field_sentence_da(leaf, result, facts) if da else _field_sentence(leaf, result, facts)
        question = (QUESTIONS_DA if da else QUESTIONS)[leaf.field] if result is Truth.UNKNOWN else None
    return LeafExplanation(path, to_text(leaf), result, negated, sentence, question)


def _code_name(system: System, code: str, display: str, language: str = "en") -> str:
    term = nearest_term(system, code)
    if term is None:
        return display
    if language == "da":
        if term.code.replace(".", "") == code.replace(".", ""):
            return f"{term.plain_name_in('da')} ({display})"
        return f"{_lower(term.name_da or term.name)} ({display})"
    if term.code.replace(".", "") == code.replace(".", ""):
        return f"{_with_article(system, code, term.plain_name)} ({display})"
    return f"{_lower(term.name)} ({display})"


def _with_article(system: System, code: str, phrase: str) -> str:
    """ "a magnesium supplement": ATC groups are things one takes one of; substances are not."""
    if system != "atc" or len(code) == ATC_SUBSTANCE_LENGTH or not phrase.endswith(COUNTABLE_ENDINGS):
        return phrase
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def _lower(name: str) -> str:
    return name if len(name) > 1 and name[1].isupper() else name[:1].lower() + name[1:]


def _codes_sentence(leaf: Condition | Medication, result: Truth, facts: Facts) -> tuple[str, str | None]:
    is_condition = isinstance(leaf, Condition)
    system: System = "icd10" if is_condition else "atc"
    is_range = isinstance(leaf, Condition) and leaf.range_end is not None
    wanted = _code_name(system, leaf.display if is_range else leaf.code, leaf.display)
    asked = f"{wanted}{_qualifier_words(leaf)}"
    question = f"Have you been diagnosed with {asked}?" if is_condition else f"Do you take {asked}?"
    entries = facts.condition_entries if is_condition else facts.medication_entries
    if entries is None:
        if is_condition:
            return "you have not told us about your health conditions yet", question
        return "you have not told us which medicines you take yet", question
    matching = [entry for entry in entries if leaf.matches(entry.code)]
    if leaf.qualified:
        q = thresholds(facts.on, leaf.current, leaf.within, leaf.for_at_least)
        if result is Truth.TRUE:
            entry = next(entry for entry in matching if definitely(entry, q))
            return f"you told us {_entry_words(system, entry)}", None
        possible = [entry for entry in matching if possibly(entry, q)]
        if possible:
            told = _entry_words(system, possible[0])
            return f"you told us {told}, which is not enough to tell whether it is {asked}", question
    elif result is Truth.TRUE:
        told = _entry_words(system, matching[0])
        if not is_condition and matching[0].code != leaf.code:
            return f"you told us {told}, which is {wanted}", None
        return f"you told us {told}", None
    vaguer = [entry for entry in entries if entry.code in leaf.ancestors]
    if result is Truth.UNKNOWN and vaguer:
        code = vaguer[0].code
        told = _code_name(system, code, display_icd10(code) if is_condition else code)
        return (
            f"you told us about {told}, which is less specific than what the study asks ({wanted})",
            question,
        )
    if matching:
        told = _entry_words(system, matching[0])
        return f"you told us {told}, and the study asks about {asked}", None
    listed = "health conditions" if is_condition else "medicines"
    return f"you told us your {listed}, and {wanted} is not among them", None


def _qualifier_words(leaf: Condition | Medication) -> str:
    words = []
    if leaf.current is not None:
        words.append("now" if leaf.current else "only in the past")
    if leaf.within is not None:
        words.append(f"at some time in the last {duration_words(leaf.within)}")
    if leaf.for_at_least is not None:
        words.append(f"for at least {duration_words(leaf.for_at_least)}")
    return "".join(f" {word}" if index == 0 else f" and {word}" for index, word in enumerate(words))


def _date_words(text: str) -> str:
    return f"on {text}" if len(text) == 10 else f"in {text}"


def _entry_words(system: System, entry: EntryFacts) -> str:
    """``you stopped taking magnesium in 2025`` without the "you told us"."""
    is_condition = system == "icd10"
    shown = display_icd10(entry.code) if is_condition else entry.code
    name = _code_name(system, entry.code, shown)
    since = entry.since_text
    until = entry.until_text
    if entry.status == "past":
        if is_condition:
            words = f"you had {name}"
            words += f" from {since}" if since else ""
            return words + (f" until {until}" if until else " in the past")
        if until:
            return f"you stopped taking {name} {_date_words(until)}"
        return f"you took {name}" + (f" from {since}" if since else " in the past")
    if since:
        return (
            f"you have had {name} since {since}" if is_condition else f"you have taken {name} since {since}"
        )
    if entry.status == "current":
        return f"you currently have {name}" if is_condition else f"you currently take {name}"
    return f"you have {name}" if is_condition else f"you take {name}"


def _field_sentence(leaf: FieldLeaf, result: Truth, facts: Facts) -> str:
    value = getattr(facts, leaf.field)
    if result is Truth.UNKNOWN:
        return UNANSWERED[leaf.field]
    if leaf.field == "pregnant":
        if facts.sex == Sex.MALE:
            return "you told us your sex is male, so we count you as not pregnant"
        return "you told us you are pregnant" if value else "you told us you are not pregnant"
    if leaf.field == "smoker":
        return "you told us you smoke" if value else "you told us you do not smoke"
    fact = _known_fact(leaf.field, value)
    wanted = _wanted(leaf)
    meets = field_test(leaf)(value)
    return f"{fact}, and {'that is' if meets else 'that is not'} {wanted}"


def _known_fact(field: str, value: object) -> str:
    if field == "age":
        return f"you are {value}"
    if field == "bmi":
        return f"your BMI, from the height and weight you told us, is {value}"
    if field == "height_cm":
        return f"you told us your height is {value} cm"
    if field == "weight_kg":
        return f"you told us your weight is {value} kg"
    if field == "region":
        return f"you told us you live in {REGION_NAMES.get(str(value), str(value))}"
    return f"you told us your sex is {value}"


def _wanted(leaf: FieldLeaf) -> str:
    if leaf.op == "between":
        low, high = leaf.value  # type: ignore[str-unpack,misc]
        return f"between {low} and {high}"
    if leaf.op == "in":
        return "one of " + ", ".join(str(item) for item in leaf.value)  # type: ignore[union-attr]
    words = {
        "eq": "",
        "ne": "other than ",
        "lt": "below ",
        "le": "at most ",
        "gt": "above ",
        "ge": "at least ",
    }
    return f"{words[leaf.op]}{leaf.value}".strip()


def _codes_sentence_da(leaf: Condition | Medication, result: Truth, facts: Facts) -> tuple[str, str | None]:
    """``_codes_sentence`` in Danish."""
    is_condition = isinstance(leaf, Condition)
    system: System = "icd10" if is_condition else "atc"
    is_range = isinstance(leaf, Condition) and leaf.range_end is not None
    wanted = _code_name(system, leaf.display if is_range else leaf.code, leaf.display, "da")
    asked = f"{wanted}{_qualifier_words_da(leaf)}"
    question = f"Har du fået stillet diagnosen {asked}?" if is_condition else f"Tager du {asked}?"
    entries = facts.condition_entries if is_condition else facts.medication_entries
    if entries is None:
        if is_condition:
            return "du har ikke fortalt os om dine sygdomme endnu", question
        return "du har ikke fortalt os, hvilken medicin du tager, endnu", question
    matching = [entry for entry in entries if leaf.matches(entry.code)]
    if leaf.qualified:
        q = thresholds(facts.on, leaf.current, leaf.within, leaf.for_at_least)
        if result is Truth.TRUE:
            entry = next(entry for entry in matching if definitely(entry, q))
            return f"du har fortalt os, at {_entry_words_da(system, entry)}", None
        possible = [entry for entry in matching if possibly(entry, q)]
        if possible:
            told = _entry_words_da(system, possible[0])
            return (
                f"du har fortalt os, at {told}, men det er ikke nok til at afgøre, om det er {asked}",
                question,
            )
    elif result is Truth.TRUE:
        told = _entry_words_da(system, matching[0])
        if not is_condition and matching[0].code != leaf.code:
            return f"du har fortalt os, at {told}, og det er {wanted}", None
        return f"du har fortalt os, at {told}", None
    vaguer = [entry for entry in entries if entry.code in leaf.ancestors]
    if result is Truth.UNKNOWN and vaguer:
        code = vaguer[0].code
        told = _code_name(system, code, display_icd10(code) if is_condition else code, "da")
        return (
            f"du har fortalt os om {told}, som er mindre præcist end det, studiet spørger om ({wanted})",
            question,
        )
    if matching:
        told = _entry_words_da(system, matching[0])
        return f"du har fortalt os, at {told}, og studiet spørger om {asked}", None
    listed = "hvilke sygdomme du har" if is_condition else "hvilken medicin du tager"
    return f"du har fortalt os, {listed}, og {wanted} er ikke blandt dem", None


def _qualifier_words_da(leaf: Condition | Medication) -> str:
    words = []
    if leaf.current is not None:
        words.append("nu" if leaf.current else "kun tidligere")
    if leaf.within is not None:
        words.append(f"på et tidspunkt inden for de sidste {_duration(leaf.within, 'da')}")
    if leaf.for_at_least is not None:
        words.append(f"i mindst {_duration(leaf.for_at_least, 'da')}")
    return "".join(f" {word}" if index == 0 else f" og {word}" for index, word in enumerate(words))


def _entry_words_da(system: System, entry: EntryFacts) -> str:
    """``du stoppede med at tage magnesium i 2025`` without the "du har fortalt os, at"."""
    is_condition = system == "icd10"
    shown = display_icd10(entry.code) if is_condition else entry.code
    name = _code_name(system, entry.code, shown, "da")
    since, until = entry.since_text, entry.until_text
    if entry.status == "past":
        if is_condition:
            words = f"du havde {name}" + (f" fra {since}" if since else "")
            return words + (f" indtil {until}" if until else " tidligere")
        if until:
            when = f"den {until}" if len(until) == 10 else f"i {until}"
            return f"du stoppede med at tage {name} {when}"
        return f"du tog {name}" + (f" fra {since}" if since else " tidligere")
    if since:
        return f"du har haft {name} siden {since}" if is_condition else f"du har taget {name} siden {since}"
    if entry.status == "current":
        return f"du har {name} nu" if is_condition else f"du tager {name} nu"
    return f"du har {name}" if is_condition else f"du tager {name}"


def _field_sentence_da(leaf: FieldLeaf, result: Truth, facts: Facts) -> str:
    value = getattr(facts, leaf.field)
    if result is Truth.UNKNOWN:
        return UNANSWERED_DA[leaf.field]
    if leaf.field == "pregnant":
        if facts.sex == Sex.MALE:
            return "du har fortalt os, at dit køn er mand, så vi regner dig som ikke gravid"
        return "du har fortalt os, at du er gravid" if value else "du har fortalt os, at du ikke er gravid"
    if leaf.field == "smoker":
        return "du har fortalt os, at du ryger" if value else "du har fortalt os, at du ikke ryger"
    facts_da = {
        "age": f"du er {value} år",
        "bmi": f"dit BMI, ud fra den højde og vægt du har fortalt os, er {value}",
        "height_cm": f"du har fortalt os, at din højde er {value} cm",
        "weight_kg": f"du har fortalt os, at din vægt er {value} kg",
        "region": f"du har fortalt os, at du bor i {REGION_NAMES_DA.get(str(value), str(value))}",
        "sex": f"du har fortalt os, at dit køn er {SEXES_DA.get(str(value), str(value))}",
    }
    meets = field_test(leaf)(value)
    return f"{facts_da[leaf.field]}, og det er {'' if meets else 'ikke '}{_wanted_da(leaf)}"


def _wanted_da(leaf: FieldLeaf) -> str:
    if leaf.op == "between":
        low, high = leaf.value  # type: ignore[str-unpack,misc]
        return f"mellem {low} og {high}"
    if leaf.op == "in":
        return "en af " + ", ".join(SEXES_DA.get(str(item), str(item)) for item in leaf.value)  # type: ignore[union-attr]
    words = {"eq": "", "ne": "andet end ", "lt": "under ", "le": "højst ", "gt": "over ", "ge": "mindst "}
    value = SEXES_DA.get(str(leaf.value), str(leaf.value))
    return f"{words[leaf.op]}{value}".strip()
