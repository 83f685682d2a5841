"""The plain catalogue pages: admins add, edit and retire questions (a key and type never change
once answered); volunteers answer one section per page, and smoker follows smoking_status."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import Profile, ProfileAnswer
from panel_service.services import profiles
from panel_service.services import questions as service
from tests.integration.coordinators.conftest import Staff, make_staff
from tests.integration.coordinators.test_web_pages import post_form as staff_post
from tests.integration.coordinators.test_web_pages import sign_in as staff_sign_in
from tests.support.volunteers import make_volunteer, post_form, sign_in


@pytest.fixture()
def admin(db: Session) -> Staff:
    return make_staff(db, "admin")


NEW_QUESTION = {
    "key": "owns_dog",
    "type": "boolean",
    "section": "daily_life",
    "wording_en": "Do you have a dog?",
    "wording_da": "Har du en hund?",
}


def test_admin_adds_edits_and_retires_a_question(
    client: FlaskClient, db: Session, settings: Settings, admin: Staff
) -> None:
    staff_sign_in(client, db, settings, admin)
    page = client.get("/admin/questions").get_data(as_text=True)
    assert "smoking_status" in page and "Question catalogue" in page
    bad = staff_post(client, "/admin/questions", "/admin/questions", {**NEW_QUESTION, "wording_en": ""})
    assert bad.status_code == 422 and "Enter the question in English." in bad.get_data(as_text=True)
    clash = staff_post(client, "/admin/questions", "/admin/questions", {**NEW_QUESTION, "key": "lives_alone"})
    assert clash.status_code == 422 and "already exists" in clash.get_data(as_text=True)
    added = staff_post(client, "/admin/questions", "/admin/questions", NEW_QUESTION)
    assert added.status_code == 302
    assert service.load_catalogue(db)["owns_dog"].text("da") == "Har du en hund?"
    # Answered: the type can no longer change, the wording can.
    _account, participant = make_volunteer(db, settings, "dog@example.org")
    catalogue = service.load_catalogue(db)
    service.save_volunteer_answers(
        db,
        participant.id,
        {"owns_dog": service.Answer(True, dt.date(2026, 1, 1))},
        [],
        catalogue,
    )
    refused = staff_post(
        client, "/admin/questions/owns_dog", "/admin/questions/owns_dog", {**NEW_QUESTION, "type": "integer"}
    )
    assert refused.status_code == 422 and "can no longer change" in refused.get_data(as_text=True)
    edited = staff_post(
        client,
        "/admin/questions/owns_dog",
        "/admin/questions/owns_dog",
        {**NEW_QUESTION, "wording_en": "Do you own a dog?"},
    )
    assert edited.status_code == 302 and service.fresh_catalogue(db)["owns_dog"].text() == "Do you own a dog?"
    retired = staff_post(
        client, "/admin/questions/owns_dog", "/admin/questions/owns_dog", {"action": "retire"}
    )
    assert retired.status_code == 302 and service.fresh_catalogue(db)["owns_dog"].retired


def test_a_volunteer_answers_a_section_and_smoker_follows(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    profiles.save_about(
        db, settings, participant, birth_date=None, sex="male", region=None, height_cm=None, weight_kg=None,
        smoker=True, pregnant=None,
    )  # fmt: skip
    answers = service.answers_of(db, participant.id)
    assert answers["smoking_status"].value == "current"  # smoker: true alone means current
    sign_in(client, "vera@example.org")
    sections = client.get("/me/questions").get_data(as_text=True)
    assert "Smoking" in sections
    reproductive = client.get("/me/questions/reproductive").get_data(as_text=True)
    assert (
        "contraception" in reproductive and "Are you breastfeeding?" not in reproductive
    )  # not asked of men
    bad = post_form(client, "/me/questions/smoking", {"q-smoking_status": "former", "q-pack_years": "lots"})
    assert bad.status_code == 422 and "Enter a number" in bad.get_data(as_text=True)
    saved = post_form(
        client,
        "/me/questions/smoking",
        {"q-smoking_status": "former", "q-pack_years": "7,5", "q-smoking_quit_year": ""},
    )
    assert saved.status_code == 302
    stored = {
        row.key: row
        for row in db.scalars(select(ProfileAnswer).where(ProfileAnswer.participant_id == participant.id))
    }
    assert stored["smoking_status"].value_text == "former" and stored["pack_years"].value_num == 7.5
    assert "smoking_quit_year" not in stored
    assert db.get(Profile, participant.id).smoker is False  # type: ignore[union-attr]
    languages = post_form(
        client, "/me/questions/daily_life", {"q-languages": ["da", "en"], "q-lives_alone": "yes"}
    )
    assert languages.status_code == 302
    assert service.answers_of(db, participant.id)["languages"].value == frozenset({"da", "en"})
    assert client.get("/me/questions/no_such_section").status_code == 404
    danish = client.get("/me/questions/smoking", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "Ryger du, eller har du nogensinde røget?" in danish and "Jeg har røget, men er holdt op" in danish
    assert "/me/questions" in client.get("/me/profile").get_data(as_text=True)
