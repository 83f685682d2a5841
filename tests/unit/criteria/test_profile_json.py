from __future__ import annotations

import datetime as dt

import pytest

from panel_service.domain.profile import ProfileData
from panel_service.domain.profile_json import ProfileJSONError, profile_from_json


def test_a_full_profile_is_converted_and_codes_normalised() -> None:
    profile = profile_from_json(
        {
            "birth_date": "1980-02-29",
            "sex": "Female",
            "region": "dk-84",
            "height_cm": 170.04,
            "weight_kg": 72,
            "smoker": False,
            "pregnant": False,
            "conditions": ["g25.81", "N18.3", "G25.81"],
            "medications": ["a12cc05"],
        }
    )
    assert profile == ProfileData(
        birth_date=dt.date(1980, 2, 29),
        sex="female",
        region="DK-84",
        height_cm=170.0,
        weight_kg=72.0,
        smoker=False,
        pregnant=False,
        conditions=("G2581", "N183"),
        medications=("A12CC05",),
    )


def test_missing_or_null_means_unanswered_and_an_empty_list_means_none() -> None:
    assert profile_from_json({}) == ProfileData()
    assert profile_from_json({"conditions": None, "medications": []}) == ProfileData(medications=())


def test_import_lines_may_carry_other_keys_unless_strict() -> None:
    line = {"email": "a@example.org", "name": "A", "consent": True, "sex": "male"}
    assert profile_from_json(line).sex == "male"
    with pytest.raises(ProfileJSONError) as caught:
        profile_from_json(line, strict=True)
    assert [key for key, _ in caught.value.errors] == ["email", "name", "consent"]


def test_every_error_is_listed_with_its_key() -> None:
    with pytest.raises(ProfileJSONError) as caught:
        profile_from_json(
            {
                "birth_date": "29/02/1980",
                "sex": "m",
                "region": "Denmark",
                "height_cm": 400,
                "weight_kg": "80",
                "smoker": "no",
                "conditions": ["G25.81", "not a code", 7],
                "medications": "A12CC",
            }
        )
    assert [key for key, _ in caught.value.errors] == [
        "sex",
        "birth_date",
        "region",
        "height_cm",
        "weight_kg",
        "smoker",
        "conditions[1]",
        "conditions[2]",
        "medications",
    ]
    assert "'29/02/1980'" in dict(caught.value.errors)["birth_date"]


def test_a_man_cannot_be_pregnant() -> None:
    with pytest.raises(ProfileJSONError) as caught:
        profile_from_json({"sex": "male", "pregnant": True})
    assert caught.value.errors[0][0] == "pregnant"


def test_adults_only_when_asked() -> None:
    today = dt.date(2026, 11, 25)
    assert profile_from_json({"birth_date": "2008-11-25"}, adult_on=today).birth_date == dt.date(2008, 11, 25)
    with pytest.raises(ProfileJSONError) as caught:
        profile_from_json({"birth_date": "2008-11-26"}, adult_on=today)
    assert caught.value.errors[0][0] == "birth_date"


def test_not_an_object() -> None:
    with pytest.raises(ProfileJSONError) as caught:
        profile_from_json([1, 2])
    assert caught.value.errors[0][0] == "$"
