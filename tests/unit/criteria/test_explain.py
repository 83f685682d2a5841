from __future__ import annotations

import datetime as dt

from panel_service.domain.criteria import Truth, explain, parse_text
from panel_service.domain.profile import ProfileData
from tests.unit.criteria.test_text_form import EXAMPLE_TEXT

TODAY = dt.date(2026, 11, 25)


def test_every_leaf_is_explained_with_its_path_and_result() -> None:
    profile = ProfileData(
        birth_date=dt.date(1980, 2, 29), sex="female", pregnant=False, conditions=("G2581",), medications=()
    )
    explanation = explain(parse_text(EXAMPLE_TEXT), profile, TODAY)
    assert explanation.result is Truth.TRUE
    assert [(leaf.path, leaf.result, leaf.negated) for leaf in explanation.leaves] == [
        ("all[0]", Truth.TRUE, False),
        ("all[1]", Truth.TRUE, False),
        ("all[2].not.any[0]", Truth.FALSE, True),
        ("all[2].not.any[1]", Truth.FALSE, True),
        ("all[2].not.any[2]", Truth.FALSE, True),
        ("all[3].not", Truth.FALSE, True),
    ]
    sentences = [leaf.sentence for leaf in explanation.leaves]
    assert sentences[0] == "you are 46, and that is between 18 and 75"
    assert sentences[1] == "you told us you have restless legs (G25.81)"
    assert "kidney disease (N17-N19) is not among them" in sentences[2]
    assert sentences[4] == "you told us you are not pregnant"
    assert all(leaf.question is None for leaf in explanation.leaves)


def test_a_magnesium_supplement_is_named_in_plain_words() -> None:
    explanation = explain(parse_text("not takes A12CC"), ProfileData(medications=("A12CC05",)), TODAY)
    assert explanation.result is Truth.FALSE
    assert explanation.leaves[0].sentence == (
        "you told us you take magnesium oxide (A12CC05), which is a magnesium supplement (A12CC)"
    )


def test_unknowns_carry_the_question_that_settles_them() -> None:
    explanation = explain(parse_text(EXAMPLE_TEXT + " and bmi >= 25 and smoker"), ProfileData(), TODAY)
    assert explanation.result is Truth.UNKNOWN
    questions = [leaf.question for leaf in explanation.leaves]
    assert questions == [
        "What is your date of birth?",
        "Have you been diagnosed with restless legs (G25.8)?",
        "Have you been diagnosed with kidney disease (N17-N19)?",
        "Have you been diagnosed with haemophilia (D66)?",
        "Are you pregnant?",
        "Do you take a magnesium supplement (A12CC)?",
        "What are your height and weight?",
        "Do you smoke?",
    ]
    assert explanation.leaves[1].sentence == "you have not told us about your health conditions yet"


def test_men_are_told_why_they_count_as_not_pregnant() -> None:
    leaf = explain(parse_text("not pregnant"), ProfileData(sex="male"), TODAY).leaves[0]
    assert leaf.sentence == "you told us your sex is male, so we count you as not pregnant"


def test_field_sentences_say_what_the_study_wants() -> None:
    profile = ProfileData(region="DK-84", height_cm=180.0, weight_kg=100.0, smoker=False)
    leaves = explain(parse_text("region in (DK-84, DK-85) and bmi >= 35 and smoker"), profile, TODAY).leaves
    assert (
        leaves[0].sentence
        == "you told us you live in the Capital Region of Denmark, and that is in one of the Capital Region of Denmark, Region Zealand"
    )
    assert (
        leaves[1].sentence
        == "your BMI, from the height and weight you told us, is 30.9, and that is not at least 35"
    )
    assert leaves[2].sentence == "you told us you do not smoke"
