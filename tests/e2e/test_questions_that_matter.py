"""Ask only what matters (issue 13 item 1) in a real browser at phone width: the dashboard's
count leads straight to the questions; answer one, skip one, confirm a stale answer with "This is
still true", in English and in Danish; without JavaScript; the reminder opt-out on the contact
page and from the email's link. axe checks and a screenshot of each new page."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from panel_service.domain.questions import Answer
from panel_service.models import Account, Participant, ProfileAnswer, QuestionReminder, QuestionSkip
from panel_service.services import question_reminders
from panel_service.services.questions import load_catalogue, replace_answers
from tests.e2e.conftest import SCREENSHOTS, LiveServer
from tests.e2e.journey import Volunteer, assert_accessible, fill_profile, screenshot, sign_in, sign_up
from tests.factories import make_recruiting_study

pytestmark = pytest.mark.browser

# Screenshots also go where the developer reviews them, when asked (PANEL_SHOTS_DIR).
SHOTS = os.environ.get("PANEL_SHOTS_DIR")


def shot(page: Any, name: str) -> None:
    screenshot(page, name)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(SCREENSHOTS / f"{name}.png", Path(SHOTS) / f"{name}.png")


def seed_studies(live: LiveServer) -> None:
    """Three approved recruiting studies whose results stay UNKNOWN for the wizard's volunteer."""
    with live.runtime.database.session_scope() as session:
        make_recruiting_study(
            session, "answer willing_mri = true and answer lives_alone = false", title="Scan A"
        )
        make_recruiting_study(
            session,
            "answer willing_mri = true and answer smoking_status = never answered within P12M",
            title="Scan B",
        )
        make_recruiting_study(session, "has condition G25.81 for at least P1Y", title="Legs C")


def participant_id(live: LiveServer, email: str) -> int:
    with live.runtime.database.session_scope() as session:
        found = session.scalar(
            select(Participant.id)
            .join(Account, Account.id == Participant.account_id)
            .where(Account.email == email)
        )
        assert found is not None
        return int(found)


def no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.page_size("phone")
def test_answer_skip_and_refresh_in_english_and_danish(page: Any, live: LiveServer) -> None:
    seed_studies(live)
    volunteer = Volunteer(email="asked@example.org")
    sign_up(page, live, volunteer)
    fill_profile(page)
    main = page.inner_text("main")
    assert "Answering 4 more questions could make you eligible for studies." in main
    for title in ("Scan A", "Scan B", "Legs C"):
        assert title not in main
    assert_accessible(page, "dashboard with the questions prompt")
    shot(page, "ask-01-dashboard-prompt")

    page.get_by_role("link", name="Answer the questions").click()
    page.wait_for_url(re.compile(r".*/me/questions/next$"))
    no_sideways_scroll(page)
    headings = page.locator("main section h2").all_inner_texts()
    assert headings[0] == "Would you be willing to have an MRI scan?"  # decides two studies
    assert headings[1:] == ["Do you smoke, or have you ever smoked?", "Do you live alone?"]  # catalogue order
    assert "Scan" not in page.inner_text("main")
    assert_accessible(page, "questions that matter")
    shot(page, "ask-02-next-phone")

    # Saving without an answer: the error at the top and at the question.
    first = page.locator("main section").first
    first.get_by_role("button", name="Save this answer").click()
    assert "Choose an answer, or use “Skip for now”." in page.locator(".error-summary").inner_text()
    assert_accessible(page, "questions that matter with an error")
    shot(page, "ask-03-next-error")

    first = page.locator("main section").first
    first.get_by_label("Yes").check()
    first.get_by_role("button", name="Save this answer").click()
    page.wait_for_url(re.compile(r".*/me/questions/next$"))
    assert "Your answer is saved." in page.inner_text("main")
    page.locator("main section", has_text="Do you live alone?").get_by_role(
        "button", name="Skip for now"
    ).click()
    assert "We will not ask you that again for a while." in page.inner_text("main")
    headings = page.locator("main section h2").all_inner_texts()
    assert headings == ["Do you smoke, or have you ever smoked?", "Since when have you had restless legs?"]

    # An answer given long ago: shown with its value, refreshed with one click.
    pid = participant_id(live, volunteer.email)
    with live.runtime.database.session_scope() as session:
        replace_answers(
            session, pid, {"smoking_status": Answer("never", dt.date(2024, 3, 5))}, load_catalogue(session)
        )
    page.reload()
    stale = page.locator("main section", has_text="Do you smoke")
    assert "You told us “I have never smoked” on 5 March 2024." in stale.inner_text()
    assert_accessible(page, "a stale answer")
    shot(page, "ask-04-stale-answer")
    stale.get_by_role("button", name="This is still true").click()
    assert "Thank you. Your answer is up to date." in page.inner_text("main")

    page.get_by_role("button", name="Dansk").click()
    page.goto(f"{live.url}/me/questions/next")
    assert page.get_by_role("heading", name="Spørgsmål, der kan matche dig med forsøg").is_visible()
    assert page.get_by_role("heading", name="Siden hvornår har du haft uro i benene?").is_visible()
    assert page.get_by_role("link", name="Se det 1 spørgsmål, du sprang over").is_visible()
    no_sideways_scroll(page)
    assert_accessible(page, "questions that matter (da)")
    shot(page, "ask-05-next-da")
    page.get_by_role("link", name="Se det 1 spørgsmål, du sprang over").click()
    assert "Bor du alene?" in page.inner_text("main")
    shot(page, "ask-06-skipped-da")

    with live.runtime.database.session_scope() as session:
        answers = {
            row.key: row
            for row in session.scalars(select(ProfileAnswer).where(ProfileAnswer.participant_id == pid))
        }
        assert answers["willing_mri"].value is True
        assert answers["smoking_status"].answered_on == dt.date.today()
        assert (
            session.scalar(select(QuestionSkip.ask_key).where(QuestionSkip.participant_id == pid))
            == "q:lives_alone"
        )


