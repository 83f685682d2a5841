"""The gaps of issue 13's "Done when" (docs/browser-tests.md): the flows that had been driven in
English or at desktop width only, now in Danish at 390 px, and the forms among them without
JavaScript. As people do it, with no row created by SQL: staff made with the `panel` CLI set
their passwords by the emailed link, the coordinator and reviewer work through the API and the
pages, matching and dispatch run as the live server's jobs, the invitation arrives at a real SMTP
server. axe on each page; a screenshot of each (``*-da-390.png``)."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pytest

from panel_service.services import demo
from tests.e2e.conftest import LiveServer
from tests.e2e.journey import Volunteer, assert_accessible, fill_profile, screenshot, sign_up
from tests.e2e.test_full_journey import api, invitation_to, panel, staff_token

pytestmark = pytest.mark.browser

TITLE = "Magnesium for restless legs"
PASSWORD = "a long staff passphrase"
BISPEBJERG = {"name": "Bispebjerg Hospital", "lat": 55.71, "lon": 12.54}
PHONE = {"width": 390, "height": 844}
# Elements wider than the phone (tables scroll in their own box).
WIDE = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391
  && !e.closest('.table-wrap')).slice(0, 5).map(e => e.tagName + '.' + e.className)"""


def fits_and_passes(page: Any, name: str) -> None:
    wide = page.evaluate(WIDE)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{name} overflows: {wide}"
    assert_accessible(page, name)
    screenshot(page, name)


def look(page: Any, name: str, *, english: bool = True) -> None:
    """The page in Danish, fitting 390 px, passing axe; its screenshot (``name``, ending
    ``-da-390``). ``english``: the same address again, signed in as the same person, in an
    English browser (the Danish comes from the browser's language, not a stored choice), checked
    and photographed the same way (``-en-390``); not for pages that answer a POST."""
    assert page.locator("html").get_attribute("lang") == "da", name
    fits_and_passes(page, name)
    if not english:
        return
    twin = page.context.browser.new_context(
        locale="en-GB", viewport=PHONE, storage_state=page.context.storage_state()
    )
    try:
        other = twin.new_page()
        other.goto(page.url)
        assert other.locator("html").get_attribute("lang") == "en", name
        fits_and_passes(other, name.replace("-da-", "-en-"))
    finally:
        twin.close()


def danish_phone(browser: Any, *, scripts: bool = True) -> Any:
    return browser.new_context(locale="da-DK", viewport=PHONE, java_script_enabled=scripts)


