"""The "questions that matter" rule (domain.asking): which unknowns could decide a study, and the
order they are asked in (more studies first, then catalogue order)."""

from __future__ import annotations

import datetime as dt

from panel_service.domain.asking import (
    Ask,
    AskKind,
    StudyCriteria,
    deciding_leaves,
    not_skipped,
    questions_that_matter,
    rank,
)
from panel_service.domain.criteria import parse_text, profile_facts
from panel_service.domain.criteria.model import QuestionLeaf
from panel_service.domain.history import Entry
from panel_service.domain.profile import ProfileData
from panel_service.domain.questions import Answer, seed_catalogue

TODAY = dt.date(2026, 12, 2)
CATALOGUE = seed_catalogue()


def study(text: str) -> StudyCriteria:
    return StudyCriteria(parse_text(text, CATALOGUE))


def asks(texts: list[str], profile: ProfileData) -> list[tuple[str, str, int, bool]]:
    found = questions_that_matter([study(text) for text in texts], profile_facts(profile, TODAY), CATALOGUE)
    return [(str(ask.kind), ask.key, ask.studies, ask.stale) for ask in found]


def test_more_studies_first_then_catalogue_order() -> None:
    profile = ProfileData(sex="female", conditions=(), medications=())
    found = asks(
        [
            "answer willing_mri = true and answer smoking_status = never",
            "answer willing_mri = true",
            "answer lives_alone = false and answer breastfeeding = false",
        ],
        profile,
    )
    # willing_mri decides two studies; the rest one each, in catalogue order
    # (breastfeeding, smoking_status, lives_alone).
    assert [key for _kind, key, _n, _stale in found] == [
        "willing_mri",
        "breastfeeding",
        "smoking_status",
        "lives_alone",
    ]
    assert found[0][2] == 2


def test_a_study_already_false_or_true_asks_nothing() -> None:
    profile = ProfileData(sex="female", smoker=True, answers={"lives_alone": Answer(True, TODAY)})
    # FALSE by a known answer: answering willing_mri changes nothing, and the study is not counted.
    assert asks(["answer lives_alone = false and answer willing_mri = true"], profile) == []
    # TRUE already: nothing to ask.
    assert asks(["answer lives_alone = true or answer willing_mri = true"], profile) == []


def test_a_branch_settled_by_a_known_sibling_is_not_asked() -> None:
    profile = ProfileData(sex="female", answers={"lives_alone": Answer(False, TODAY)})
    # (lives_alone AND willing_mri) is FALSE whatever willing_mri says; drug_study_3m decides.
    found = asks(
        ["(answer lives_alone = true and answer willing_mri = true) or answer drug_study_3m = false"],
        profile,
    )
    assert [key for _kind, key, _n, _stale in found] == ["drug_study_3m"]


def test_two_unknowns_that_decide_together_are_both_asked() -> None:
    tree = parse_text("answer willing_mri = true and answer willing_overnight = true", CATALOGUE)
    leaves = deciding_leaves(tree, profile_facts(ProfileData(), TODAY))
    assert sorted(leaf.key for leaf in leaves if isinstance(leaf, QuestionLeaf)) == [
        "willing_mri",
        "willing_overnight",
    ]


def test_a_stale_answer_is_asked_again_as_stale() -> None:
    old = TODAY - dt.timedelta(days=400)
    profile = ProfileData(sex="male", answers={"smoking_status": Answer("never", old)})
    assert asks(["answer smoking_status = never answered within P12M"], profile) == [
        ("question", "smoking_status", 1, True)
    ]
    # Fresh enough for this study: nothing to ask.
    assert asks(["answer smoking_status = never answered within P24M"], profile) == []


def test_a_question_that_does_not_apply_is_never_asked() -> None:
    # breastfeeding is false for men: the leaf is known, so nothing is asked.
    profile = ProfileData(sex="male")
    assert asks(["answer breastfeeding = false and answer willing_mri = true"], profile) == [
        ("question", "willing_mri", 1, False)
    ]


def test_a_scored_instrument_is_asked_as_one_question() -> None:
    assert asks(["answer phq9 <= 9"], ProfileData(sex="female")) == [("question", "phq9", 1, False)]


def test_history_of_the_volunteers_own_entry_is_asked_when_it_could_decide() -> None:
    profile = ProfileData(
        sex="female",
        conditions=("G258",),
        condition_history=(Entry("G258", "current", "2025"),),
        medications=("A12CC",),
    )
    # "since 2025" against "for at least a year" on 2 December 2026: unknown (since 1 January: yes;
    # since 31 December: no); a month would decide. A plain code (no history at all) likewise.
    assert asks(["has condition G25.8 for at least P1Y and takes A12CC currently"], profile) == [
        ("condition", "G258", 1, False),
        ("medication", "A12CC", 1, False),
    ]
    # "since 2026" cannot be a year ago: FALSE, nothing to ask.
    settled = ProfileData(
        sex="female", conditions=("G258",), condition_history=(Entry("G258", "current", "2026"),)
    )
    assert asks(["has condition G25.8 for at least P1Y"], settled) == []
    # An unanswered list is a profile section, not a question.
    assert asks(["takes A12CC currently"], ProfileData(sex="female")) == []


def test_ties_break_by_catalogue_order_and_history_comes_after_questions() -> None:
    shuffled = [
        Ask(AskKind.CONDITION, "G258", False, 2, 999),
        Ask(AskKind.QUESTION, "willing_mri", False, 2, 15),
        Ask(AskKind.QUESTION, "menopausal_status", False, 2, 0),
        Ask(AskKind.QUESTION, "languages", False, 3, 18),
    ]
    assert [ask.key for ask in rank(shuffled)] == ["languages", "menopausal_status", "willing_mri", "G258"]


def test_a_skip_keeps_a_question_aside_for_its_time_then_it_comes_back() -> None:
    ask = Ask(AskKind.QUESTION, "willing_mri", False, 1, 15)
    later = {"q:willing_mri": (TODAY, "later")}
    assert not_skipped([ask], later, TODAY + dt.timedelta(days=30)) == []
    assert not_skipped([ask], later, TODAY + dt.timedelta(days=31)) == [ask]
    rather_not = {"q:willing_mri": (TODAY, "rather_not")}
    assert not_skipped([ask], rather_not, TODAY + dt.timedelta(days=200)) == []
    assert not_skipped([ask], rather_not, TODAY + dt.timedelta(days=366)) == [ask]
