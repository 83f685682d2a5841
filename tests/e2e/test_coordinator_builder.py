"""The criteria builder in the browser (issue 13 item 8): a coordinator adds a condition by name
with a qualifier, a field test and a medicine, groups two criteria, and sees the criteria text
follow; edits the text and sees the builder follow (errors by line); asks for the count. The same
steps work without JavaScript, in Danish and at 390 px. axe on each state; screenshots of each."""

from __future__ import annotations

import re
from typing import Any

import pytest

from panel_service.services import accounts
from tests.e2e.conftest import LiveServer
from tests.e2e.journey import assert_accessible, screenshot
from tests.integration.coordinators.conftest import make_staff, make_volunteer

pytestmark = pytest.mark.browser

PASSWORD = "a long staff passphrase"


def coordinator(live: LiveServer, volunteers: int = 0) -> str:
    with live.runtime.database.session_scope() as session:
        staff = make_staff(session, "coordinator", "Sleep Clinic")
        staff.account.password_hash = accounts.hash_password(live.runtime.settings, PASSWORD)
        for _ in range(volunteers):
            make_volunteer(session)
        return staff.account.email


def sign_in(page: Any, live: LiveServer, email: str) -> None:
    page.goto(f"{live.url}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/coordinators/studies$"))


def shots(page: Any, name: str) -> None:
    screenshot(page, name)
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling at 390 px"
    screenshot(page, f"{name}-390")
    page.set_viewport_size({"width": width, "height": 900})


def wait_text(page: Any, expected: str) -> None:
    page.wait_for_function(
        "expected => document.querySelector('[data-criteria-editor]').value === expected", arg=expected
    )


def test_build_criteria_by_name_and_keep_the_text_in_sync(page: Any, live: LiveServer) -> None:
    sign_in(page, live, coordinator(live, volunteers=3))
    page.goto(f"{live.url}/coordinators/studies/new")
    text = page.get_by_label("Eligibility criteria")
    builder = page.locator("#criteria-builder")
    assert_accessible(page, "coordinator-builder-empty")

    page.locator("#b-condition-q").fill("restless legs")
    page.locator("#b-condition-q").press("Enter")  # searches, does not save the study
    builder.get_by_label(re.compile(r"restless legs \(G25\.81\)")).check()
    page.locator("#b-condition-current").select_option("current")
    page.locator("#b-condition-for").fill("1")
    page.locator("#b-condition-for-unit").select_option("Y")
    builder.get_by_role("button", name="Add this condition").click()
    wait_text(page, "has condition G25.81 currently for at least P1Y")
    assert "restless legs" in builder.inner_text()

    page.locator("#b-field").select_option("age")
    page.locator("#b-op").select_option("between")
    page.locator("#b-value").fill("18")
    page.locator("#b-value2").fill("75")
    builder.get_by_role("button", name="Add this test").click()
    wait_text(page, "has condition G25.81 currently for at least P1Y and age between 18 and 75")

    page.locator("#b-medication-q").fill("magnesium")
    builder.get_by_role("button", name="Search").nth(1).click()
    builder.get_by_label(re.compile(r"\(A12CC\)$")).check()
    page.locator("#b-medication-within").fill("3")
    builder.get_by_role("button", name="Add this medicine").click()
    wait_text(
        page,
        "has condition G25.81 currently for at least P1Y and age between 18 and 75 and takes A12CC within P3M",
    )

    builder.get_by_label(re.compile("has condition G25.81")).check()
    builder.get_by_label(re.compile("takes A12CC")).check()
    page.locator("#b-group-kind").select_option("none")
    builder.get_by_role("button", name="Group").click()
    wait_text(
        page,
        "not (has condition G25.81 currently for at least P1Y or takes A12CC within P3M) and age between 18 and 75",
    )
    assert_accessible(page, "coordinator-builder-built")
    shots(page, "coordinator-builder-built")

    # The text, edited, redraws the builder; an error is shown at its line, in words.
    text.fill("age between 18 and 70 and\n  sex = female and\n  weight_kg > 5000")
    builder.get_by_text("Line 3, column 3:").wait_for()
    assert "all[2]" not in builder.inner_text()
    assert_accessible(page, "coordinator-builder-error")
    screenshot(page, "coordinator-builder-error")
    text.fill("age between 18 and 70 and\n  sex = female and\n  has condition G25.81")
    builder.locator("code", has_text="age between 18 and 70").wait_for()
    assert "restless legs" in builder.inner_text() and "sex = female" in builder.inner_text()

    # Only the button counts, and what it shows is suppressed (P4).
    assert builder.locator("#b-count-result").count() == 0
    builder.get_by_role("button", name="Count volunteers").click()
    builder.locator("#b-count-result").wait_for()
    assert "fewer than 11" in builder.locator("#b-count-result").inner_text()
    assert_accessible(page, "coordinator-builder-count")
    shots(page, "coordinator-builder-count")

    page.get_by_label("Title").fill("Magnesium for restless legs")
    page.get_by_label("Invitation text").fill("Would you try a magnesium tablet every evening?")
    page.get_by_label("Site region").fill("DK-84")
    page.get_by_label("Target enrolment").fill("120")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/coordinators/studies/\d+$"))
    assert "has condition G25.8" in page.inner_text("main")


