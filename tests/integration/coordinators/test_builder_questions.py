"""Question leaves in the criteria builder (issue 13 item 8): a coordinator finds a catalogue
question by its wording in English or Danish (or its key), chooses it, and adds a test that suits
its type (a choice: one of / none of the ticked options; a number: at least, at most, between,
exactly; yes or no), optionally "answered within"; the criteria text follows. Bad input names
the input in words, in the coordinator's language. Admin-added questions are offered and read."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import AuditEvent, Study
from tests.integration.coordinators.conftest import Staff
from tests.integration.coordinators.test_admin_questions import add_dog_question
from tests.integration.coordinators.test_builder import COUNT, JSON, STEP, TREE, _token, step
from tests.integration.coordinators.test_web_pages import sign_in


def _ok(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.get_data(as_text=True)[:2000]
    body: dict[str, Any] = answer.get_json()
    return body


def test_find_choose_and_add_questions_of_each_type(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff
) -> None:
    sign_in(client, db, settings, coordinator)
    token = _token(client)
    before = db.scalar(select(func.count()).select_from(Study))
    audits = db.scalar(select(func.count()).select_from(AuditEvent))

    # Several matches: a list to choose from, the question's wording shown.
    found = _ok(step(client, token, "age >= 18", b_action="search-question", b_question_q="smok"))
    assert found["text"] == "age >= 18"
    assert "Do you smoke, or have you ever smoked?" in found["html"] and "smoking_quit_year" in found["html"]
    assert 'value="choose-question"' in found["html"]

    chosen = _ok(
        step(client, token, "age >= 18", b_action="choose-question", b_question_key="smoking_status")
    )
    html = chosen["html"]
    assert 'name="b_question_key" value="smoking_status"' in html
    for option in ("Never", "Former", "Current"):
        assert option.lower() in html.lower(), option
    assert "is none of the ticked answers" in html and 'type="checkbox" name="b_question_options"' in html

    added = _ok(
        step(
            client,
            token,
            "age >= 18",
            b_action="add-question",
            b_question_key="smoking_status",
            b_question_op="not_in",
            b_question_options=["current", "former"],
            b_question_within="1",
            b_question_within_unit="Y",
        )
    )
    assert added["ok"]
    assert added["text"] == "age >= 18 and not answer smoking_status in (current, former) answered within P1Y"
    assert "Do you smoke, or have you ever smoked?" in added["html"]  # the row is named by its wording

    # Danish wording finds the question; one match is chosen at once.
    mri = _ok(step(client, token, added["text"], b_action="search-question", b_question_q="mr-scanning"))
    assert (
        'name="b_question_key" value="willing_mri"' in mri["html"] and 'value="add-question"' in mri["html"]
    )
    yes = _ok(
        step(
            client,
            token,
            added["text"],
            b_action="add-question",
            b_question_key="willing_mri",
            b_question_op="eq",
            b_question_value="yes",
        )
    )
    assert yes["text"].endswith(" and answer willing_mri = true")

    nights = _ok(
        step(
            client,
            token,
            "age >= 18",
            b_action="add-question",
            b_question_key="rls_nights_week",
            b_question_op="between",
            b_question_value="2",
            b_question_value2="7",
        )
    )
    assert nights["text"] == "age >= 18 and answer rls_nights_week between 2 and 7"
    alcohol = _ok(
        step(
            client,
            token,
            "age >= 18",
            b_action="add-question",
            b_question_key="alcohol_units_week",
            b_question_op="le",
            b_question_value="14",
        )
    )
    assert alcohol["text"] == "age >= 18 and answer alcohol_units_week <= 14"
    languages = _ok(
        step(
            client,
            token,
            "",
            b_action="add-question",
            b_question_key="languages",
            b_question_op="in",
            b_question_options=["da", "en"],
        )
    )
    assert languages["text"] == "answer languages has da or answer languages has en"

    # Into a group, like any criterion.
    grouped = _ok(
        step(
            client,
            token,
            "age >= 18 and (sex = female or sex = other)",
            b_action="add-question",
            b_question_key="menopausal_status",
            b_question_op="in",
            b_question_options=["postmenopausal"],
            b_target="1",
        )
    )
    assert (
        grouped["text"]
        == "age >= 18 and (sex = female or sex = other or answer menopausal_status = postmenopausal)"
    )

    # The text form written by hand reads back into the builder, with the question's wording.
    read = client.post(
        TREE,
        json={"criteria": "answer pack_years between 0 and 10 answered within P2Y"},
        headers={"X-CSRFToken": token},
    ).get_json()
    assert read["ok"] and "pack-years" in read["html"]

    assert db.scalar(select(func.count()).select_from(Study)) == before  # nothing saved
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == audits  # no feasibility query


def test_without_javascript_the_question_steps_show_the_study_form_again(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff
) -> None:
    sign_in(client, db, settings, coordinator)
    token = _token(client)
    data = {"title": "Sleep", "criteria": "age >= 18", "csrf_token": token}
    searched = client.post(STEP, data={**data, "b_action": "search-question", "b_question_q": "alkohol"})
    html = searched.get_data(as_text=True)
    assert searched.status_code == 200 and 'value="Sleep"' in html
    assert 'name="b_question_key" value="alcohol_units_week"' in html  # one match: chosen
    assert "units" in html and "from 0 to 300" in html
    added = client.post(
        STEP,
        data={
            **data,
            "b_action": "add-question",
            "b_question_key": "alcohol_units_week",
            "b_question_op": "ge",
            "b_question_value": "22",
        },
    ).get_data(as_text=True)
    assert "age &gt;= 18 and answer alcohol_units_week &gt;= 22" in added


def test_bad_question_input_is_named_in_words_in_english_and_danish(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff
) -> None:
    sign_in(client, db, settings, coordinator)
    token = _token(client)
    cases: list[tuple[dict[str, Any], str, str, str]] = [
        (
            {"b_question_key": "rls_nights_week", "b_question_op": "ge", "b_question_value": "9"},
            "b-question-value",
            "Enter a number from 0 to 7.",
            "Skriv et tal fra 0 til 7.",
        ),
        (
            {"b_question_key": "rls_nights_week", "b_question_op": "ge", "b_question_value": "2,5"},
            "b-question-value",
            "Enter a whole number, such as 2.",
            "Skriv et helt tal, fx 2.",
        ),
        (
            {
                "b_question_key": "rls_nights_week",
                "b_question_op": "between",
                "b_question_value": "5",
                "b_question_value2": "2",
            },
            "b-question-value2",
            "The second value must not be smaller than the first.",
            "Den anden værdi må ikke være mindre end den første.",
        ),
        (
            {"b_question_key": "smoking_status", "b_question_op": "in"},
            "b-question-option-1",
            "Tick at least one answer.",
            "Sæt kryds ved mindst ét svar.",
        ),
        (
            {"b_question_key": "smoking_status", "b_question_op": "in", "b_question_options": ["sometimes"]},
            "b-question-option-1",
            "Tick at least one answer.",
            "Sæt kryds ved mindst ét svar.",
        ),
        (
            {"b_question_key": "smoking_status", "b_question_op": "ge", "b_question_options": ["never"]},
            "b-question-op",
            "Choose how to test the answer.",
            "Vælg, hvordan svaret skal testes.",
        ),
        (
            {"b_question_key": "willing_mri", "b_question_op": "eq", "b_question_value": "maybe"},
            "b-question-value",
            "Enter yes or no.",
            "Skriv ja eller nej.",
        ),
        (
            {"b_question_key": "shoe_size", "b_question_op": "ge", "b_question_value": "40"},
            "b-question-q",
            "Search for a question and choose one of the matches.",
            "Søg efter et spørgsmål, og vælg et af resultaterne.",
        ),
        (
            {
                "b_question_key": "willing_mri",
                "b_question_op": "eq",
                "b_question_value": "yes",
                "b_question_within": "soon",
            },
            "b-question-within",
            "Enter a whole number of days, weeks, months or years, such as 3.",
            "",
        ),
    ]
    for language in ("en", "da"):
        headers = {**JSON, "Accept-Language": language}
        for fields, input_id, english, danish in cases:
            data = {"criteria": "age >= 18", "csrf_token": token, "b_action": "add-question", **fields}
            answer = client.post(STEP, data=data, headers=headers)
            assert answer.status_code == 422, fields
            body = answer.get_json()
            assert body["ok"] is False and body["text"] == "age >= 18"
            assert f'<a href="#{input_id}">' in body["html"], (fields, body["html"][:300])
            words = english if language == "en" else danish
            if words:
                assert words in body["html"], (language, fields)
            assert "all[" not in body["html"] and "$." not in body["html"]
    nothing = client.post(
        STEP,
        data={"criteria": "", "csrf_token": token, "b_action": "search-question", "b_question_q": "zebra"},
        headers={**JSON, "Accept-Language": "da"},
    ).get_json()
    assert "Intet spørgsmål fundet for “zebra”" in nothing["html"]


def test_a_question_an_admin_added_is_found_and_read(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff
) -> None:
    add_dog_question(db)
    sign_in(client, db, settings, coordinator)
    token = _token(client)
    found = _ok(step(client, token, "", b_action="search-question", b_question_q="hund"))
    assert 'name="b_question_key" value="owns_dog"' in found["html"]
    added = _ok(
        step(
            client,
            token,
            "age >= 18",
            b_action="add-question",
            b_question_key="owns_dog",
            b_question_op="eq",
            b_question_value="no",
        )
    )
    assert added["text"] == "age >= 18 and answer owns_dog = false"
    read = client.post(TREE, json={"criteria": added["text"]}, headers={"X-CSRFToken": token}).get_json()
    assert read["ok"] and "Do you have a dog?" in read["html"]
    danish = client.post(
        TREE,
        json={"criteria": added["text"]},
        headers={"X-CSRFToken": token, "Accept-Language": "da"},
    ).get_json()
    assert "Har du en hund?" in danish["html"]


def test_the_count_names_each_criterion_in_the_page_language(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff
) -> None:
    sign_in(client, db, settings, coordinator)
    token = _token(client)
    criteria = "age >= 18 and not answer smoking_status = current and has condition G25.8"
    counted = client.post(
        COUNT,
        data={"criteria": criteria, "csrf_token": token},
        headers={**JSON, "Accept-Language": "da"},
    ).get_json()
    html = counted["html"]
    assert "ikke: Ryger du, eller har du nogensinde røget?" in html
    assert "uro i benene" in html.lower()
    assert "<code>age &gt;= 18</code>" in html  # a field test is its text alone
    assert [row["criterion"] for row in counted["count"]["attrition"]] == [
        "age >= 18",
        "not answer smoking_status = current",
        "has condition G25.8",
    ]
