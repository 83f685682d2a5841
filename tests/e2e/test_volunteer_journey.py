"""The volunteer journey in a real browser: sign up → verification link from a real SMTP
server → profile wizard → dashboard; screenshots, axe-core checks, Danish, keyboard, phone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from panel_service.models import Consent, Invitation, Profile
from panel_service.services import profiles, volunteers
from tests.e2e.conftest import LiveServer
from tests.e2e.journey import (
    Volunteer,
    answer_invitation,
    assert_accessible,
    fill_profile,
    screenshot,
    seed_sent_invitation,
    sign_up,
    where,
)

pytestmark = pytest.mark.browser


def test_sign_up_verify_fill_profile_and_see_the_dashboard(page: Any, live: LiveServer) -> None:
    volunteer = Volunteer()
    page.goto(f"{live.url}/")
    assert_accessible(page, "home")
    screenshot(page, "01-home")
    page.goto(f"{live.url}/signup")
    assert_accessible(page, "signup")
    screenshot(page, "02-signup")

    # A refused form first: the error summary links to the field, focusable by keyboard.
    page.get_by_label("Your name").fill(volunteer.name)
    page.get_by_label("Email address").fill(volunteer.email)
    page.get_by_label("Choose a password").fill("password123")
    page.get_by_role("button", name="Sign up").click()
    summary = page.locator(".error-summary")
    assert "too common" in summary.inner_text()
    assert_accessible(page, "signup with errors")
    screenshot(page, "03-signup-errors")

    sign_up(page, live, volunteer)
    assert_accessible(page, "about you")
    screenshot(page, "04-profile-about")
    fill_profile(page)
    assert page.get_by_role("heading", name="Hello, Vera Volunteer").is_visible()
    assert "Thank you, your profile is saved" in page.inner_text("main")
    assert_accessible(page, "dashboard")
    screenshot(page, "05-dashboard")

    with live.runtime.database.session_scope() as session:
        participant_id = session.scalar(select(Profile.participant_id))
        assert participant_id is not None
        data = profiles.profile_data(session, participant_id)
        assert data.birth_date is not None and data.birth_date.isoformat() == "1980-04-23"
        assert (data.sex, data.region, data.height_cm, data.weight_kg) == ("female", "DK-84", 168.0, 64.5)
        assert data.conditions == ("G2581",) and data.medications == ()
        consent = session.scalar(select(Consent))
        assert consent is not None and consent.text_version == volunteers.CONSENT_TEXT_VERSION

    for path, name in (
        ("/me/profile", "06-profile"),
        ("/me/contact", "07-contact"),
        ("/me/data", "08-my-data"),
    ):
        page.goto(f"{live.url}{path}")
        assert_accessible(page, path)
        screenshot(page, name)


def test_pregnancy_question_hides_for_men_and_codes_work_without_javascript(
    browser: Any, live: LiveServer
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_up(page, live, Volunteer(email="bo@example.org", name="Bo"), consent=False)
        assert page.locator("fieldset.pregnancy").is_visible(), "without JS the question stays, with a hint"
        page.locator("#sex").get_by_label("Male", exact=True).check()
        page.get_by_role("button", name="Save and continue").click()
        where(page)
        page.get_by_label("Search by name or code").fill("magnesium")
        page.get_by_role("button", name="Skip for now").click()  # conditions stay unanswered
        page.wait_for_url(re.compile(r".*/me/profile/medications\?wizard=1$"))
        page.get_by_label("Search by name or code").fill("magnesium")
        page.get_by_role("button", name="Search").click()
        page.locator("#search-results input[type=checkbox]").first.check()
        page.get_by_role("button", name="Save my list").click()
        page.wait_for_url(re.compile(r".*/me$"))
        assert "You have not given consent" in page.inner_text("main")
    finally:
        context.close()
    with live.runtime.database.session_scope() as session:
        participant_id = session.scalar(select(Profile.participant_id))
        assert participant_id is not None
        data = profiles.profile_data(session, participant_id)
        assert data.sex == "male" and data.pregnant is False
        assert data.conditions is None and data.medications and data.medications[0].startswith("A12")


def test_ticked_conditions_survive_new_searches_and_a_cleared_search_box(page: Any, live: LiveServer) -> None:
    """Issue 10, item 15: with the type-ahead, a tick survives the next search (it moves to
    "Your list"), so the saved list holds every ticked condition, not only the last search's."""
    sign_up(page, live, Volunteer(email="ticks@example.org"))
    page.goto(f"{live.url}/me/profile/conditions")
    search = page.get_by_label("Search by name or code")
    for query, code in (("restless legs", "G25.81"), ("high blood pressure", "I10"), ("haemophilia", "D66")):
        search.fill(query)
        page.locator(f"#search-results input[value='{code}']").check()
    search.fill("")
    # The cleared box empties the matches; the ticks stay on the list.
    page.locator("#search-results li").first.wait_for(state="detached")
    chosen = page.locator("#selected-codes input[name=codes]:checked")
    assert sorted(chosen.evaluate_all("boxes => boxes.map(box => box.value)")) == ["D66", "G25.81", "I10"]
    assert_accessible(page, "conditions with ticks kept")
    page.get_by_role("button", name="Save my list").click()
    page.wait_for_url(re.compile(r".*/me/profile$"))
    summary = page.inner_text("main")
    assert "(G25.81)" in summary and "(I10)" in summary and "(D66)" in summary
    with live.runtime.database.session_scope() as session:
        participant_id = session.scalar(select(Profile.participant_id))
        assert participant_id is not None
        assert profiles.profile_data(session, participant_id).conditions == ("D66", "G2581", "I10")