def test_the_builder_without_javascript_in_danish_at_phone_width(browser: Any, live: LiveServer) -> None:
    email = coordinator(live)
    context = browser.new_context(
        java_script_enabled=False, locale="da-DK", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    try:
        sign_in(page, live, email)
        page.goto(f"{live.url}/coordinators/studies/new")
        page.get_by_role("heading", name="Byg kriterierne ud fra navne").wait_for()
        page.locator("#title").fill("Uro i benene")
        page.locator("#b-condition-q").fill("uro i benene")
        page.locator("#criteria-builder").get_by_role("button", name="Søg").first.click()
        page.wait_for_url(re.compile(r".*/coordinators/criteria/builder$"))
        page.locator("#criteria-builder").get_by_label(re.compile(r"\(G25\.81\)")).check()
        page.locator("#b-condition-current").select_option("current")
        page.get_by_role("button", name="Tilføj denne sygdom").click()
        assert page.locator("#criteria").input_value() == "has condition G25.81 currently"
        assert page.locator("#title").input_value() == "Uro i benene", "the other fields survive a step"
        assert "uro i benene" in page.locator("#criteria-builder").inner_text()
        screenshot(page, "coordinator-builder-da-nojs-390")

        page.locator("#b-field").select_option("age")
        page.locator("#b-op").select_option("ge")
        page.locator("#b-value").fill("gammel")
        page.get_by_role("button", name="Tilføj denne betingelse").click()
        assert "Skriv et tal, fx 18." in page.locator("#b-problem").inner_text()
        page.locator("#b-value").fill("18")
        page.get_by_role("button", name="Tilføj denne betingelse").click()
        assert page.locator("#criteria").input_value() == "has condition G25.81 currently and age >= 18"
        page.locator("#criteria-builder").get_by_role("button", name=re.compile("^Fjern")).first.click()
        assert page.locator("#criteria").input_value() == "age >= 18"
    finally:
        context.close()

    # axe needs scripts: the same Danish page at 390 px, with search results and an added condition.
    context = browser.new_context(locale="da-DK", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, live, email)
        page.goto(f"{live.url}/coordinators/studies/new")
        page.locator("#b-condition-q").fill("sukkersyge")
        page.locator("#b-condition-q").press("Enter")
        page.locator("#criteria-builder input[type=radio]").first.wait_for()
        page.get_by_role("button", name="Tilføj denne sygdom").click()
        page.wait_for_function(
            "() => document.querySelector('#criteria').value.startsWith('has condition E1')"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert_accessible(page, "coordinator-builder-da")
        screenshot(page, "coordinator-builder-da-390")
    finally:
        context.close()
