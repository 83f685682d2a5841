"""Where (issue 13 item 4): the town page (search and choose without JavaScript, the type-ahead's
JSON), "how far would you travel" writing ``max_travel_km``, and study sites by name and town
with regions by name (never "DK-84") on the home, study and dashboard pages, in English and
Danish. The invitation email is in tests/integration/pipeline (test_place.py)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import OutboxMessage, Participant, Profile
from panel_service.queries.eligibility import travel_facts
from panel_service.services import profiles
from tests.factories import make_invitation, make_recruiting_study
from tests.support.volunteers import (
    csrf_token,
    make_volunteer,
    post_form,
    recruiting_study,
    row_counts,
    sign_in,
)

COPENHAGEN_ID, AARHUS_ID = 2618425, 2624652
BISPEBJERG = {"name": "Bispebjerg Hospital", "lat": 55.71, "lon": 12.54}
AUH = {"name": "Aarhus University Hospital", "lat": 56.19, "lon": 10.17}


@pytest.fixture()
def volunteer(client: FlaskClient, db: Session, settings: Settings) -> int:
    _account, participant = make_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    return participant.id


def danish(client: FlaskClient) -> None:
    client.post("/language", data={"lang": "da", "next": "/", "csrf_token": csrf_token(client, "/signup")})


def home_of(db: Session, participant_id: int) -> tuple[object, ...]:
    profile = db.get(Profile, participant_id)
    assert profile is not None
    db.refresh(profile)
    return (profile.home_lat, profile.home_lon, profile.home_place, profile.home_geonameid)


def test_without_javascript_search_lists_towns_to_choose_from_then_saves_the_chosen_one(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    found = post_form(client, "/me/profile/home", {"town": "Køben", "action": "search"})
    assert found.status_code == 200
    page = found.get_data(as_text=True)
    assert re.search(
        rf'<input type="radio" name="place" value="{COPENHAGEN_ID}" id="place-{COPENHAGEN_ID}"', page
    )
    assert "Copenhagen, Denmark" in page
    saved = post_form(
        client, "/me/profile/home", {"town": "Køben", "place": str(COPENHAGEN_ID), "action": "save"}
    )
    assert saved.status_code == 302 and saved.location.endswith("/me/profile")
    assert home_of(db, volunteer) == (55.68, 12.57, "Copenhagen, DK", COPENHAGEN_ID)
    assert "Copenhagen, Denmark" in client.get("/me/profile").get_data(as_text=True)
    payloads = db.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.task_name == "matching.match_profile")
    ).all()
    assert {"participant_id": volunteer} in payloads  # the distance changed: matched again
    danish(client)
    assert "København, Danmark" in client.get("/me/profile").get_data(as_text=True)


@pytest.mark.parametrize("typed", ["Aarhus", "Århus", "aarhus, dk", "Aarhus, Denmark", "Aarhus, Danmark"])
def test_a_town_typed_in_full_in_either_language_is_saved_without_choosing(
    client: FlaskClient, db: Session, volunteer: int, typed: str
) -> None:
    saved = post_form(client, "/me/profile/home", {"town": typed, "action": "save"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert home_of(db, volunteer)[3] == AARHUS_ID


def test_danish_names_find_danish_towns_in_the_type_ahead(client: FlaskClient) -> None:
    english = client.get("/places/search?q=K%C3%B8benhavn").json
    assert english["items"][0] == {"id": str(COPENHAGEN_ID), "label": "Copenhagen, Denmark"}
    danish(client)
    assert client.get("/places/search?q=copenh").json["items"][0]["label"] == "København, Danmark"
    assert client.get("/places/search?q=%C3%A5rhus").json["items"][0]["label"] == "Aarhus, Danmark"
    assert client.get("/places/search?q=Helsing%C3%B8r").json["items"][0]["label"] == "Helsingør, Danmark"
    assert client.get("/places/search?q=k").json == {"items": []}  # two letters at least


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"town": "", "action": "save"}, "town", "Enter the name of the town where you live."),
        ({"town": "", "action": "search"}, "town", "Enter the name of the town where you live."),
        ({"town": "Xqzzyville", "action": "save"}, "town", "We could not find a town called “Xqzzyville”"),
        ({"town": "Aar", "action": "save"}, "place", "Choose your town from the list."),
        (
            {"town": "Aar", "place": "99999999999", "action": "save"},
            "place",
            "Choose your town from the list.",
        ),
        ({"town": "x" * 201, "action": "save"}, "town", "Enter at most 200 characters."),
    ],
)
def test_a_town_that_is_not_one_town_re_renders_with_the_error_and_writes_nothing(
    client: FlaskClient, db: Session, volunteer: int, form: dict[str, str], field: str, message: str
) -> None:
    token = csrf_token(client, "/me/profile/home")
    before = row_counts(db)
    response = client.post("/me/profile/home", data={**form, "csrf_token": token})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'href="#{field}"' in page, "the error summary links to the field"
    assert message in page
    assert row_counts(db) == before
    if form["town"] == "Aar":
        assert "Aarhus, Denmark" in page  # the matches to choose from


def test_the_town_can_be_removed(client: FlaskClient, db: Session, volunteer: int) -> None:
    assert post_form(client, "/me/profile/home", {"town": "Odense", "action": "save"}).status_code == 302
    assert "Remove my town" in client.get("/me/profile/home").get_data(as_text=True)
    assert post_form(client, "/me/profile/home", {"action": "remove"}).status_code == 302
    assert home_of(db, volunteer) == (None, None, None, None)


def test_travel_radios_write_max_travel_km_which_the_travel_limit_reads(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    page = client.get("/me/profile/travel").get_data(as_text=True)
    for label in ("Up to 10 km", "Up to 25 km", "Up to 50 km", "Up to 100 km", "Any distance"):
        assert label in page
    assert "This applies once you have told us your town." in page
    assert post_form(client, "/me/profile/home", {"town": "Aarhus", "action": "save"}).status_code == 302
    assert post_form(client, "/me/profile/travel", {"distance": "25", "action": "save"}).status_code == 302
    assert profiles.travel_limit(db, volunteer) == 25
    assert travel_facts(db, volunteer) == ((56.16, 10.21), 25.0)
    assert "Up to 25 km" in client.get("/me/profile").get_data(as_text=True)
    assert post_form(client, "/me/profile/travel", {"distance": "20000", "action": "save"}).status_code == 302
    assert profiles.travel_limit(db, volunteer) == 20000
    assert "Any distance" in client.get("/me/profile").get_data(as_text=True)
    danish(client)
    assert "Uanset afstand" in client.get("/me/profile").get_data(as_text=True)
    assert "Op til 50 km" in client.get("/me/profile/travel").get_data(as_text=True)


@pytest.mark.parametrize("distance", ["", "7", "far", "-1"])
def test_travel_without_a_choice_from_the_list_is_refused_and_writes_nothing(
    client: FlaskClient, db: Session, volunteer: int, distance: str
) -> None:
    token = csrf_token(client, "/me/profile/travel")
    before = row_counts(db)
    response = client.post(
        "/me/profile/travel", data={"distance": distance, "action": "save", "csrf_token": token}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'href="#distance"' in page and "Choose how far you would travel to a study visit." in page
    assert row_counts(db) == before


def test_an_answer_given_elsewhere_stays_choosable(
    client: FlaskClient, db: Session, settings: Settings, volunteer: int
) -> None:
    """A travel limit from the questions page or an import (say 40 km) is offered as it is."""
    participant = db.get(Participant, volunteer)
    assert participant is not None
    profiles.save_travel_limit(db, settings, participant, 40)
    page = client.get("/me/profile/travel").get_data(as_text=True)
    assert re.search(r'value="40"[^>]*checked|checked[^>]*value="40"', page), page
    assert "Up to 40 km (your answer)" in page
    assert post_form(client, "/me/profile/travel", {"distance": "40", "action": "save"}).status_code == 302


def test_sites_by_name_and_town_and_regions_by_name_on_the_public_pages(
    client: FlaskClient, db: Session
) -> None:
    study = make_recruiting_study(db, "age >= 18", sites=[BISPEBJERG, AUH], start_matching=False)
    for path in ("/", f"/studies/{study.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "Bispebjerg Hospital, Copenhagen" in page and "Aarhus University Hospital" in page, path
        assert "Aarhus University Hospital, Aarhus" not in page  # the name says the town already
        assert "Capital Region of Denmark" in page and "DK-84" not in page, path
    client.post("/language", data={"lang": "da", "next": "/", "csrf_token": csrf_token(client, "/signup")})
    for path in ("/", f"/studies/{study.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "Bispebjerg Hospital, København" in page and "Region Hovedstaden" in page, path
        assert "DK-84" not in page, path


def test_sites_by_name_and_town_on_the_dashboard_and_the_invitation_page(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    version = recruiting_study(db)
    version.sites = [BISPEBJERG]
    db.flush()
    make_invitation(db, version, volunteer)
    for path in ("/me", f"/me/invitations/{version.study_id}"):
        page = client.get(path).get_data(as_text=True)
        assert "Bispebjerg Hospital, Copenhagen · Capital Region of Denmark" in page, path
        assert "DK-84" not in page, path


def test_the_dashboard_names_towns_in_the_page_language_not_the_saved_one(
    client: FlaskClient, db: Session, volunteer: int
) -> None:
    """A volunteer whose saved language is English reading Danish pages (their browser asks for
    Danish): the towns and the explanation follow the page, as the region names beside them do."""
    version = recruiting_study(db)
    version.sites = [BISPEBJERG]
    db.flush()
    make_invitation(db, version, volunteer)
    participant = db.get(Participant, volunteer)
    assert participant is not None and participant.language == "en"
    for path in ("/me", f"/me/invitations/{version.study_id}"):
        page = client.get(path, headers={"Accept-Language": "da"}).get_data(as_text=True)
        assert "Bispebjerg Hospital, København · Region Hovedstaden" in page, path
        assert "Copenhagen" not in page and "You told us" not in page, path