def link_in_mail(live: LiveServer, address: str, pattern: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(live.smtp.messages):
            if address in str(message["To"]):
                body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
                found = re.search(pattern, body)
                if found:
                    return found.group(0)
        time.sleep(0.25)
    raise AssertionError(f"no email to {address} with {pattern}")


def staff_password_in_danish(page: Any, live: LiveServer, email: str) -> None:
    """A staff account made with the CLI sets its password through the emailed link, in Danish."""
    page.goto(f"{live.url}/password/forgot")
    page.get_by_label("E-mailadresse").fill(email)
    page.get_by_role("button", name="Send linket").click()
    page.goto(link_in_mail(live, email, r"https?://\S+/password/reset/\S+"))
    page.get_by_label("Ny adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Gem den nye adgangskode").click()
    page.wait_for_url(re.compile(r".*/login.*"))


def sign_in_danish(page: Any, live: LiveServer, email: str, password: str) -> None:
    if "/login" not in page.url:
        page.goto(f"{live.url}/login")
    page.get_by_label("E-mailadresse").fill(email)
    page.get_by_label("Adgangskode", exact=True).fill(password)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_load_state()


def study_body(criteria: object, *, target_enrolment: int) -> dict[str, object]:
    """The API body of the audit's study (one title, summary, text and site throughout)."""
    return {
        "title": TITLE,
        "summary": "Adults with restless legs syndrome.",
        "criteria": criteria,
        "invitation_text": "Would you try a magnesium tablet every evening for 12 weeks?",
        "site_region": "DK-84",
        "sites": [BISPEBJERG],
        "target_enrolment": target_enrolment,
    }


def recruiting_study(live: LiveServer, coordinator: str, reviewer: str) -> int:
    today = dt.date.today()
    study = api(
        live,
        coordinator,
        "POST",
        "/studies",
        study_body(demo.DEMO_CRITERIA, target_enrolment=120),
    )
    api(live, coordinator, "POST", f"/studies/{study['id']}/submit")
    api(
        live,
        reviewer,
        "POST",
        f"/studies/{study['id']}/approval",
        {
            "committee": "Regional Ethics Committee",
            "kind": "IEC",
            "reference": "H-26-0042",
            "approved_on": (today - dt.timedelta(days=1)).isoformat(),
            "expires_on": (today + dt.timedelta(days=365)).isoformat(),
            "letter_sha256": "0" * 64,
        },
    )
    assert api(live, coordinator, "POST", f"/studies/{study['id']}/recruit")["status"] == "recruiting"
    return int(study["id"])


@pytest.mark.page_size("phone")
def test_a_volunteer_in_danish_from_the_email_to_erasure(page: Any, browser: Any, live: LiveServer) -> None:
    """Signed up in English (so emails are English), then reading Panel on a Danish phone: the
    answer page from the email, the thank-you page, the used link that leads to signing in, the
    dashboard and the invitation (the site's town in the page's language, not the saved one),
    the coordinator's respondents page with an outcome, taking "interested" back, the data as a
    readable page and the erasure page; the data page and erasure also without JavaScript."""
    coordinator_email = "coordinator@sleep.example"
    coordinator = staff_token(live, coordinator_email, "coordinator", "Sleep Clinic")
    reviewer = staff_token(live, "irb@ethics.example", "reviewer")
    study_id = recruiting_study(live, coordinator, reviewer)

    volunteer = Volunteer(email="dorte@example.org", name="Dorte Dansk")
    sign_up(page, live, volunteer)
    fill_profile(page)
    message = invitation_to(live, volunteer.email)
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://127\.0\.0\.1:\d+/invitations/answer/\S+answer=interested", text)
    assert link, text
    page.context.close()

    context = danish_phone(browser)
    try:
        phone = context.new_page()
        # The sign-up page a Danish visitor sees: the consent says health data is stored to match.
        phone.goto(f"{live.url}/signup")
        assert "helbred" in phone.locator("#consent-text").inner_text()
        look(phone, "signup-da-390")
        phone.goto(link.group(0))
        assert TITLE in phone.inner_text("h1")
        main = phone.inner_text("main")
        assert "Sleep Clinic" in main and "Ja, del mine kontaktoplysninger" in main
        look(phone, "answer-from-email-da-390")
        phone.get_by_role("button", name="Ja, del mine kontaktoplysninger").click()
        phone.get_by_role("heading", name="Tak", exact=True).wait_for()
        assert volunteer.email in phone.inner_text("main")  # names exactly what was shared
        look(phone, "answer-thank-you-da-390", english=False)

        # The used link says so and leads to signing in, then to the volunteer's page.
        phone.goto(link.group(0))
        assert phone.get_by_role("heading", name="Linket virker ikke længere").is_visible()
        look(phone, "answer-used-link-da-390")
        phone.get_by_role("link", name="Log ind for at se dem").click()
        look(phone, "sign-in-da-390")
        sign_in_danish(phone, live, volunteer.email, volunteer.password)
        phone.wait_for_url(re.compile(r".*/me$"))
        main = phone.inner_text("main")
        # The site's town in the page's language, although the saved language is English.
        assert "Bispebjerg Hospital, København" in main and "Copenhagen" not in main
        # Why you were invited, in Danish too (the explanation follows the page's language).
        phone.locator("summary", has_text="Hvorfor du blev inviteret").click()
        why = phone.locator("details").inner_text()
        assert "fortalt os" in why and "told us" not in why, why
        look(phone, "dashboard-invitation-da-390")
        phone.goto(f"{live.url}/me/invitations/{study_id}")
        main = phone.inner_text("main")
        assert "Bispebjerg Hospital, København" in main and "Copenhagen" not in main
        look(phone, "invitation-answered-da-390")

        # The coordinator, on a Danish phone, records the outcome for this respondent.
        staff = browser.new_context(locale="da-DK", viewport=PHONE)
        try:
            desk = staff.new_page()
            staff_password_in_danish(desk, live, coordinator_email)
            sign_in_danish(desk, live, coordinator_email, PASSWORD)
            desk.goto(f"{live.url}/coordinators/studies/{study_id}/respondents")
            assert volunteer.email in desk.inner_text("main")
            look(desk, "coordinator-respondents-da-390")
            outcome = desk.locator("select[id^=outcome-]")
            outcome.select_option("screened")
            outcome.locator("xpath=..").get_by_role("button", name="Gem").click()
            desk.get_by_text("Udfaldet er gemt.").wait_for()
            look(desk, "coordinator-respondents-outcome-da-390", english=False)
            assert api(live, coordinator, "GET", f"/studies/{study_id}/respondents")["items"][0]["email"] == (
                volunteer.email
            )

            # The volunteer takes the "interested" answer back; the team is told and the
            # volunteer leaves the respondents list at once.
            phone.get_by_role("button", name="Træk mit svar tilbage").click()
            assert "Du har trukket dit svar tilbage" in phone.inner_text("main")
            look(phone, "invitation-taken-back-da-390", english=False)
            assert api(live, coordinator, "GET", f"/studies/{study_id}/respondents")["items"] == []
            desk.reload()
            assert volunteer.email not in desk.inner_text("main")
        finally:
            staff.close()
        deadline = time.monotonic() + 30
        while not [
            m
            for m in list(live.smtp.messages)
            if "taken back" in str(m["Subject"]) and coordinator_email in str(m["To"])
        ]:
            assert time.monotonic() < deadline, [str(m["Subject"]) for m in live.smtp.messages]
            time.sleep(0.25)

        # The data as a readable page, and the erasure page, with scripts (for axe).
        phone.goto(f"{live.url}/me/data")
        look(phone, "my-data-da-390")
        phone.get_by_role("button", name="Vis mine data som en side").click()
        phone.get_by_role("heading", name="Alt, hvad vi har om dig").wait_for()
        assert "23. april 1980" in phone.inner_text("main")
        look(phone, "my-data-page-da-390", english=False)
        phone.goto(f"{live.url}/me/delete")
        # What happens to details already shared, before the button.
        assert phone.get_by_role(
            "heading", name="Oplysninger, du allerede har delt med et forsøg"
        ).is_visible()
        look(phone, "delete-account-da-390")
    finally:
        context.close()

    # Without JavaScript: the readable data page and the erasure form, errors first.
    context = danish_phone(browser, scripts=False)
    try:
        plain = context.new_page()
        sign_in_danish(plain, live, volunteer.email, volunteer.password)
        plain.goto(f"{live.url}/me/data")
        plain.get_by_role("button", name="Vis mine data som en side").click()
        assert plain.get_by_role("heading", name="Alt, hvad vi har om dig").is_visible()
        screenshot(plain, "my-data-page-da-nojs-390")
        plain.goto(f"{live.url}/me/delete")
        plain.get_by_label("Din adgangskode").fill("not the password")
        plain.get_by_role("button", name="Slet min konto nu").click()
        assert "Adgangskoden er ikke korrekt." in plain.inner_text("main")
        screenshot(plain, "delete-account-error-da-nojs-390")
        plain.get_by_label("Din adgangskode").fill(volunteer.password)
        plain.get_by_role("button", name="Slet min konto nu").click()
        plain.wait_for_url(re.compile(r".*/$"))
        assert "Din konto og din helbredsprofil er slettet." in plain.inner_text("main")
    finally:
        context.close()


def test_staff_in_danish_review_with_a_letter_compare_versions_and_close(
    browser: Any, live: LiveServer
) -> None:
    """A reviewer approves with a letter upload (a wrong file and no kind refused, in Danish); the
    coordinator reads the version comparison in Danish and closes the study after the Danish
    confirmation. On a phone, axe on each page; the review form also without JavaScript."""
    coordinator_email, reviewer_email = "coordinator@sleep.example", "irb@ethics.example"
    coordinator = staff_token(live, coordinator_email, "coordinator", "Sleep Clinic")
    panel(live, "users", "create", "--email", reviewer_email, "--role", "reviewer")
    study = api(
        live,
        coordinator,
        "POST",
        "/studies",
        study_body("age between 18 and 70 and has condition G25.8", target_enrolment=40),
    )
    sid = study["id"]
    api(live, coordinator, "POST", f"/studies/{sid}/submit")
    today = dt.date.today()

    # The review form without JavaScript: every error at once, in Danish.
    context = danish_phone(browser, scripts=False)
    try:
        page = context.new_page()
        staff_password_in_danish(page, live, reviewer_email)
        sign_in_danish(page, live, reviewer_email, PASSWORD)
        page.goto(f"{live.url}/review/studies/{sid}")
        page.get_by_label("Komité", exact=True).fill("De Videnskabsetiske Komitéer for Region Midtjylland")
        page.get_by_label("Journalnummer").fill("1-10-72-19-26")
        page.get_by_label("Afgørelsesdato").fill((today - dt.timedelta(days=1)).isoformat())
        page.get_by_label("Udløbsdato").fill((today + dt.timedelta(days=365)).isoformat())
        page.get_by_label("Godkendelsesbrev").set_input_files(
            files=[{"name": "brev.pdf", "mimeType": "application/pdf", "buffer": b"\x89PNG\r\n\x1a\nno pdf"}]
        )
        page.get_by_role("button", name="Godkend version 1").click()
        main = page.inner_text("main")
        assert "Vælg typen af komité" in main and "Denne fil er ingen af delene." in main
        screenshot(page, "review-study-errors-da-nojs-390")
    finally:
        context.close()

    context = danish_phone(browser)
    try:
        page = context.new_page()
        sign_in_danish(page, live, reviewer_email, PASSWORD)
        page.goto(f"{live.url}/review/")
        look(page, "review-queue-da-390")
        page.goto(f"{live.url}/review/studies/{sid}")
        preview = page.locator("pre").inner_text()
        # The invitation as the volunteer will read it: the region and the site's town by name.
        assert "Region Hovedstaden" in preview and "Bispebjerg Hospital, København" in preview, preview
        assert "DK-84" not in preview, preview
        look(page, "review-study-da-390")
        page.get_by_label("Komité", exact=True).fill("De Videnskabsetiske Komitéer for Region Midtjylland")
        page.get_by_label("Type komité").select_option("REC")
        page.get_by_label("Journalnummer").fill("1-10-72-19-26")
        page.get_by_label("Afgørelsesdato").fill((today - dt.timedelta(days=1)).isoformat())
        page.get_by_label("Udløbsdato").fill((today + dt.timedelta(days=365)).isoformat())
        page.get_by_label("Godkendelsesbrev").set_input_files(
            files=[{"name": "brev.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 godkendt"}]
        )
        page.get_by_role("button", name="Godkend version 1").click()
        page.wait_for_url(re.compile(r".*/review/$"))
        look(page, "review-approved-da-390", english=False)
        assert api(live, coordinator, "GET", f"/studies/{sid}")["status"] == "approved"
    finally:
        context.close()
    assert api(live, coordinator, "POST", f"/studies/{sid}/recruit")["status"] == "recruiting"
    api(
        live,
        coordinator,
        "PUT",
        f"/studies/{sid}",
        {
            **{k: study[k] for k in ("title", "summary", "invitation_text", "site_region")},
            "criteria": "age between 18 and 75 and has condition G25.8",
            "target_enrolment": 40,
        },
    )

    context = danish_phone(browser)
    try:
        page = context.new_page()
        staff_password_in_danish(page, live, coordinator_email)
        sign_in_danish(page, live, coordinator_email, PASSWORD)
        page.goto(f"{live.url}/coordinators/studies/{sid}")
        look(page, "coordinator-study-da-390")
        page.get_by_role("link", name="ændringer fra version 1").click()
        main = page.inner_text("main")
        assert "Det er ændret:" in main and "Tilføjet:" in main and "Fjernet:" in main
        # Side by side on a phone without scrolling the table: both versions share the width.
        assert page.evaluate(
            "(() => { const t = document.querySelector('.compare-table');"
            " return t.scrollWidth <= t.parentElement.clientWidth; })()"
        ), "the comparison table is wider than the phone"
        look(page, "coordinator-compare-versions-da-390")

        # The feasibility tab costs nothing; the limit page says when, in Danish, with the menu.
        page.goto(f"{live.url}/coordinators/studies/{sid}/feasibility")
        look(page, "coordinator-feasibility-tab-da-390")
        for _ in range(int(live.runtime.settings.feasibility_rate_limit.split()[0])):
            api(live, coordinator, "GET", f"/studies/{sid}/feasibility")
        page.get_by_role("button", name="Kør en gennemførlighedsforespørgsel").click()
        page.get_by_text("Du kan køre den næste forespørgsel").wait_for()
        assert page.get_by_role("link", name="Nyt forsøg").is_visible()
        look(page, "coordinator-feasibility-limit-da-390", english=False)

        page.goto(f"{live.url}/coordinators/studies/{sid}")
        page.get_by_role("link", name="Luk forsøget…").click()
        page.wait_for_url(re.compile(rf".*/coordinators/studies/{sid}/close$"))
        assert "Lukningen kan ikke fortrydes." in page.inner_text("main")
        look(page, "coordinator-close-confirmation-da-390")
        page.get_by_role("button", name="Luk forsøget", exact=True).click()
        page.wait_for_url(re.compile(rf".*/coordinators/studies/{sid}$"))
        assert page.get_by_role("link", name="Luk forsøget…").count() == 0
        look(page, "coordinator-closed-study-da-390", english=False)
    finally:
        context.close()
    assert api(live, coordinator, "GET", f"/studies/{sid}")["status"] == "closed"
