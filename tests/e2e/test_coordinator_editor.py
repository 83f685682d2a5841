"""A coordinator in the browser: a staff account made with the CLI sets its password through the
emailed reset link, signs in, and the criteria editor checks criteria as they are typed, naming
the place of each error; the page then saves a draft study."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.journey import assert_accessible, screenshot
from tests.e2e.test_full_journey import panel

pytestmark = pytest.mark.browser

EMAIL = "coordinator@sleep.example"
PASSWORD = "a long staff passphrase"


def reset_link(live: LiveServer, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(live.smtp.messages):
            if EMAIL in str(message["To"]):
                body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
                found = re.search(r"https?://\S+/password/reset/\S+", body)
                if found:
                    return found.group(0)
        time.sleep(0.25)
    raise AssertionError("no reset email reached the coordinator")


def test_staff_set_a_password_by_link_and_the_editor_checks_as_they_type(page: Any, live: LiveServer) -> None:
    panel(
        live, "users", "create", "--email", EMAIL, "--role", "coordinator", "--organisation", "Sleep Clinic"
    )

    page.goto(f"{live.url}/password/forgot")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Send the link").click()
    page.goto(reset_link(live))
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_role("button", name="Save the new password").click()

    page.goto(f"{live.url}/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/coordinators/studies$"))

    page.goto(f"{live.url}/coordinators/studies/new")
    editor = page.get_by_label("Eligibility criteria")
    feedback = page.locator("#criteria-feedback")

    editor.fill("age between 75 and 18 and has condition G25.8")
    feedback.locator("li").first.wait_for()
    assert "Line 1, column 1:" in feedback.inner_text() and "[75, 18]" in feedback.inner_text()
    assert editor.get_attribute("aria-invalid") == "true"
    screenshot(page, "coordinator-criteria-error")

    editor.fill("age between 18 and 75 and has condition G25.8 and not takes A12CC")
    page.get_by_text("Reads as:").wait_for()
    assert editor.get_attribute("aria-invalid") is None
    assert_accessible(page, "coordinator-new-study")

    page.get_by_label("Title").fill("Magnesium for restless legs")
    page.get_by_label("Invitation text").fill("Would you try a magnesium tablet every evening?")
    page.get_by_label("Site region").fill("DK-84")
    page.get_by_label("Target enrolment").fill("120")
    page.get_by_role("button", name=re.compile("Save|Create")).click()
    page.wait_for_url(re.compile(r".*/coordinators/studies/\d+$"))
    assert "draft" in page.inner_text("main").lower()
