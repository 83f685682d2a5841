"""Steps of the volunteer journey in the browser, for this branch's tests and for the full
journey test that continues with invitation, answer and the coordinator's respondents list.

Each helper takes a Playwright ``page`` and the ``LiveServer`` and leaves the page where the
next step starts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.e2e.conftest import SCREENSHOTS, LiveServer

SERIOUS = ("serious", "critical")


@dataclass(frozen=True)
class Volunteer:
    email: str = "vera@example.org"
    password: str = "restless legs at night"
    name: str = "Vera Volunteer"


def screenshot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def assert_accessible(page: Any, name: str) -> None:
    """axe-core on the current page: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        for violation in results.response["violations"]
        if violation.get("impact") in SERIOUS
    ]
    assert not bad, f"accessibility problems on {name}:\n" + "\n".join(bad)


def verification_path(live: LiveServer, email: str, count: int = 1) -> str:
    """Wait for the ``count``-th email to ``email`` and return its /verify/... path."""
    for message in reversed(live.smtp.wait_for_to(email, count, timeout=30)):
        body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        found = re.search(r"https?://[^/\s]+(/verify/\S+)", body)
        if found:
            return found.group(1)
    raise AssertionError(f"no verification email to {email}")


def sign_up(page: Any, live: LiveServer, volunteer: Volunteer, *, consent: bool = True) -> None:
    """Sign up, follow the link from the real SMTP server, confirm: ends on "About you"."""
    page.goto(f"{live.url}/signup")
    page.get_by_label("Your name").fill(volunteer.name)
    page.get_by_label("Email address").fill(volunteer.email)
    page.get_by_label("Choose a password").fill(volunteer.password)
    if consent:
        page.get_by_label("Yes, you may contact me").check()
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/signup/check-email$"))
    path = verification_path(live, volunteer.email)
    page.goto(f"{live.url}{path}")
    page.get_by_role("button", name="Confirm and continue").click()
    page.wait_for_url(re.compile(r".*/me/profile/about\?wizard=1$"))


def fill_profile(
    page: Any,
    *,
    birth_date: str = "1980-04-23",
    sex: str = "Female",
    region: str = "DK-84",
    height: str = "168",
    weight: str = "64.5",
    smoker: str = "No",
    pregnant: str | None = "No",
    condition_search: str = "restless legs",
    condition_code: str = "G25.81",
    medications_none: bool = True,
    town: tuple[str, str] | None = None,
    travel: str | None = None,
) -> None:
    """The wizard from "About you" to the dashboard: the demo study's ideal volunteer by default
    (restless legs, no kidney disease, not pregnant, no magnesium). ``town``: what to type and
    the match to choose on the town page (skipped without); ``travel``: the radio's label on
    the travel page (skipped without)."""
    year, month, day = birth_date.split("-")
    birth = page.get_by_role("group", name="Date of birth")
    birth.get_by_label("Day").fill(str(int(day)))
    birth.get_by_label("Month").fill(str(int(month)))
    birth.get_by_label("Year").fill(year)
    page.locator("#sex").get_by_label(sex, exact=True).check()
    page.get_by_label("Region where you live").select_option(region)
    page.get_by_label("Height in centimetres").fill(height)
    page.get_by_label("Weight in kilograms").fill(weight)
    page.locator("#smoker").get_by_label(smoker, exact=True).check()
    if pregnant is not None and sex != "Male":
        page.locator("#pregnant").get_by_label(pregnant, exact=True).check()
    page.get_by_role("button", name="Save and continue").click()
    where(page, town=town, travel=travel)
    page.get_by_label("Search by name or code").fill(condition_search)
    # The type-ahead lists matches as checkboxes as soon as they arrive.
    page.locator(f"#search-results input[value='{condition_code}']").check()
    page.get_by_role("button", name="Save my list").click()
    page.wait_for_url(re.compile(r".*/me/profile/medications\?wizard=1$"))
    if medications_none:
        page.get_by_role("button", name="I take none").click()
    else:
        page.get_by_role("button", name="Skip for now").click()
    page.wait_for_url(re.compile(r".*/me$"))


def where(page: Any, *, town: tuple[str, str] | None = None, travel: str | None = None) -> None:
    """The wizard's town and travel pages, from the town page to the conditions page: choose
    ``town`` (typed, then the match's label) and ``travel`` (a radio's label), or skip each."""
    page.wait_for_url(re.compile(r".*/me/profile/home\?wizard=1$"))
    if town is None:
        page.get_by_role("button", name="Skip for now").click()
    else:
        typed, label = town
        page.get_by_label("Town where you live").fill(typed)
        with page.expect_navigation():  # the server's list, with or without JavaScript
            page.get_by_role("button", name="Find my town").click()
        page.get_by_role("group", name="Choose your town").get_by_label(label, exact=True).check()
        page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(r".*/me/profile/travel\?wizard=1$"))
    if travel is None:
        page.get_by_role("button", name="Skip for now").click()
    else:
        page.get_by_label(travel, exact=True).check()
        page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(r".*/me/profile/conditions\?wizard=1$"))


def sign_in(page: Any, live: LiveServer, volunteer: Volunteer) -> None:
    page.goto(f"{live.url}/login")
    page.get_by_label("Email address").fill(volunteer.email)
    page.get_by_label("Password").fill(volunteer.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/me$"))


def seed_sent_invitation(live: LiveServer, email: str, title: str = "Magnesium for restless legs") -> int:
    """Stand-in for the pipeline: a recruiting demo study and a *sent* invitation for the
    volunteer with ``email``, committed. Returns the study id. The full journey test replaces
    this with the real flow (approval, recruit, match, dispatch)."""
    from sqlalchemy import select

    from panel_service.models import Account, Participant
    from tests.factories import make_invitation
    from tests.support.volunteers import recruiting_study

    with live.runtime.database.session_scope() as session:
        participant_id = session.scalar(
            select(Participant.id)
            .join(Account, Account.id == Participant.account_id)
            .where(Account.email == email)
        )
        assert participant_id is not None
        version = recruiting_study(session, title=title)
        make_invitation(session, version, participant_id)
        return int(version.study_id)


def answer_invitation(page: Any, live: LiveServer, title: str, *, interested: bool = True) -> None:
    """From the dashboard: open the invitation, read what is shared, answer."""
    page.goto(f"{live.url}/me")
    card = page.locator("li.card", has=page.get_by_role("heading", name=title))
    card.get_by_role("link", name="Answer this invitation").click()
    page.wait_for_url(re.compile(r".*/me/invitations/\d+$"))
    button = "Yes, share my contact details" if interested else "No, thank you"
    page.get_by_role("button", name=button).click()
    page.wait_for_url(re.compile(r".*/me$"))
