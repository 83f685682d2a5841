"""Staff pages fully Danish (issue 13 item 3): the messages made below the web layer (criteria
errors from the validator and the text parser, refused study steps, refused reviews) and the
admin's question catalogue pages read Danish when Danish is chosen, and stay as they were in
English."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.criteria import CriteriaError, CriteriaSyntaxError, parse_any
from panel_service.web.service_words import SHAPES, in_words
from tests.integration.coordinators.conftest import STUDY_BODY, Staff, study_in
from tests.integration.coordinators.test_staff_i18n import _danish
from tests.integration.coordinators.test_web_pages import csrf_from, sign_in

# Criteria that the validator or the parser refuses, one for each shape of message it makes.
REFUSED = (
    "weight_kg > 5000",
    "weight_kg > -5",
    "age >= 200",
    "pregnant = 3",
    "sex = robot",
    'sex = "robot"',
    "takes A12CC within P3M within P1Y",
    "takes A12CC within soon",
    "region = XX-99",
    "shoe_size > 3",
    "sex > female",
    "age between 70 and 18",
    "has condition 12",
    "has condition N19-N17",
    "takes 12",
    "answer shoe_size = 3",
    "answer smoking_status > never",
    "answer smoking_status = sometimes",
    "answer rls_nights_week = 2.5",
    "answer willing_mri = 3",
    "age >= 18 and (",
    "age >= 18 sex = female",
    "(age >= 18",
    "age",
    "age >=",
    "has condition",
    "takes",
    "answer",
    "age >= 18 and ~",
    "   ",
)


def _messages(source: str) -> list[str]:
    try:
        parse_any(source)
    except CriteriaSyntaxError as error:
        # as the builder shows it (domain.criteria.builder.parse_located): without the position
        return [error.issues[0].message.split(": ", 1)[-1].split("\n", 1)[0]]
    except CriteriaError as error:
        return [issue.message for issue in error.issues]
    return []


def test_every_refusal_of_the_criteria_reads_danish(app: Flask) -> None:
    matched: set[int] = set()
    for source in REFUSED:
        for message in _messages(source) or (
            [] if source else ["expected criteria, found the end of the text"]
        ):
            with app.test_request_context(headers={"Accept-Language": "da"}):
                danish = in_words(message)
            with app.test_request_context(headers={"Accept-Language": "en"}):
                english = in_words(message)
            assert danish != message, f"no Danish for {message!r} (from {source!r})"
            assert english == message or not set(english) & set("æøå"), english
            matched.update(
                index
                for index, (pattern, _sentence, _parts) in enumerate(SHAPES)
                if pattern.fullmatch(message)
            )
    assert len(matched) >= 25  # most shapes are exercised by real messages, not only by their patterns
    with app.test_request_context(headers={"Accept-Language": "en"}):
        message = "weight_kg takes a number from 0 to 1000, got 5000"
        assert in_words(message) == message
    with app.test_request_context(headers={"Accept-Language": "da"}):
        assert in_words("something new") == "something new"  # an unknown shape is shown as it came


def test_staff_pages_show_service_messages_in_danish(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    draft = study_in(db, coordinator, reviewer, "draft")
    paused = study_in(db, coordinator, reviewer, "paused")
    sign_in(client, db, settings, coordinator)
    _danish(client, "/coordinators/studies")
    edit = f"/coordinators/studies/{draft}/edit"
    token = csrf_from(client.get(edit).get_data(as_text=True))

    page = client.post(
        edit, data={**STUDY_BODY, "csrf_token": token, "criteria": "age >= 18 and\n  weight_kg > 5000"}
    ).get_data(as_text=True)
    assert "Linje 2, kolonne 3: weight_kg skal være et tal fra 0 til 1000, men er 5000" in page
    assert "takes a number" not in page
    syntax = client.post(
        edit, data={**STUDY_BODY, "csrf_token": token, "criteria": "age >= 18 and ("}
    ).get_data(as_text=True)
    assert "men fandt slutningen af teksten" in syntax and "expected a criterion" not in syntax
    fields = client.post(
        edit,
        data={
            **STUDY_BODY,
            "csrf_token": token,
            "site_region": "Jylland",
            "sites": "Aarhus Universitetshospital; 56,19; 10,17\nSkejby; 99; 10",
        },
    ).get_data(as_text=True)
    assert "Linje 2: breddegraden skal være mellem -90 og 90" in fields
    assert "skal være en ISO 3166-2-kode som DK-84" in fields and "must be" not in fields

    tree = client.post(
        "/coordinators/criteria/tree",
        json={"criteria": "region = XX-99"},
        headers={"X-CSRFToken": token},
    ).get_json()
    assert "ukendt region" in tree["html"] and "not an ISO 3166" not in tree["html"]
    step = client.post(
        "/coordinators/criteria/builder",
        data={
            **STUDY_BODY,
            "csrf_token": token,
            "criteria": "age >= 18",
            "b_action": "add-field",
            "b_field": "sex",
            "b_op": "eq",
            "b_value": "robot",
        },
        headers={"Accept": "application/json"},
    ).get_json()
    assert "sex skal være en af" in step["html"]

    refused = client.post(
        f"/coordinators/studies/{paused}/submit", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Du kan ikke sende det til etisk vurdering, mens forsøget er sat på pause." in refused
    assert "Cannot submit" not in refused


def test_the_question_catalogue_pages_in_danish(
    client: FlaskClient, db: Session, settings: Settings, admin: Staff
) -> None:
    sign_in(client, db, settings, admin)
    english = client.get("/admin/questions").get_data(as_text=True)
    assert "Question catalogue" in english and "Do you smoke, or have you ever smoked?" in english
    _danish(client, "/admin/questions")
    listing = client.get("/admin/questions").get_data(as_text=True)
    for words in (
        "Spørgsmålskatalog",
        "Tilføj et spørgsmål",
        "Ryger du, eller har du nogensinde røget?",
        "i brug",
    ):
        assert words in listing, words
    for english_words in ("Question catalogue", "Add a question", "Do you smoke", "Review queue"):
        assert english_words not in listing, english_words
    token = csrf_from(listing)
    refused = client.post(
        "/admin/questions",
        data={"csrf_token": token, "key": "owns_cat", "type": "boolean", "min": "many"},
    ).get_data(as_text=True)
    assert (
        "Skriv spørgsmålet på engelsk." in refused and "Skriv et tal, eller lad feltet stå tomt." in refused
    )
    assert "Spørgsmålet på engelsk: Skriv spørgsmålet på engelsk." in refused  # the summary names the field
    taken = client.post(
        "/admin/questions",
        data={"csrf_token": token, "key": "smoking_status", "type": "boolean", "wording_en": "Smoke?"},
    ).get_data(as_text=True)
    assert "der findes allerede et spørgsmål med nøglen smoking_status" in taken
    no_options = client.post(
        "/admin/questions",
        data={"csrf_token": token, "key": "owns_cat", "type": "choice", "wording_en": "Which cat?"},
    ).get_data(as_text=True)
    assert "owns_cat: et choice-spørgsmål skal have svarmuligheder" in no_options
    one = client.get("/admin/questions/smoking_status").get_data(as_text=True)
    assert "Lad spørgsmålet udgå" in one and "Retire this question" not in one
