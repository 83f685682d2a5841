"""Where and the email change in a real browser (issue 13 items 4 and 7): the town picker with
its type-ahead and without JavaScript, "how far would you travel", sites by name and town,
and changing the email address through the real SMTP server; English and Danish, 390 px, axe
on each new page, screenshots (``test-artifacts/screenshots/where-*.png``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from panel_service.models import Account, Participant, Profile, StudyVersion
from panel_service.services import profiles
from tests.e2e.conftest import LiveServer
from tests.e2e.journey import Volunteer, assert_accessible, screenshot, sign_up

pytestmark = pytest.mark.browser

BISPEBJERG = {"name": "Bispebjerg Hospital", "lat": 55.71, "lon": 12.54}
HVIDOVRE = {"name": "Hvidovre Hospital", "lat": 55.65, "lon": 12.47}


def fits_a_phone(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def participant_of(live: LiveServer, email: str) -> int:
    with live.runtime.database.session_scope() as session:
        found = session.scalar(
            select(Participant.id)
            .join(Account, Account.id == Participant.account_id)
            .where(Account.email == email)
        )
        assert found is not None
        return int(found)


@pytest.mark.page_size("phone")
def test_town_type_ahead_and_travel_at_phone_width_in_english_and_danish(page: Any, live: LiveServer) -> None:
    volunteer = Volunteer(email="town@example.org")
    sign_up(page, live, volunteer)
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(r".*/me/profile/home\?wizard=1$"))
    fits_a_phone(page)
    assert_accessible(page, "town")
    screenshot(page, "where-01-town-phone")

    # The type-ahead: the matches appear as radios while typing, without leaving the page.
    page.get_by_label("Town where you live").fill("Køb")
    choice = page.get_by_role("group", name="Choose your town").get_by_label(
        "Copenhagen, Denmark", exact=True
    )
    choice.check()
    assert page.url.endswith("/me/profile/home?wizard=1")
    assert_accessible(page, "town with matches")
    screenshot(page, "where-02-town-typeahead")
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url(re.compile(r".*/me/profile/travel\?wizard=1$"))
    fits_a_phone(page)
    assert_accessible(page, "travel")
    screenshot(page, "where-03-travel")
    page.get_by_role("button", name="Save and continue").click()
    assert "Choose how far you would travel to a study visit." in page.locator(".error-summary").inner_text()
    assert_accessible(page, "travel with an error")
    screenshot(page, "where-04-travel-error")
    page.get_by_label("Up to 50 km", exact=True).check()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(r".*/me/profile/conditions\?wizard=1$"))

    page.get_by_role("button", name="Dansk").click()
    page.goto(f"{live.url}/me/profile/home")
    assert "Din by nu: København, Danmark" in page.inner_text("main")
    page.get_by_label("By, hvor du bor").fill("århus")
    page.get_by_role("group", name="Vælg din by").get_by_label("Aarhus, Danmark", exact=True).check()
    fits_a_phone(page)
    assert_accessible(page, "town (da)")
    screenshot(page, "where-05-town-da")
    page.get_by_role("button", name="Gem", exact=True).click()
    page.wait_for_url(re.compile(r".*/me/profile$"))
    main = page.inner_text("main")
    assert "Din by er gemt: Aarhus, Danmark." in main and "Op til 50 km" in main
    screenshot(page, "where-06-profile-da")
    page.goto(f"{live.url}/me/profile/travel")
    assert page.get_by_label("Op til 50 km", exact=True).is_checked()
    fits_a_phone(page)
    assert_accessible(page, "travel (da)")
    screenshot(page, "where-07-travel-da")

    participant_id = participant_of(live, volunteer.email)
    with live.runtime.database.session_scope() as session:
        profile = session.get(Profile, participant_id)
        assert profile is not None and profile.home_geonameid == 2624652
        assert profiles.travel_limit(session, participant_id) == 50


def test_town_and_travel_without_javascript(browser: Any, live: LiveServer) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    volunteer = Volunteer(email="nojs-town@example.org")
    try:
        sign_up(page, live, volunteer)
        page.get_by_role("button", name="Save and continue").click()
        page.wait_for_url(re.compile(r".*/me/profile/home\?wizard=1$"))
        # "Aar" is no one town: saving lists the matches to choose from, with the error.
        page.get_by_label("Town where you live").fill("Aar")
        page.get_by_role("button", name="Save and continue").click()
        assert "Choose your town from the list." in page.locator(".error-summary").inner_text()
        fits_a_phone(page)
        screenshot(page, "where-08-town-nojs-choose")
        page.get_by_role("group", name="Choose your town").get_by_label("Aarhus, Denmark", exact=True).check()
        page.get_by_role("button", name="Save and continue").click()
        page.wait_for_url(re.compile(r".*/me/profile/travel\?wizard=1$"))
        page.get_by_label("Any distance", exact=True).check()
        page.get_by_role("button", name="Save and continue").click()
        page.wait_for_url(re.compile(r".*/me/profile/conditions\?wizard=1$"))
        # The search button, outside the wizard.
        page.goto(f"{live.url}/me/profile/home")
        page.get_by_label("Town where you live").fill("Roskil")
        page.get_by_role("button", name="Find my town").click()
        screenshot(page, "where-09-town-nojs-search")
        page.get_by_label("Roskilde, Denmark", exact=True).check()
        page.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_url(re.compile(r".*/me/profile$"))
        assert "Your town is saved: Roskilde, Denmark." in page.inner_text("main")
    finally:
        context.close()
    participant_id = participant_of(live, volunteer.email)
    with live.runtime.database.session_scope() as session:
        profile = session.get(Profile, participant_id)
        assert profile is not None and profile.home_place == "Roskilde, DK"
        assert profiles.travel_limit(session, participant_id) == 20000


@pytest.mark.page_size("phone")
def test_changing_the_email_address_in_english_and_danish(page: Any, live: LiveServer) -> None:
    old, new = "before@example.org", "after@example.net"
    volunteer = Volunteer(email=old)
    sign_up(page, live, volunteer)
    page.goto(f"{live.url}/me/contact")
    page.get_by_role("link", name="Change your email address").click()
    page.wait_for_url(re.compile(r".*/me/email$"))
    fits_a_phone(page)
    assert_accessible(page, "email form")
    screenshot(page, "where-10-email-form")

    page.get_by_label("New email address").fill("not an address")
    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Send the link").click()
    summary = page.locator(".error-summary").inner_text()
    assert "Enter a valid email address" in summary and "The password is not correct." in summary
    assert_accessible(page, "email form with errors")
    screenshot(page, "where-11-email-errors")

    page.get_by_label("New email address").fill(new)
    page.get_by_label("Your password").fill(volunteer.password)
    page.get_by_role("button", name="Send the link").click()
    page.wait_for_url(re.compile(r".*/me/email/sent$"))
    assert new in page.inner_text("main") and old in page.inner_text("main")
    fits_a_phone(page)
    assert_accessible(page, "email sent")
    screenshot(page, "where-12-email-sent")

    [mail] = live.smtp.wait_for_to(new, 1, timeout=30)
    body = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"https?://[^/\s]+(/me/email/confirm/\S+)", body)
    assert found is not None
    page.goto(f"{live.url}{found.group(1)}")
    fits_a_phone(page)
    assert_accessible(page, "email confirm")
    screenshot(page, "where-13-email-confirm")
    page.get_by_role("button", name="Use this address").click()
    page.wait_for_url(re.compile(r".*/me/contact$"))
    assert f"Your email address is now {new}." in page.inner_text("main")
    assert_accessible(page, "contact after the change")
    screenshot(page, "where-15-contact-changed")

    notice = live.smtp.wait_for_to(old, 2, timeout=30)[-1]
    text = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "a•••@example.net" in text and new not in text

    page.goto(f"{live.url}{found.group(1)}")
    assert "This link does not work any more" in page.inner_text("main")
    page.goto(f"{live.url}/me/contact")
    page.get_by_role("button", name="Dansk").click()
    page.goto(f"{live.url}/me/email")
    assert "Skift din e-mailadresse" in page.inner_text("main") and new in page.inner_text("main")
    fits_a_phone(page)
    assert_accessible(page, "email form (da)")
    screenshot(page, "where-14-email-form-da")


def test_sites_by_name_and_town_on_the_home_study_and_dashboard_pages(page: Any, live: LiveServer) -> None:
    from tests.factories import make_invitation, make_recruiting_study

    volunteer = Volunteer(email="sites@example.org")
    sign_up(page, live, volunteer)
    participant_id = participant_of(live, volunteer.email)
    with live.runtime.database.session_scope() as session:
        study = make_recruiting_study(
            session,
            "age >= 18",
            title="Sleep after stroke",
            sites=[BISPEBJERG, HVIDOVRE],
            start_matching=False,
        )
        version = session.get(StudyVersion, study.active_version_id)
        assert version is not None
        make_invitation(session, version, participant_id)
        study_id = study.id

    page.goto(f"{live.url}/")
    card = page.locator("li.card", has=page.get_by_role("link", name="Sleep after stroke"))
    assert "Bispebjerg Hospital, Copenhagen; Hvidovre Hospital · Capital Region of Denmark" in (
        card.inner_text()
    )
    assert "DK-84" not in page.inner_text("body")
    assert_accessible(page, "home with sites")
    screenshot(page, "where-20-home-sites")
    page.goto(f"{live.url}/studies/{study_id}")
    assert "Bispebjerg Hospital, Copenhagen" in page.inner_text("main")
    assert "Region: Capital Region of Denmark" in page.inner_text("main")
    assert_accessible(page, "study with sites")
    screenshot(page, "where-21-study-sites")
    page.goto(f"{live.url}/me")
    assert "Bispebjerg Hospital, Copenhagen; Hvidovre Hospital · Capital Region of Denmark" in (
        page.inner_text("main")
    )
    assert "DK-84" not in page.inner_text("body")
    assert_accessible(page, "dashboard with sites")
    screenshot(page, "where-22-dashboard-sites")
    page.goto(f"{live.url}/me/invitations/{study_id}")
    assert (
        "Bispebjerg Hospital, Copenhagen; Hvidovre Hospital · Capital Region of Denmark"
        in page.inner_text("main")
    )
    assert_accessible(page, "invitation with sites")
    screenshot(page, "where-24-invitation-sites")
    page.get_by_role("button", name="Dansk").click()
    page.goto(f"{live.url}/studies/{study_id}")
    main = page.inner_text("main")
    assert "Bispebjerg Hospital, København" in main and "Region: Region Hovedstaden" in main
    assert_accessible(page, "study with sites (da)")
    screenshot(page, "where-23-study-sites-da")
