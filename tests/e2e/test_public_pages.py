"""The public pages in a real browser (issue 13 items 5 and 6): home page → a recruiting
study's page → the privacy notice from the footer, and the other trust pages; at desktop size
and at 390 px, in English and Danish, with axe-core on each page and a screenshot of each."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from panel_service.services import studies
from tests.e2e.conftest import LiveServer
from tests.e2e.journey import assert_accessible, screenshot
from tests.integration.coordinators.conftest import approval_fields, make_staff, study_fields

pytestmark = pytest.mark.browser

TITLE = "Magnesium for restless legs"
SITE = {"name": "Bispebjerg Hospital, sleep clinic", "lat": 55.7127, "lon": 12.5408}


def seed_recruiting_study(live: LiveServer) -> int:
    """A study taken through the real life cycle: created, submitted, approved, recruiting."""
    today = dt.date.today()
    with live.runtime.database.session_scope() as session:
        coordinator = make_staff(session, "coordinator", "Nordic Sleep Research")
        reviewer = make_staff(session, "reviewer")
        study = studies.create_study(session, coordinator.account, study_fields(sites=[SITE]))
        studies.submit_study(session, coordinator.account, study.id)
        studies.approve_study(session, reviewer.account, study.id, approval_fields(today), today=today)
        studies.recruit_study(session, coordinator.account, study.id, today=today)
        return int(study.id)


def visit_home_study_and_privacy(page: Any, live: LiveServer, suffix: str) -> None:
    page.goto(f"{live.url}/")
    page.get_by_role("link", name=TITLE).click()
    page.wait_for_url(re.compile(r".*/studies/\d+$"))
    assert page.get_by_role("heading", name=TITLE, level=1).is_visible()
    assert page.get_by_text("Region Midtjylland IEC (IEC)").is_visible()
    assert page.get_by_role("button", name=re.compile("interested", re.I)).count() == 0
    assert page.get_by_role("link", name="Sign up and complete your profile to be matched").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    assert_accessible(page, "study page")
    screenshot(page, f"public-study-{suffix}")
    page.get_by_role("navigation", name="About this service").get_by_role(
        "link", name="Privacy notice"
    ).click()
    page.wait_for_url(re.compile(r".*/privacy$"))
    assert page.get_by_role("heading", name="Privacy notice", level=1).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    assert_accessible(page, "privacy notice")
    screenshot(page, f"public-privacy-{suffix}")


def test_home_to_a_study_to_the_privacy_notice(page: Any, live: LiveServer) -> None:
    seed_recruiting_study(live)
    visit_home_study_and_privacy(page, live, "desktop")


@pytest.mark.page_size("phone")
def test_home_to_a_study_to_the_privacy_notice_on_a_phone(page: Any, live: LiveServer) -> None:
    seed_recruiting_study(live)
    visit_home_study_and_privacy(page, live, "phone")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_trust_pages_in_english_and_danish(browser: Any, live: LiveServer, size: str) -> None:
    study_id = seed_recruiting_study(live)
    width = 390 if size == "phone" else 1280
    context = browser.new_context(viewport={"width": width, "height": 844}, locale="en-GB")
    try:
        page = context.new_page()
        for language in ("en", "da"):
            page.goto(f"{live.url}/about")
            if language == "da":
                page.get_by_role("button", name="Dansk").click()
                page.wait_for_url(re.compile(r".*/about$"))
                assert page.locator("html").get_attribute("lang") == "da"
            for path in ("privacy", "about", "faq", "contact", f"studies/{study_id}"):
                page.goto(f"{live.url}/{path}")
                assert page.locator("h1").is_visible()
                assert page.evaluate("document.documentElement.scrollWidth") <= width, path
                assert_accessible(page, f"/{path} ({language})")
                screenshot(page, f"public-{path.split('/')[0]}-{language}-{size}")
    finally:
        context.close()
