"""The email templates: every email renders in every language, its two parts carry the same
links, HTML is escaped and text is not, and an unknown language falls back to English."""

from __future__ import annotations

import html
import re

import pytest

from panel_service import emails
from panel_service.domain.vocab import LANGUAGES

CONTEXTS: dict[str, dict[str, object]] = {
    "verification": {"link": "https://panel.example.org/verify/T"},
    "password_reset": {"link": "https://panel.example.org/password/reset/T"},
    "signup_existing": {
        "login": "https://panel.example.org/login",
        "reset": "https://panel.example.org/password/forgot",
    },
    "invitation": {
        "name": "Ann <b>",
        "study_title": "Magnesium & legs",
        "organisation_name": "Aarhus Sleep Clinic",
        "site_region": "DK-84",
        "sites": ("Aarhus University Hospital",),
        "invitation_text": "Take part.\n<i>not italic</i>",
        "interested": "https://panel.example.org/invitations/answer/A?answer=interested",
        "not_interested": "https://panel.example.org/invitations/answer/A?answer=not_interested",
        "unsubscribe": "https://panel.example.org/unsubscribe/U",
        "why_link": "https://panel.example.org/me/invitations/7",
    },
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_every_email_renders_with_the_same_links_in_both_parts(name: str, language: str) -> None:
    email = emails.render(name, language, **CONTEXTS[name])
    assert email.subject and "\n" not in email.subject
    links = re.findall(r"https?://\S+", email.text)
    assert links and links == [html.unescape(h) for h in re.findall(r'href="([^"]*)"', email.html)]
    assert f'<html lang="{language}">' in email.html


def test_html_is_escaped_and_text_is_not() -> None:
    email = emails.render("invitation", "en", **CONTEXTS["invitation"])
    assert email.subject == "Invitation to a research study: Magnesium & legs"
    assert "Dear Ann <b>," in email.text and "<i>not italic</i>" in email.text
    assert "Dear Ann &lt;b&gt;," in email.html and "&lt;i&gt;not italic&lt;/i&gt;" in email.html
    assert "<strong>Magnesium &amp; legs</strong>" in email.html


def test_an_unknown_language_is_english_and_a_missing_value_fails() -> None:
    assert emails.render("verification", "xx", **CONTEXTS["verification"]) == emails.render(
        "verification", "en", **CONTEXTS["verification"]
    )
    with pytest.raises(Exception, match="link"):
        emails.render("verification", "en")
