"""The profile wizard and edits: answers stored as given, unanswered stays unanswered, and
every bad value re-renders the form at the field and writes nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import OutboxMessage, Participant, Profile
from panel_service.services import profiles
from panel_service.timeutil import panel_today
from tests.support.volunteers import csrf_token, make_volunteer, post_form, row_counts, sign_in

ABOUT = {
    "birth_date": "1980-04-23",
    "sex": "female",
    "region": "DK-84",
    "height_cm": "172,5",
    "weight_kg": "68.44",
    "smoker": "no",
    "pregnant": "no",
}


@pytest.fixture()
def volunteer(client: FlaskClient, db: Session, settings: Settings) -> int:
    _account, participant = make_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    return participant.id


def test_about_you_is_stored_with_bmi_and_a_match_is_queued(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    response = post_form(client, "/me/profile/about?wizard=1", {**ABOUT, "wizard": "1"})
    assert response.status_code == 302 and "/me/profile/home?wizard=1" in response.location
    profile = db.get(Profile, volunteer)
    assert profile is not None
    assert (profile.birth_date, profile.sex, profile.region) == (dt.date(1980, 4, 23), "female", "DK-84")
    assert (profile.height_cm, profile.weight_kg, profile.bmi) == (172.5, 68.4, 23.0)
    assert profile.smoker is False and profile.pregnant is False
    assert profile.conditions_answered is False and profile.medications_answered is False
    payloads = db.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.task_name == "matching.match_profile")
    ).all()
    assert {"participant_id": volunteer} in payloads


def test_empty_answers_stay_unanswered_and_men_are_never_pregnant(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    response = post_form(client, "/me/profile/about", {"sex": "male", "pregnant": "yes"})
    assert response.status_code == 302
    profile = db.get(Profile, volunteer)
    assert profile is not None
    assert profile.birth_date is None and profile.region is None and profile.height_cm is None
    assert profile.smoker is None and profile.bmi is None
    assert profile.pregnant is False


def test_danish_style_date_is_understood(client: FlaskClient, db: Session, volunteer: int) -> None:
    assert post_form(client, "/me/profile/about", {"birth_date": "23.04.1980"}).status_code == 302
    profile = db.get(Profile, volunteer)
    assert profile is not None and profile.birth_date == dt.date(1980, 4, 23)


def test_date_of_birth_is_three_boxes_day_month_year(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    """Issue 13, item 7: day / month / year fields, as GOV.UK asks for dates people know."""
    page = client.get("/me/profile/about").get_data(as_text=True)
    for part, autocomplete in (("day", "bday-day"), ("month", "bday-month"), ("year", "bday-year")):
        assert re.search(rf'<label for="birth_date-{part}">', page), part
        assert f'name="birth_date-{part}"' in page and f'autocomplete="{autocomplete}"' in page
    form = {"birth_date-day": "23", "birth_date-month": "4", "birth_date-year": "1980"}
    assert post_form(client, "/me/profile/about", form).status_code == 302
    profile = db.get(Profile, volunteer)
    assert profile is not None and profile.birth_date == dt.date(1980, 4, 23)
    again = client.get("/me/profile/about").get_data(as_text=True)
    boxes = {
        re.search(r'name="([a-z_-]+)"', tag).group(1): tag  # type: ignore[union-attr]
        for tag in re.findall(r"<input [^>]*>", again)
        if 'name="birth_date-' in tag
    }
    assert 'value="23"' in boxes["birth_date-day"] and 'value="4"' in boxes["birth_date-month"]
    assert 'value="1980"' in boxes["birth_date-year"]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (("23", "", "1980"), "must include a day, a month and a year"),
        (("31", "4", "1980"), "Enter a real date of birth"),
        (("23", "4", "80"), "Enter a real date of birth"),
        (("x", "4", "1980"), "Enter a real date of birth"),
    ],
)
def test_bad_date_parts_are_refused_with_the_boxes_kept(
    client: FlaskClient, db: Session, volunteer: int, parts: tuple[str, str, str], message: str
) -> None:
    day, month, year = parts
    data = {
        **ABOUT,
        "birth_date": None,
        "birth_date-day": day,
        "birth_date-month": month,
        "birth_date-year": year,
    }
    _refused(
        client, db, {key: value for key, value in data.items() if value is not None}, "birth_date", message
    )
    page = post_form(client, "/me/profile/about", {"birth_date-day": day, "birth_date-year": year}).get_data(
        as_text=True
    )
    assert f'value="{year}"' in page, "what was typed is kept"


def test_the_error_summary_lists_every_problem_in_words_of_its_own(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    """Issue 13, item 7: all errors at once, no "label: message" doubling, no internal names."""
    response = post_form(
        client,
        "/me/profile/about",
        {**ABOUT, "birth_date": "yesterday", "height_cm": "tall", "weight_kg": "0"},
    )
    assert response.status_code == 422
    summary = response.get_data(as_text=True).split('class="error-summary"')[1].split("</div>")[0]
    items = re.findall(r'<li><a href="#([a-z_]+)">([^<]+)</a></li>', summary)
    assert [field for field, _text in items] == ["birth_date", "height_cm", "weight_kg"]
    assert all(":" not in text for _field, text in items), items
    assert "between 20 and 400 kilograms, for example 68" in items[2][1]


def _bad_birth_dates(today: dt.date) -> list[tuple[str, str]]:
    seventeen = today.replace(year=today.year - 17)
    return [
        ((today + dt.timedelta(days=1)).isoformat(), "cannot be in the future"),
        ("2001-02-30", "Enter a real date"),
        ("1999-13-01", "Enter a real date"),
        ("yesterday", "Enter a real date"),
        ("1850-01-01", "after 1900"),
        (seventeen.isoformat(), "18 or older"),
    ]


@pytest.mark.parametrize("case", range(6))
def test_bad_birth_dates_are_refused_at_the_field(
    client: FlaskClient, db: Session, settings: Settings, volunteer: int, case: int
) -> None:
    value, message = _bad_birth_dates(panel_today(settings))[case]
    _refused(client, db, {**ABOUT, "birth_date": value}, "birth_date", message)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("height_cm", "2000", "between 50 and 260"),
        ("height_cm", "20 m", "Enter your height in centimetres as a number, for example 172"),
        ("height_cm", "-170", "between 50 and 260"),
        ("height_cm", "NaN", "Enter your height in centimetres as a number"),
        ("weight_kg", "heavy", "Enter your weight in kilograms as a number, for example 68"),
        ("weight_kg", "4000", "between 20 and 400"),
        ("weight_kg", "0", "between 20 and 400"),
        ("sex", "robot", "Choose female, male or other"),
        ("region", "XX-99", "Choose your region from the list"),
        ("smoker", "sometimes", "Choose yes or no for whether you smoke"),
    ],
)
def test_bad_values_are_refused_at_the_field(
    client: FlaskClient, db: Session, volunteer: int, field: str, value: str, message: str
) -> None:
    _refused(client, db, {**ABOUT, field: value}, field, message)


def _refused(client: FlaskClient, db: Session, data: dict[str, str], field: str, message: str) -> None:
    before = row_counts(db)
    response = post_form(client, "/me/profile/about", data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'href="#{field}"' in page, "the error summary links to the field"
    assert re.search(rf'<p class="error" id="{field}-error">[^<]*{message}', page), page
    assert row_counts(db) == before


def test_conditions_found_by_lay_words_without_javascript(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    response = post_form(
        client,
        "/me/profile/conditions",
        {"q": "restless legs", "action": "search"},
        token_from="/me/profile/conditions",
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'value="G25.81"' in page or 'value="G25.8"' in page
    saved = post_form(client, "/me/profile/conditions", {"codes": ["G25.81"], "action": "save"})
    assert saved.status_code == 302
    profile = db.get(Profile, volunteer)
    assert profile is not None and profile.conditions_answered is True
    assert profiles.stored_codes(db, volunteer, "icd10") == ["G2581"]
    assert "Restless" in client.get("/me/profile").get_data(as_text=True) or "restless" in client.get(
        "/me/profile"
    ).get_data(as_text=True)


def test_medications_by_code_and_none_and_skip(client: FlaskClient, db: Session, volunteer: int) -> None:
    assert (
        post_form(client, "/me/profile/medications", {"codes": ["a12cc"], "action": "save"}).status_code
        == 302
    )
    assert profiles.stored_codes(db, volunteer, "atc") == ["A12CC"]
    assert post_form(client, "/me/profile/medications", {"action": "none"}).status_code == 302
    profile = db.get(Profile, volunteer)
    assert profile is not None and profile.medications_answered is True
    assert profiles.stored_codes(db, volunteer, "atc") == []
    # Skipping conditions leaves them unanswered (not "none").
    assert post_form(client, "/me/profile/conditions", {"action": "skip"}).status_code == 302
    db.refresh(profile)
    assert profile.conditions_answered is False
    assert profiles.profile_data(db, volunteer).conditions is None
    assert profiles.profile_data(db, volunteer).medications == ()


@pytest.mark.parametrize("code", ["Q99.999", "ZZZ", "<script>", "A99ZZ99"])
def test_unknown_codes_are_refused_and_nothing_is_written(
    client: FlaskClient, db: Session, volunteer: int, code: str
) -> None:
    before = row_counts(db)
    response = post_form(client, "/me/profile/conditions", {"codes": [code], "action": "save"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'href="#codes"' in page and "not a code we know" in page
    assert "<script>" not in page.split("<main", 1)[1]
    assert row_counts(db) == before


def test_saving_an_empty_list_asks_for_none_instead(client: FlaskClient, db: Session, volunteer: int) -> None:
    before = row_counts(db)
    response = post_form(client, "/me/profile/conditions", {"action": "save"})
    assert response.status_code == 422
    assert "I have none" in response.get_data(as_text=True)
    assert row_counts(db) == before


def test_wizard_runs_about_town_travel_conditions_medications_then_dashboard(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    step = post_form(client, "/me/profile/about?wizard=1", {**ABOUT, "wizard": "1"})
    assert "/me/profile/home?wizard=1" in step.location
    step = post_form(client, step.location, {"action": "skip", "wizard": "1"})
    assert "/me/profile/travel?wizard=1" in step.location
    step = post_form(client, step.location, {"action": "skip", "wizard": "1"})
    assert "/me/profile/conditions?wizard=1" in step.location
    step = post_form(client, step.location, {"action": "none", "wizard": "1"})
    assert "/me/profile/medications" in step.location
    step = post_form(client, step.location, {"action": "skip", "wizard": "1"})
    assert step.location.endswith("/me")
    data = profiles.profile_data(db, volunteer)
    assert data.conditions == () and data.medications is None


def test_vocabulary_search_json(client: FlaskClient) -> None:
    body = client.get("/vocabulary/search?system=atc&q=magnesium").json
    assert any(item["code"].startswith("A12CC") for item in body["items"])
    assert client.get("/vocabulary/search?system=icd10&q=G25.8").json["items"][0]["code"].startswith("G25.8")
    assert client.get("/vocabulary/search?system=x&q=a").status_code == 400


def test_danish_volunteers_search_in_danish_and_see_danish_names(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    """Issue 13, item 3: "uro i benene", "forhøjet blodtryk", "sukkersyge" find their codes, and
    the picker names them in Danish; one result per name (no G25.8 beside G25.81)."""
    danish = {"Accept-Language": "da"}
    body = client.get("/vocabulary/search?system=icd10&q=uro i benene", headers=danish).json
    assert [(item["code"], item["name"]) for item in body["items"]] == [("G25.81", "uro i benene")]
    found = client.get("/vocabulary/search?system=icd10&q=forhøjet blodtryk", headers=danish).json
    assert found["items"][0] == {
        "code": "I10",
        "name": "forhøjet blodtryk",
        "official": "Essential (primary) hypertension",
    }
    diabetes = client.get("/vocabulary/search?system=icd10&q=sukkersyge", headers=danish).json
    assert {item["code"] for item in diabetes["items"]} >= {"E10", "E11"}
    form = {
        "q": "forhøjet blodtryk",
        "action": "search",
        "csrf_token": csrf_token(client, "/me/profile/conditions"),
    }
    page = client.post("/me/profile/conditions", data=form, headers=danish).get_data(as_text=True)
    assert 'id="result-I10"' in page and "forhøjet blodtryk" in page


def test_profile_pages_need_a_signed_in_volunteer(client: FlaskClient) -> None:
    for path in (
        "/me",
        "/me/profile",
        "/me/profile/about",
        "/me/profile/conditions",
        "/me/contact",
        "/me/data",
    ):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location, path


def test_saved_answers_are_shown_again_in_the_visitors_number_format(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    post_form(client, "/me/profile/about", ABOUT)
    assert 'value="172.5"' in client.get("/me/profile/about").get_data(as_text=True)
    danish = client.get("/me/profile/about", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert 'value="172,5"' in danish and 'value="1980"' in danish and 'value="23"' in danish
    summary = client.get("/me/profile", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "172,5 cm" in summary and "23. april 1980" in summary


def _checked_codes(page: str) -> set[str]:
    return set(re.findall(r'<input type="checkbox" name="codes" value="([^"]+)"[^>]*checked', page))


def test_ticked_conditions_survive_searches_and_a_cleared_search_box_without_javascript(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    """Issue 10, item 15: tick across three searches and a cleared search box, then save; every
    tick is kept, and so is a code already in the profile that no search lists (QA0.0101, from
    an import: well formed, not in the vocabulary the form offers)."""
    participant = db.get(Participant, volunteer)
    assert participant is not None
    profiles.save_codes(db, participant, system="icd10", codes=["QA00101"])
    path = "/me/profile/conditions"
    first = client.get(path).get_data(as_text=True)
    assert _checked_codes(first) == {"QA0.0101"}
    ticked = ["QA0.0101"]
    for query, code in (("restless legs", "G25.81"), ("high blood pressure", "I10"), ("haemophilia", "D66")):
        response = post_form(client, path, {"codes": ticked, "q": query, "action": "search"})
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert _checked_codes(page) == set(ticked), query
        assert f'id="result-{code}"' in page, query
        ticked.append(code)
    cleared = post_form(client, path, {"codes": ticked, "q": "", "action": "search"})
    assert cleared.status_code == 200
    assert _checked_codes(cleared.get_data(as_text=True)) == set(ticked)
    saved = post_form(client, path, {"codes": ticked, "q": "", "action": "save"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert sorted(profiles.stored_codes(db, volunteer, "icd10")) == ["D66", "G2581", "I10", "QA00101"]
    assert profiles.profile_data(db, volunteer).conditions == ("D66", "G2581", "I10", "QA00101")


def test_the_about_page_leaves_the_home_town_as_it_is(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    """The town has its own page now (test_where.py); saving "About you" keeps it."""
    assert post_form(client, "/me/profile/home", {"town": "Aarhus", "action": "save"}).status_code == 302
    assert post_form(client, "/me/profile/about", ABOUT).status_code == 302
    profile = db.get(Profile, volunteer)
    assert profile is not None and profile.home_geonameid == 2624652
