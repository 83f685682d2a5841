"""Staff flows in the browser (issue 13 items 3, 9, 11): a reviewer decides a study from a page
that names the organisation and shows the invitation, must choose the kind of committee and
upload a real document, and the coordinator is emailed; a coordinator compares versions side by
side, records respondents' outcomes, reads the funnel against the target, and uses the pages in
Danish. axe on each changed page; screenshots at desktop and phone (390 px) width."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from panel_service.models import RespondentOutcome, Study
from panel_service.services import accounts, studies
from tests.e2e.conftest import LiveServer
from tests.e2e.journey import assert_accessible, screenshot
from tests.integration.coordinators.conftest import make_staff, make_volunteer, study_fields, study_in
from tests.integration.coordinators.test_reports import invite

pytestmark = pytest.mark.browser

PASSWORD = "a long staff passphrase"


WIDE = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391
  && !e.closest('.table-wrap')).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def shots(page: Any, name: str) -> None:
    assert_accessible(page, name)
    screenshot(page, name)
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": 390, "height": 844})
    assert_accessible(page, f"{name} at 390 px")
    # Nothing wider than the phone: tables scroll in their own box, long values wrap.
    wide = page.evaluate(WIDE)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{name} overflows at 390 px: {wide}"
    screenshot(page, f"{name}-390")
    page.set_viewport_size({"width": width, "height": 900})


def sign_in(page: Any, live: LiveServer, email: str) -> None:
    page.goto(f"{live.url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_a_reviewer_decides_and_the_coordinator_is_told(page: Any, live: LiveServer) -> None:
    settings = live.runtime.settings
    with live.runtime.database.session_scope() as session:
        coordinator = make_staff(session, "coordinator", "Aarhus Sleep Clinic")
        reviewer = make_staff(session, "reviewer")
        reviewer.account.password_hash = accounts.hash_password(settings, PASSWORD)
        coordinator_email, reviewer_email = coordinator.account.email, reviewer.account.email
        sid = study_in(session, coordinator, reviewer, "in_review")

    sign_in(page, live, reviewer_email)
    page.goto(f"{live.url}/review/")
    assert "Submitted by Aarhus Sleep Clinic" in page.inner_text("main")
    shots(page, "review-queue")
    page.goto(f"{live.url}/review/studies/{sid}")
    main = page.inner_text("main")
    assert "The invitation as volunteers will read it" in main and "(the name of the volunteer)" in main
    shots(page, "review-study")

    today = dt.date.today()
    page.get_by_label("Committee", exact=True).fill("De Videnskabsetiske Komitéer for Region Midtjylland")
    page.get_by_label("Reference number").fill("1-10-72-19-26")
    page.get_by_label("Decision date").fill((today - dt.timedelta(days=1)).isoformat())
    page.get_by_label("Expiry date").fill((today + dt.timedelta(days=365)).isoformat())
    page.get_by_label("Approval letter").set_input_files(
        files=[
            {"name": "approval.pdf", "mimeType": "application/pdf", "buffer": b"\x89PNG\r\n\x1a\nnot a pdf"}
        ]
    )
    page.get_by_role("button", name="Approve version 1").click()
    main = page.inner_text("main")
    assert "Choose the kind of committee: IRB, IEC or REC." in main
    assert "This file is none of these." in main
    shots(page, "review-study-errors")

    page.get_by_label("Kind of committee").select_option("REC")
    page.get_by_label("Approval letter").set_input_files(
        files=[{"name": "approval.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 approved"}]
    )
    page.get_by_role("button", name="Approve version 1").click()
    page.wait_for_url(re.compile(r".*/review/$"))
    assert "The coordinators are told by email." in page.inner_text("main")
    with live.runtime.database.session_scope() as session:
        assert session.get(Study, sid).status == "approved"  # type: ignore[union-attr]
    [message] = [
        m
        for m in live.smtp.wait_for(1, timeout=30)
        if m["To"].endswith(f"{coordinator_email}>") or m["To"] == coordinator_email
    ]
    assert message["Subject"].startswith("Approved: ")


def test_a_coordinator_compares_records_outcomes_and_reads_danish(page: Any, live: LiveServer) -> None:
    settings = live.runtime.settings
    with live.runtime.database.session_scope() as session:
        coordinator = make_staff(session, "coordinator", "Aarhus Sleep Clinic")
        reviewer = make_staff(session, "reviewer")
        coordinator.account.password_hash = accounts.hash_password(settings, PASSWORD)
        email = coordinator.account.email
        sid = study_in(session, coordinator, reviewer, "recruiting")
        studies.update_study(
            session,
            coordinator.account,
            sid,
            study_fields(criteria="age between 18 and 70 and has condition G25.8"),
        )
        people = []
        for index in range(12):
            person = make_volunteer(session)
            invite(
                session,
                sid,
                person,
                "sent",
                response="interested",
                responded_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=index),
            )
            people.append(person)

    sign_in(page, live, email)
    page.goto(f"{live.url}/coordinators/studies")
    shots(page, "coordinator-study-list-versions")
    page.goto(f"{live.url}/coordinators/studies/{sid}")
    page.get_by_role("link", name="changes from version 1").click()
    main = page.inner_text("main")
    assert "What changed: criteria." in main and "Added:" in main and "Removed:" in main
    shots(page, "coordinator-compare-versions")

    page.goto(f"{live.url}/coordinators/studies/{sid}/respondents")
    first = people[-1]  # the earliest answer comes first
    page.locator(f"#outcome-{first}").select_option("enrolled")
    page.locator(f"#outcome-{first}").locator("xpath=..").get_by_role("button", name="Save").click()
    page.get_by_text("Outcome saved.").wait_for()
    with live.runtime.database.session_scope() as session:
        assert session.get(RespondentOutcome, (sid, first)).outcome == "enrolled"  # type: ignore[union-attr]
    shots(page, "coordinator-respondents-outcomes")

    page.goto(f"{live.url}/coordinators/studies/{sid}/funnel")
    main = page.inner_text("main")
    assert "Against your target" in main and "Waiting to be sent" in main
    shots(page, "coordinator-funnel")

    page.get_by_role("button", name="Dansk").click()
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "I forhold til jeres mål" in main and "Venter på at blive sendt" in main
    shots(page, "coordinator-funnel-da")
    page.goto(f"{live.url}/coordinators/studies/{sid}")
    assert "Versionshistorik" in page.inner_text("main")
    shots(page, "coordinator-study-da")
