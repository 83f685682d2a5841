"""Account emails over a real SMTP server: what each says, in the volunteer's language."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from panel_service.models import Participant
from panel_service.runtime import Runtime
from panel_service.services import account_mail, accounts, participants
from tests.support.services import SmtpRecorder, email_parts
from tests.support.volunteers import PASSWORD, post_form


def _body(message: object) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined, no-any-return]


def test_signing_up_again_emails_the_owner_instead(mail_runtime: tuple[Runtime, SmtpRecorder]) -> None:
    runtime, smtp = mail_runtime
    with runtime.database.session_scope() as session:
        participants.sign_up(
            session, runtime.settings, email="ada@example.org", password=PASSWORD, name="Ada", consent=True
        )
    runtime.relay.drain()  # type: ignore[attr-defined]
    smtp.wait_for(1, timeout=10)
    # Not yet verified: a second sign-up brings a fresh confirmation link.
    with runtime.database.session_scope() as session:
        result = participants.sign_up(
            session, runtime.settings, email="ADA@example.org", password=PASSWORD, name="Ada", consent=True
        )
        assert result.created is False
    runtime.relay.drain()  # type: ignore[attr-defined]
    assert "/verify/" in _body(smtp.wait_for(2, timeout=10)[1])
    # Verified: the owner is told an account exists, with sign-in and reset links.
    with runtime.database.session_scope() as session:
        account = accounts.find_account(session, "ada@example.org")
        assert account is not None
        participants.mark_verified(session, account)
        participants.sign_up(
            session, runtime.settings, email="ada@example.org", password=PASSWORD, name="X", consent=False
        )
    runtime.relay.drain()  # type: ignore[attr-defined]
    third = smtp.wait_for(3, timeout=10)[2]
    assert third["Subject"] == "You already have a Panel account"
    assert "/login" in _body(third) and "/password/forgot" in _body(third)
    assert smtp.to_addresses() == ["ada@example.org"] * 3


def test_password_reset_email_in_danish_with_a_working_link(
    mail_runtime: tuple[Runtime, SmtpRecorder], app: Flask
) -> None:
    runtime, smtp = mail_runtime
    with runtime.database.session_scope() as session:
        result = participants.sign_up(
            session,
            runtime.settings,
            email="aase@example.org",
            password=PASSWORD,
            name="Åse",
            consent=True,
            language="da",
        )
        assert (
            session.scalar(select(Participant.language).where(Participant.account_id == result.account_id))
            == "da"
        )
    account_mail.send_password_reset(runtime, account_id=result.account_id)
    message = smtp.wait_for(1, timeout=10)[0]
    assert message["Subject"] == "Vælg en ny adgangskode til Panel"
    path = re.search(r"http://127\.0\.0\.1:5000(/password/reset/\S+)", _body(message))
    assert path is not None
    client = app.test_client()
    done = post_form(client, path.group(1), {"password": "a brand new passphrase"})
    assert done.status_code == 302 and done.location.endswith("/login")
    assert client.get(path.group(1)).status_code == 410


@pytest.mark.parametrize(
    ("language", "subjects", "words", "other_language_words"),
    [
        (
            "da",
            ("Bekræft din e-mailadresse til Panel", "Vælg en ny adgangskode til Panel"),
            ("Velkommen til Panel.", "Vælg en ny adgangskode her:"),
            ("Welcome to Panel.", "Choose a new password here:"),
        ),
        (
            "en",
            ("Confirm your email address for Panel", "Choose a new Panel password"),
            ("Welcome to Panel.", "Choose a new password here:"),
            ("Velkommen til Panel.", "Vælg en ny adgangskode her:"),
        ),
    ],
)
def test_account_emails_in_the_volunteers_language_with_the_same_link_in_both_parts(
    mail_runtime: tuple[Runtime, SmtpRecorder],
    language: str,
    subjects: tuple[str, str],
    words: tuple[str, str],
    other_language_words: tuple[str, str],
) -> None:
    runtime, smtp = mail_runtime
    with runtime.database.session_scope() as session:
        result = participants.sign_up(
            session,
            runtime.settings,
            email=f"lang-{language}@example.org",
            password=PASSWORD,
            name="Åse",
            consent=True,
            language=language,
        )
    runtime.relay.drain()  # type: ignore[attr-defined]
    smtp.wait_for(1, timeout=10)
    account_mail.send_password_reset(runtime, account_id=result.account_id)
    verification, reset = smtp.wait_for(2, timeout=10)
    for message, subject, said, unsaid, path in zip(
        (verification, reset),
        subjects,
        words,
        other_language_words,
        ("/verify/", "/password/reset/"),
        strict=True,
    ):
        assert message["Subject"] == subject
        parts = email_parts(message)
        assert said in parts.text and said in parts.html
        assert unsaid not in parts.text and unsaid not in parts.html
        assert f'<html lang="{language}">' in parts.html
        [link] = parts.text_links
        assert parts.html_links == [link] and f"http://127.0.0.1:5000{path}" in link
