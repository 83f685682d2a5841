"""A coordinator closes a study in the browser: the button leads to a confirmation page (no
JavaScript needed) that says what closing cancels and that it cannot be undone; only its own button
closes, after which the study offers neither submit nor edit. The confirmation page passes axe.
Screenshots of the changed coordinator pages are taken at desktop and phone (390 px) width."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from panel_service.models import Study
from panel_service.services import accounts
from panel_service.timeutil import utcnow
from tests.e2e.conftest import LiveServer
from tests.e2e.journey import assert_accessible, screenshot
from tests.integration.coordinators.conftest import make_staff, make_volunteer, study_in
from tests.integration.coordinators.test_reports import invite

pytestmark = pytest.mark.browser

PASSWORD = "a long staff passphrase"


def shots(page: Any, name: str) -> None:
    screenshot(page, name)
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-390")
    page.set_viewport_size({"width": width, "height": 900})


def test_closing_a_study_asks_first_and_then_offers_nothing_more(page: Any, live: LiveServer) -> None:
    settings = live.runtime.settings
    with live.runtime.database.session_scope() as session:
        coordinator = make_staff(session, "coordinator", "Sleep Clinic")
        reviewer = make_staff(session, "reviewer")
        coordinator.account.password_hash = accounts.hash_password(settings, PASSWORD)
        email, token = coordinator.account.email, coordinator.token
        sid = study_in(session, coordinator, reviewer, "recruiting")
        # Deferred a day: the live server's own dispatcher must not send them while the test looks.
        later = utcnow() + dt.timedelta(days=1)
        for _ in range(12):
            invite(session, sid, make_volunteer(session), "queued", next_attempt_at=later)

    page.goto(f"{live.url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/coordinators/studies$"))
    shots(page, "coordinator-study-list")

    page.goto(f"{live.url}/coordinators/studies/{sid}/feasibility")
    shots(page, "coordinator-feasibility-tab")
    for _ in range(int(settings.feasibility_rate_limit.split()[0])):
        page.request.get(
            f"{live.url}/api/v1/studies/{sid}/feasibility", headers={"Authorization": f"Bearer {token}"}
        )
    page.get_by_role("button", name="Run a feasibility query").click()
    page.get_by_text("You can run the next query").wait_for()
    shots(page, "coordinator-feasibility-limit")

    page.goto(f"{live.url}/coordinators/studies/{sid}")
    page.get_by_role("link", name="Close study…").click()
    page.wait_for_url(re.compile(rf".*/coordinators/studies/{sid}/close$"))
    main = page.inner_text("main")
    assert "cancels 12 invitations that have not been sent yet" in main
    assert "Closing cannot be undone." in main
    assert_accessible(page, "coordinator-close-confirmation")
    shots(page, "coordinator-close-confirmation")

    page.get_by_role("link", name="Keep it open").click()
    page.wait_for_url(re.compile(rf".*/coordinators/studies/{sid}$"))
    with live.runtime.database.session_scope() as session:
        assert session.get(Study, sid).status == "recruiting"  # type: ignore[union-attr]

    page.get_by_role("link", name="Close study…").click()
    page.get_by_role("button", name="Close the study").click()
    page.wait_for_url(re.compile(rf".*/coordinators/studies/{sid}$"))
    main = page.inner_text("main")
    assert "The study is closed." in main
    assert "Submit for ethics review" not in main
    assert page.get_by_role("link", name="Edit").count() == 0
    assert page.get_by_role("link", name="Close study…").count() == 0
    shots(page, "coordinator-closed-study")
    with live.runtime.database.session_scope() as session:
        assert session.get(Study, sid).status == "closed"  # type: ignore[union-attr]