def test_pregnancy_question_hides_when_male_is_chosen(page: Any, live: LiveServer) -> None:
    sign_up(page, live, Volunteer(email="js@example.org"))
    pregnancy = page.locator("fieldset.pregnancy")
    assert pregnancy.is_visible()
    page.locator("#sex").get_by_label("Male", exact=True).check()
    assert pregnancy.is_hidden()
    page.locator("#sex").get_by_label("Female", exact=True).check()
    assert pregnancy.is_visible()


def test_danish_switch_and_keyboard_sign_in(page: Any, live: LiveServer) -> None:
    volunteer = Volunteer(email="dansk@example.org")
    sign_up(page, live, volunteer)
    page.get_by_role("button", name="Dansk").click()
    assert page.locator("html").get_attribute("lang") == "da"
    assert page.get_by_role("heading", name="Om dig").is_visible()
    assert_accessible(page, "om dig")
    screenshot(page, "09-profile-about-da")
    page.goto(f"{live.url}/me")
    assert page.get_by_role("link", name="Min side").is_visible()
    screenshot(page, "10-dashboard-da")
    # Sign out and back in with the keyboard only, still in Danish.
    page.get_by_role("button", name="Log ud").click()
    page.goto(f"{live.url}/login")
    page.get_by_label("E-mailadresse").focus()
    page.keyboard.type(volunteer.email)
    page.keyboard.press("Tab")
    page.keyboard.type(volunteer.password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/me$"))
    assert page.get_by_role("heading", name=re.compile("Hej")).is_visible()


@pytest.mark.page_size("phone")
def test_readable_on_a_phone(page: Any, live: LiveServer) -> None:
    sign_up(page, live, Volunteer(email="phone@example.org"))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no sideways scrolling on a phone"
    # Issue 13, item 7: the menu takes at most two lines, the language switch sits by the name.
    tops = page.eval_on_selector_all(
        ".site-header nav li", "items => items.map(item => Math.round(item.getBoundingClientRect().top))"
    )
    assert len(set(tops)) <= 2, tops
    brand = page.locator(".site-header .brand").bounding_box()
    switch = page.locator(".language-switch").bounding_box()
    assert brand is not None and switch is not None
    assert abs(brand["y"] - switch["y"]) < brand["height"], "the language switch is on the name's line"
    screenshot(page, "11-profile-about-phone")
    page.goto(f"{live.url}/me/profile/conditions")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "12-conditions-phone")


def test_invitation_on_the_dashboard_with_why_and_the_answer(page: Any, live: LiveServer) -> None:
    volunteer = Volunteer(email="invited@example.org")
    sign_up(page, live, volunteer)
    fill_profile(page)
    study_id = seed_sent_invitation(live, volunteer.email)
    page.goto(f"{live.url}/me")
    page.get_by_text("Why you were invited").click()
    explanation = page.locator("details").inner_text()
    assert "You told us you have restless legs" in explanation or "restless legs" in explanation.lower()
    assert_accessible(page, "dashboard with invitation")
    screenshot(page, "13-dashboard-invitation")
    page.get_by_role("link", name="Answer this invitation").click()
    main = page.inner_text("main")
    assert "Vera Volunteer" in main and volunteer.email in main and "do not see your health profile" in main
    assert_accessible(page, "invitation confirmation")
    screenshot(page, "14-invitation-confirm")
    answer_invitation(page, live, "Magnesium for restless legs")
    assert "We have shared your contact details" in page.inner_text("main")
    with live.runtime.database.session_scope() as session:
        invitation = session.scalar(select(Invitation).where(Invitation.study_id == study_id))
        assert invitation is not None and invitation.response == "interested"
