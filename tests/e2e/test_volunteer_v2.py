"""Profile version 2 volunteer pages in a real browser (issue 13 items 2 and 7): the history
page without JavaScript, in Danish and at phone width; the data as a readable page. axe checks
and screenshots on each new page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from panel_service.models import ProfileCondition
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


@pytest.mark.page_size("phone")
def test_history_page_at_phone_width_in_english_and_danish(page: Any, live: LiveServer) -> None:
    sign_up(page, live, Volunteer(email="history@example.org"))
    fill_profile(page)
    page.goto(f"{live.url}/me/profile")
    page.get_by_role("link", name="Tell us since when").click()
    page.wait_for_url(re.compile(r".*/me/profile/history$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page, "history")
    screenshot(page, "v2-01-history-phone")

    # A month without a year: the error at the entry and in the summary.
    page.get_by_label("Month").select_option("3")
    page.get_by_role("button", name="Save").click()
    assert "Enter the year as well as the month" in page.locator(".error-summary").inner_text()
    assert_accessible(page, "history with an error")
    screenshot(page, "v2-02-history-error")

    page.get_by_role("group", name="Do you still have it?").get_by_label("Yes").check()
    page.get_by_label("Year").fill("2019")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/me/profile$"))
    assert "Your answers are saved." in page.inner_text("main")

    page.get_by_role("button", name="Dansk").click()
    page.goto(f"{live.url}/me/profile/history")
    assert page.get_by_role("group", name="Har du det stadig?").is_visible()
    assert page.get_by_label("Måned").input_value() == "3"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page, "history (da)")
    screenshot(page, "v2-03-history-da")
    with live.runtime.database.session_scope() as session:
        row = session.scalar(select(ProfileCondition))
        assert row is not None and (row.code, row.status, row.since) == ("G2581", "current", "2019-03")


def test_history_page_works_without_javascript(browser: Any, live: LiveServer) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_up(page, live, Volunteer(email="nojs@example.org"))
        page.get_by_role("button", name="Save and continue").click()
        where(page)
        page.get_by_label("Search by name or code").fill("restless legs")
        page.get_by_role("button", name="Search").click()
        page.locator("#search-results input[value='G25.81']").check()
        page.get_by_role("button", name="Save my list").click()
        page.get_by_role("button", name="I take none").click()
        page.wait_for_url(re.compile(r".*/me$"))
        page.goto(f"{live.url}/me/profile/history")
        page.get_by_role("group", name="Do you still have it?").get_by_label("No, not any more").check()
        page.get_by_label("Year").fill("2015")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r".*/me/profile$"))
    finally:
        context.close()
    with live.runtime.database.session_scope() as session:
        row = session.scalar(select(ProfileCondition))
        assert row is not None and (row.status, row.since) == ("past", "2015")


def test_my_data_as_a_readable_page(page: Any, live: LiveServer) -> None:
    volunteer = Volunteer(email="reader@example.org")
    sign_up(page, live, volunteer)
    fill_profile(page)
    study_id = seed_sent_invitation(live, volunteer.email)
    answer_invitation(page, live, "Magnesium for restless legs")
    page.goto(f"{live.url}/me/data")
    page.get_by_role("button", name="Show my data as a page").click()
    heading = page.get_by_role("heading", name="Everything we hold about you")
    assert heading.is_visible()
    said_yes = page.locator("h2", has_text="Studies you said yes to").locator(
        "xpath=following-sibling::ul[1]"
    )
    assert "Magnesium for restless legs" in said_yes.inner_text()
    assert "23 April 1980" in page.inner_text("main")
    assert_accessible(page, "my data page")
    screenshot(page, "v2-04-my-data-page")
    page.emulate_media(media="print")
    assert page.locator(".site-header").is_hidden()
    page.emulate_media(media="screen")

    # Taking the "interested" answer back, from the invitation's page.
    page.goto(f"{live.url}/me/invitations/{study_id}")
    assert_accessible(page, "invitation answered yes")
    screenshot(page, "v2-05-invitation-take-back")
    page.get_by_role("button", name="Take back my answer").click()
    assert "You have taken back your answer" in page.inner_text("main")
    assert page.get_by_role("button", name="Take back my answer").count() == 0


def test_the_dashboard_shows_an_invitation_sent_while_it_is_open(page: Any, live: LiveServer) -> None:
    """Issue 13 item 7: an invitation sent after the wizard's last step (the match runs in the
    background) appears on the open dashboard without a reload."""
    volunteer = Volunteer(email="waiting@example.org")
    sign_up(page, live, volunteer)
    fill_profile(page)
    assert "No invitations yet" in page.inner_text("#invitations")
    page.evaluate("window.__sameDocument = true")
    seed_sent_invitation(live, volunteer.email)
    card = page.locator(
        "#invitations li.card", has=page.get_by_role("heading", name="Magnesium for restless legs")
    )
    card.wait_for(timeout=20_000)
    assert page.evaluate("window.__sameDocument === true"), "the page was not reloaded"
    assert page.locator("p.visually-hidden[role=status]").inner_text() == "You have a new invitation."
    assert_accessible(page, "dashboard with a new invitation")
    screenshot(page, "v2-06-dashboard-new-invitation")
