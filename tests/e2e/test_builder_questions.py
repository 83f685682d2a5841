"""Question leaves in the criteria builder, in the browser (issue 13 item 8): a coordinator finds
catalogue questions by their wording (English or Danish words), picks a test that suits each
type (none of the ticked options with "answered within", yes or no, at most a number with its
unit) and sees the criteria text follow; a wrong number is named at its input. The same without
JavaScript, in Danish, at 390 px. And the staff pages in Danish carry none of the English
sentences the services make. axe on each state; screenshots of each."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from panel_service.models import Account
from panel_service.services import accounts, studies
from tests.e2e.conftest import LiveServer
from tests.e2e.journey import assert_accessible, screenshot
from tests.e2e.test_coordinator_builder import coordinator, shots, sign_in, wait_text
from tests.integration.coordinators.conftest import make_staff, study_in

pytestmark = pytest.mark.browser

# Sentences that English-only code paths used to put on Danish staff pages.
ENGLISH = (
    "Cannot ",
    "takes a number",
    "expected a criterion",
    "found the end of the text",
    "not an ISO 3166",
    "Add a question from the catalogue",
    "Find the question",
    "Volunteers who answered",
    "Answered within the last",
    "Question catalogue",
    "Review queue",
    "Retire this question",
    "There is a problem",
    "Search for a question",
    "Enter a number",
    "is none of the ticked answers",
)


def test_add_questions_by_their_wording_and_keep_the_text_in_sync(page: Any, live: LiveServer) -> None:
    sign_in(page, live, coordinator(live, volunteers=3))
    page.goto(f"{live.url}/coordinators/studies/new")
    builder = page.locator("#criteria-builder")

    page.locator("#b-question-q").fill("smok")
    page.locator("#b-question-q").press("Enter")  # searches, does not save the study
    builder.get_by_label(re.compile(r"Do you smoke, or have you ever smoked\?")).check()
    assert_accessible(page, "coordinator-builder-question-found")
    shots(page, "coordinator-builder-question-found")
    builder.get_by_role("button", name="Choose this question").click()
    page.locator("#b-question-chosen").wait_for()
    builder.get_by_label("is none of the ticked answers").check()
    builder.get_by_label("I smoke now").check()
    builder.get_by_label("I used to smoke but have stopped").check()
    page.locator("#b-question-within").fill("1")
    page.locator("#b-question-within-unit").select_option("Y")
    assert_accessible(page, "coordinator-builder-question-chosen")
    shots(page, "coordinator-builder-question-chosen")
    builder.get_by_role("button", name="Add this question").click()
    wait_text(page, "not answer smoking_status in (current, former) answered within P1Y")
    assert "Do you smoke, or have you ever smoked?" in builder.inner_text()  # the row, by its wording

    # A Danish word finds the question in the English page; one match is chosen at once.
    page.locator("#b-question-q").fill("mr-scanning")
    page.locator("#b-question-q").press("Enter")
    page.locator("#b-question-chosen").wait_for()
    builder.get_by_label("Yes").check()
    builder.get_by_role("button", name="Add this question").click()
    wait_text(
        page,
        "not answer smoking_status in (current, former) answered within P1Y and answer willing_mri = true",
    )

    # A number with its unit and range; a wrong one is named at its input.
    page.locator("#b-question-q").fill("alcohol")
    page.locator("#b-question-q").press("Enter")
    page.locator("#b-question-chosen").wait_for()
    assert "units" in page.locator("#b-question-chosen").inner_text()
    page.locator("#b-question-op").select_option("le")
    page.locator("#b-question-value").fill("400")
    builder.get_by_role("button", name="Add this question").click()
    problem = page.locator("#b-problem a")
    problem.wait_for()
    assert problem.inner_text() == "Enter a number from 0 to 300."
    assert problem.get_attribute("href") == "#b-question-value"
    assert_accessible(page, "coordinator-builder-question-error")
    shots(page, "coordinator-builder-question-error")
    page.locator("#b-question-value").fill("14")
    builder.get_by_role("button", name="Add this question").click()
    expected = (
        "not answer smoking_status in (current, former) answered within P1Y and answer willing_mri = true"
        " and answer alcohol_units_week <= 14"
    )
    wait_text(page, expected)

    # The text, edited by hand, redraws the builder with the question's wording.
    page.get_by_label("Eligibility criteria").fill("age >= 18 and\n  answer rls_nights_week >= 3")
    builder.locator("strong", has_text="on how many nights do you have an urge to move your legs").wait_for()
    assert_accessible(page, "coordinator-builder-question-built")
    shots(page, "coordinator-builder-question-built")


def test_question_leaves_without_javascript_in_danish_at_phone_width(browser: Any, live: LiveServer) -> None:
    email = coordinator(live)
    context = browser.new_context(
        java_script_enabled=False, locale="da-DK", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    try:
        sign_in(page, live, email)
        page.goto(f"{live.url}/coordinators/studies/new")
        builder = page.locator("#criteria-builder")
        page.locator("#title").fill("Søvn og rygning")
        page.locator("#b-question-q").fill("ryger")
        builder.get_by_role("button", name="Find spørgsmålet").click()
        page.wait_for_url(re.compile(r".*/coordinators/criteria/builder$"))
        assert "Ryger du, eller har du nogensinde røget?" in page.locator("#b-question-chosen").inner_text()
        builder.get_by_label("er et af de afkrydsede svar").check()
        builder.get_by_label("Jeg ryger nu").check()
        screenshot(page, "coordinator-builder-question-da-nojs-390")
        builder.get_by_role("button", name="Tilføj dette spørgsmål").click()
        assert page.locator("#criteria").input_value() == "answer smoking_status = current"
        assert page.locator("#title").input_value() == "Søvn og rygning", "the other fields survive a step"
        assert "Ryger du, eller har du nogensinde røget?" in builder.inner_text()

        page.locator("#b-question-q").fill("nætter")
        builder.get_by_role("button", name="Find spørgsmålet").click()
        page.locator("#b-question-op").select_option("ge")
        page.locator("#b-question-value").fill("9")
        builder.get_by_role("button", name="Tilføj dette spørgsmål").click()
        assert page.locator("#b-problem").inner_text() == "Skriv et tal fra 0 til 7."
        page.locator("#b-question-value").fill("3")
        builder.get_by_role("button", name="Tilføj dette spørgsmål").click()
        assert (
            page.locator("#criteria").input_value()
            == "answer smoking_status = current and answer rls_nights_week >= 3"
        )
        # Several matches: choose one, then its test.
        page.locator("#b-question-q").fill("villig")
        builder.get_by_role("button", name="Find spørgsmålet").click()
        builder.get_by_label(re.compile("Vil du være villig til at give blodprøver")).check()
        builder.get_by_role("button", name="Vælg dette spørgsmål").click()
        builder.get_by_label("Nej").check()
        builder.get_by_role("button", name="Tilføj dette spørgsmål").click()
        assert page.locator("#criteria").input_value().endswith(" and answer willing_blood_samples = false")
    finally:
        context.close()

    # axe needs scripts: the same Danish page at 390 px with a question chosen.
    context = browser.new_context(locale="da-DK", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, live, email)
        page.goto(f"{live.url}/coordinators/studies/new")
        page.locator("#b-question-q").fill("sprog")
        page.locator("#b-question-q").press("Enter")
        page.locator("#b-question-chosen").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert_accessible(page, "coordinator-builder-question-da")
        screenshot(page, "coordinator-builder-question-da-390")
        page.locator("#criteria-builder").get_by_label("Dansk").check()
        page.get_by_role("button", name="Tilføj dette spørgsmål").click()
        wait_text(page, "answer languages has da")
    finally:
        context.close()


def _text(page: Any) -> str:
    return str(page.locator("main").inner_text())


def _sign_in_as(page: Any, live: LiveServer, email: str) -> None:
    page.goto(f"{live.url}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill("a long staff passphrase")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()


def test_staff_pages_in_danish_carry_no_english_sentences(browser: Any, live: LiveServer) -> None:
    settings = live.runtime.settings
    with live.runtime.database.session_scope() as session:
        staff = make_staff(session, "coordinator", "Aarhus Sleep Clinic")
        admin = make_staff(session, "admin")
        for person in (staff, admin):
            person.account.password_hash = accounts.hash_password(settings, "a long staff passphrase")
            person.account.language = "da"
        draft = study_in(session, staff, admin, "draft")
        other = study_in(session, staff, admin, "draft")
        emails = staff.account.email, admin.account.email
    context = browser.new_context(locale="da-DK", viewport={"width": 1100, "height": 900})
    page = context.new_page()
    seen: dict[str, str] = {}
    try:
        _sign_in_as(page, live, emails[0])
        # A step refused by the service: the page was out of date (sent for review meanwhile).
        page.goto(f"{live.url}/coordinators/studies/{other}")
        with live.runtime.database.session_scope() as session:
            account = session.scalar(select(Account).where(Account.email == emails[0]))
            assert account is not None
            studies.submit_study(session, account, other)
        page.locator("form[action$='/submit'] button").click()
        page.wait_for_load_state()
        seen["refused step"] = _text(page)
        assert (
            "Du kan ikke sende det til etisk vurdering, mens forsøget er til etisk vurdering."
            in seen["refused step"]
        )
        assert_accessible(page, "coordinator-refused-step-da")

        page.goto(f"{live.url}/coordinators/studies/{draft}/edit")
        page.locator("#criteria").fill("age >= 18 and\n  weight_kg > 5000 and\n  region = XX-99")
        page.get_by_role("button", name="Gem").click()
        page.wait_for_load_state()
        seen["form errors"] = _text(page)
        assert "weight_kg skal være et tal fra 0 til 1000, men er 5000" in seen["form errors"]
        assert_accessible(page, "coordinator-form-errors-da")
        screenshot(page, "coordinator-form-errors-da")

        page.goto(f"{live.url}/coordinators/studies/new")
        page.locator("#criteria").fill("age >= 18 and (")
        page.locator("#criteria-builder").get_by_text("Linje 1").wait_for()
        page.locator("#b-question-q").fill("alkohol")
        page.locator("#b-question-q").press("Enter")
        seen["builder"] = _text(page)
        assert "slutningen af teksten" in seen["builder"]
        page.locator("#criteria").fill("age >= 18")
        page.locator("#criteria-builder code", has_text="age >= 18").wait_for()
        page.locator("#b-question-q").fill("alkohol")
        page.locator("#b-question-q").press("Enter")
        page.locator("#b-question-chosen").wait_for()
        page.locator("#b-question-value").fill("x")
        page.get_by_role("button", name="Tilføj dette spørgsmål").click()
        page.locator("#b-problem").wait_for()
        seen["builder step"] = _text(page)
        assert "Skriv et helt tal, fx 2." in seen["builder step"]
        page.get_by_role("button", name="Log ud").click()
        page.wait_for_load_state()

        _sign_in_as(page, live, emails[1])
        page.goto(f"{live.url}/admin/questions")
        seen["catalogue"] = _text(page)
        assert "Spørgsmålskatalog" in seen["catalogue"]
        shots(page, "admin-questions-da")
        page.goto(f"{live.url}/admin/questions/smoking_status")
        seen["question"] = _text(page)
        assert_accessible(page, "admin-question-da")
        screenshot(page, "admin-question-da")
    finally:
        context.close()
    for name, text in seen.items():
        found = [phrase for phrase in ENGLISH if phrase in text]
        assert not found, f"English on the Danish {name} page: {found}"