def test_the_questions_work_without_javascript(browser: Any, live: LiveServer) -> None:
    seed_studies(live)
    volunteer = Volunteer(email="plain@example.org")
    with_js = browser.new_context()
    page = with_js.new_page()
    try:
        sign_up(page, live, volunteer)
        fill_profile(page)
    finally:
        with_js.close()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live, volunteer)
        page.goto(f"{live.url}/me/questions/next")
        section = page.locator("main section", has_text="Do you smoke")
        section.get_by_label("I smoke now").check()
        section.get_by_role("button", name="Save this answer").click()
        assert "Your answer is saved." in page.inner_text("main")
        page.locator("main section", has_text="MRI").get_by_role(
            "button", name="I\u2019d rather not say"
        ).click()
        assert "We will not ask you that again for a while." in page.inner_text("main")
    finally:
        context.close()
    pid = participant_id(live, volunteer.email)
    with live.runtime.database.session_scope() as session:
        assert (
            session.scalar(select(ProfileAnswer.value).where(ProfileAnswer.participant_id == pid))
            == "current"
        )
        assert (
            session.scalar(select(QuestionSkip.reason).where(QuestionSkip.participant_id == pid))
            == "rather_not"
        )


@pytest.mark.page_size("phone")
def test_reminders_are_turned_off_on_the_contact_page_and_from_the_email_link(
    page: Any, live: LiveServer
) -> None:
    volunteer = Volunteer(email="remind@example.org")
    sign_up(page, live, volunteer)
    fill_profile(page)
    page.goto(f"{live.url}/me/contact")
    section = page.locator("section", has=page.get_by_role("heading", name="Reminders about questions"))
    assert "at most once every 6 months" in section.inner_text()
    section.get_by_role("button", name="Stop these reminders").click()
    assert "We will not send you reminders about questions any more." in page.inner_text("main")
    assert_accessible(page, "contact page, reminders off")
    shot(page, "ask-07-contact-reminders-off")
    page.get_by_role("button", name="Send me these reminders again").click()
    assert "We will remind you about questions" in page.inner_text("main")

    pid = participant_id(live, volunteer.email)
    token = question_reminders.opt_out_token(live.runtime.settings, pid)
    page.goto(f"{live.url}/reminders/stop/{token}")
    no_sideways_scroll(page)
    assert_accessible(page, "stop reminders")
    shot(page, "ask-08-stop-reminders")
    page.get_by_role("button", name="Stop these reminders").click()
    assert page.get_by_role("heading", name="Reminders stopped").is_visible()
    assert_accessible(page, "reminders stopped")
    shot(page, "ask-09-reminders-stopped")
    with live.runtime.database.session_scope() as session:
        row = session.get(QuestionReminder, pid)
        assert row is not None and row.opted_out_at is not None
