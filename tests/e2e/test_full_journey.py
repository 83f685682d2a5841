"""The whole journey as people do it, with no row created by SQL.

An operator creates staff with the `panel` CLI; the coordinator and the reviewer use the JSON
API; the volunteer uses the browser; matching and dispatch run as background jobs; the
invitation arrives at a real SMTP server; the coordinator then sees this volunteer — and only
after the volunteer said yes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from panel_service.services import demo
from tests.e2e.conftest import LiveServer
from tests.e2e.journey import Volunteer, fill_profile, screenshot, sign_up

pytestmark = pytest.mark.browser

PANEL = str(Path(sys.executable).with_name("panel"))
TITLE = "Magnesium for restless legs"
CRITERIA = demo.DEMO_CRITERIA  # the example study of the product contract §9, in its text form


def panel(live: LiveServer, *args: str) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": live.runtime.settings.database_url,
        "PANEL_INSTANCE_PATH": str(live.runtime.settings.instance_path),
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run([PANEL, *args], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def api(live: LiveServer, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{live.url}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read().decode()}") from None


def staff_token(live: LiveServer, email: str, role: str, organisation: str | None = None) -> str:
    extra = ["--organisation", organisation] if organisation else []
    panel(live, "users", "create", "--email", email, "--role", role, *extra)
    return panel(live, "tokens", "create", "--email", email).strip().splitlines()[-1]


def invitation_to(live: LiveServer, address: str, timeout: float = 90.0) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(live.smtp.messages):
            if address in str(message["To"]) and TITLE in str(message["Subject"]):
                return message
        time.sleep(0.25)
    subjects = [(str(m["To"]), str(m["Subject"])) for m in live.smtp.messages]
    raise AssertionError(f"no invitation reached {address} within {timeout} s; mail seen: {subjects}")


def test_a_volunteer_is_invited_answers_and_only_then_the_coordinator_sees_them(
    page: Any, live: LiveServer
) -> None:
    today = dt.date.today()
    coordinator = staff_token(live, "coordinator@sleep.example", "coordinator", "Sleep Clinic")
    reviewer = staff_token(live, "irb@ethics.example", "reviewer")

    study = api(
        live,
        coordinator,
        "POST",
        "/studies",
        {
            "title": TITLE,
            "summary": "Adults with restless legs syndrome.",
            "criteria": CRITERIA,
            "invitation_text": "Would you try a magnesium tablet every evening for 12 weeks?",
            "site_region": "DK-84",
            "target_enrolment": 120,
        },
    )
    assert study["status"] == "draft"
    study_id = study["id"]
    assert api(live, coordinator, "POST", f"/studies/{study_id}/submit")["status"] == "in_review"
    approval = {
        "committee": "Regional Ethics Committee",
        "kind": "IEC",
        "reference": "H-26-0042",
        "approved_on": (today - dt.timedelta(days=1)).isoformat(),
        "expires_on": (today + dt.timedelta(days=365)).isoformat(),
        "letter_sha256": hashlib.sha256(b"approval letter").hexdigest(),
    }
    assert api(live, reviewer, "POST", f"/studies/{study_id}/approval", approval)["status"] == "approved"
    assert api(live, coordinator, "POST", f"/studies/{study_id}/recruit")["status"] == "recruiting"

    volunteer = Volunteer(email="rita@example.org", name="Rita Restless")
    sign_up(page, live, volunteer)
    fill_profile(page)  # restless legs, no kidney disease, not pregnant, no magnesium

    message = invitation_to(live, volunteer.email)
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Would you try a magnesium tablet" in text  # the approved text, verbatim
    assert message["List-Unsubscribe"] and message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.search(r"(http://127\.0\.0\.1:\d+/invitations/answer/\S+answer=interested)", text)
    assert link, text

    # Before the volunteer answers, the coordinator sees nobody.
    assert api(live, coordinator, "GET", f"/studies/{study_id}/respondents")["items"] == []

    page.goto(link.group(1))
    assert TITLE in page.inner_text("h1")
    assert "Sleep Clinic" in page.inner_text("main")  # names who will see the details
    screenshot(page, "answer-confirmation")
    page.get_by_role("button", name="Yes, share my contact details").click()
    page.get_by_role("heading", name="Thank you").wait_for()

    respondents = api(live, coordinator, "GET", f"/studies/{study_id}/respondents")["items"]
    assert len(respondents) == 1
    respondent = respondents[0]
    assert respondent["email"] == volunteer.email and respondent["name"] == volunteer.name
    health_keys = {
        "birth_date",
        "sex",
        "region",
        "height_cm",
        "weight_kg",
        "conditions",
        "medications",
        "bmi",
    }
    assert not health_keys & set(respondent), respondent

    # The same link cannot be used twice (single use), and the dashboard shows the answer.
    page.goto(link.group(1))
    assert "not valid any more" in page.inner_text("main") or "already answered" in page.inner_text("main")
