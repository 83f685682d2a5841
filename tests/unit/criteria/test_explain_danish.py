"""Every leaf kind explained in English and in Danish (§4a): fields, conditions and medicines with
and without qualifiers and histories, place leaves and questions; names in Danish from the
vocabulary's Danish words."""

from __future__ import annotations

import datetime as dt

import pytest

from panel_service.domain.criteria import Truth, explain, parse_text
from panel_service.domain.geo import Home, site_points
from panel_service.domain.profile_json import profile_from_json

TODAY = dt.date(2026, 6, 15)
SITES = site_points([{"name": "Aarhus", "lat": 56.19, "lon": 10.17}])
PROFILE = profile_from_json(
    {
        "birth_date": "1970-03-02",
        "sex": "female",
        "region": "DK-82",
        "height_cm": 170,
        "weight_kg": 70,
        "smoker": False,
        "pregnant": False,
        "conditions": [{"code": "G25.81", "status": "current", "since": "2019"}, "J45"],
        "medications": [{"code": "A12CC05", "status": "past", "since": "2024", "until": "2025"}],
        "answers": {"smoking_status": "former", "willing_mri": True},
        "home": {"lat": 56.16, "lon": 10.21},
    },
    today=TODAY,
)

# (criterion, words the English sentence holds, words the Danish sentence holds)
CASES = [
    ("age between 18 and 75", "you are 56", "du er 56 år"),
    ("sex = female", "your sex is female", "dit køn er kvinde"),
    ("bmi >= 25", "your BMI", "dit BMI"),
    ("height_cm > 150", "your height is 170", "din højde er 170"),
    ("weight_kg < 100", "your weight is 70", "din vægt er 70"),
    ("smoker", "you do not smoke", "du ikke ryger"),
    ("pregnant", "you are not pregnant", "du ikke er gravid"),
    ("region = DK", "", ""),
    ("distance_to_site_km <= 50", "", ""),
    ("not takes A12CC within P3M", "you stopped taking magnesium", "du stoppede med at tage magnesium"),
    ("takes A12CC", "magnesium", "magnesium"),
    ("has condition G25.8 for at least P1Y", "since 2019", "siden 2019"),
    ("has condition G25.81 currently", "you have had", "du har haft"),
    ("has condition J45 formerly", "", "du har fortalt os"),
    ("has condition N18", "not among them", "ikke blandt dem"),
    ("answer smoking_status = former", "", ""),
    ("answer willing_mri = true", "", ""),
]


@pytest.mark.parametrize(("text", "english", "danish"), CASES)
def test_each_leaf_kind_in_english_and_danish(text: str, english: str, danish: str) -> None:
    node = parse_text(text)
    en = explain(node, PROFILE, TODAY, SITES, "en").leaves[0]
    da = explain(node, PROFILE, TODAY, SITES, "da").leaves[0]
    assert en.result is da.result
    assert english in en.sentence and danish in da.sentence, (en.sentence, da.sentence)
    assert en.sentence != da.sentence
    assert "you " not in da.sentence and "told us" not in da.sentence, da.sentence


def test_the_magnesium_example_of_the_issue() -> None:
    da = explain(parse_text("not takes A12CC within P3M"), PROFILE, TODAY, SITES, "da").leaves[0]
    assert da.sentence.startswith("du har fortalt os, at du stoppede med at tage magnesium")
    assert "(A12CC05) i 2025" in da.sentence


def test_unknowns_ask_their_question_in_danish() -> None:
    empty = profile_from_json({}, today=TODAY)
    for text, question in (
        ("age >= 18", "Hvad er din fødselsdato?"),
        ("smoker", "Ryger du?"),
        ("has condition G25.8", "Har du fået stillet diagnosen"),
        ("takes A12CC", "Tager du"),
    ):
        leaf = explain(parse_text(text), empty, TODAY, (), "da").leaves[0]
        assert leaf.result is Truth.UNKNOWN
        assert leaf.question is not None and leaf.question.startswith(question), leaf.question
        assert leaf.sentence.startswith("du har ikke") or leaf.sentence.startswith("vi kan ikke"), (
            leaf.sentence
        )


def test_a_home_is_not_needed_for_words() -> None:
    assert Home(1.0, 2.0).to_json() == {"lat": 1.0, "lon": 2.0}
