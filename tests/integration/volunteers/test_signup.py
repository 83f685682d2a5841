"""Sign-up, email verification and the "same answer whether or not registered" rule."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import Account, Consent, OutboxMessage, Participant
from panel_service.runtime import Runtime
from panel_service.services import account_mail, accounts, participants, tokens, volunteers
from tests.support.services import SmtpRecorder
from tests.support.volunteers import PASSWORD, csrf_token, make_volunteer, post_form, row_counts

GOOD = {"name": "Ada Lovelace", "email": "Ada@Example.org", "password": PASSWORD, "consent": "y"}


def test_signup_page_has_an_unticked_consent_box_and_labels(client: FlaskClient) -> None:
    page = client.get("/signup").get_data(as_text=True)
    box = re.search(r'<input[^>]*id="consent"[^>]*>', page)
    assert box is not None and 'type="checkbox"' in box.group(0) and "checked" not in box.group(0)
    assert '="None"' not in page
    for field in ("name", "email", "password", "consent"):
        assert f'for="{field}"' in page
    assert "version 2026-12" in page


def test_signup_creates_unverified_volunteer_with_versioned_consent(client: FlaskClient, db: Session) -> None:
    response = post_form(client, "/signup", GOOD)
    assert response.status_code == 302 and response.location.endswith("/signup/check-email")
    account = db.scalar(select(Account).where(Account.email == "ada@example.org"))
    assert account is not None and account.role == "participant" and account.email_verified_at is None
    assert account.password_hash and account.password_hash.startswith("$argon2id$")
    participant = db.scalar(select(Participant).where(Participant.account_id == account.id))
    assert participant is not None and participant.name == "Ada Lovelace"
    consent = db.scalar(select(Consent).where(Consent.participant_id == participant.id))
    assert consent is not None and consent.text_version == volunteers.CONSENT_TEXT_VERSION
    assert consent.given_at is not None and consent.withdrawn_at is None
    tasks = db.scalars(select(OutboxMessage.task_name)).all()
    assert "accounts.send_verification" in tasks


def test_signup_without_consent_joins_but_records_no_consent(client: FlaskClient, db: Session) -> None:
    response = post_form(client, "/signup", {**GOOD, "consent": ""})
    assert response.status_code == 302
    participant = db.scalar(select(Participant).where(Participant.name == "Ada Lovelace"))
    assert participant is not None
    assert db.scalar(select(Consent).where(Consent.participant_id == participant.id)) is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("password", "short1", "at least 8 characters"),
        ("password", "password123", "too common"),
        ("password", "Qwertyuiop", "too common"),
        ("password", "x" * 129, "at most 128"),
        ("email", "not-an-email", "valid email address"),
        ("email", "", "Enter your email address"),
        ("name", "   ", "Enter your name"),
    ],
)
def test_bad_signup_values_are_shown_at_the_field_and_write_nothing(
    client: FlaskClient, db: Session, field: str, value: str, message: str
) -> None:
    before = row_counts(db)
    response = post_form(client, "/signup", {**GOOD, field: value})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'class="error-summary"' in page and f'href="#{field}"' in page
    assert re.search(rf'<p class="error" id="{field}-error">[^<]*{message}', page)
    assert row_counts(db) == before


def test_sixty_four_character_password_is_fine(client: FlaskClient, db: Session) -> None:
    response = post_form(client, "/signup", {**GOOD, "password": "a long passphrase " * 3 + "x" * 10})
    assert response.status_code == 302


def test_signup_without_csrf_token_is_refused(client: FlaskClient, db: Session) -> None:
    before = row_counts(db)
    response = client.post("/signup", data=GOOD)
    assert response.status_code in (400, 422)
    assert row_counts(db) == before


def test_existing_email_gets_the_same_page_and_the_owner_an_email(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    account, _participant = make_volunteer(db, settings, "ada@example.org")
    fresh = post_form(client, "/signup", {**GOOD, "email": "someone.new@example.org"})
    again = post_form(client, "/signup", GOOD)
    assert fresh.status_code == again.status_code == 302
    assert fresh.location == again.location
    assert client.get(again.location).get_data(as_text=True) == client.get(fresh.location).get_data(
        as_text=True
    )
    assert db.scalar(select(Account).where(Account.email == "ada@example.org")) is account
    assert (
        db.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.task_name == "accounts.send_signup_existing",
                OutboxMessage.payload["account_id"].as_integer() == account.id,
            )
        )
        is not None
    )


def test_verification_link_get_changes_nothing_post_verifies_and_signs_in(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    account, _participant = make_volunteer(db, settings, verified=False)
    token = tokens.issue(db, "verify_email", ttl=account_mail.VERIFY_TTL, account_id=account.id)
    page = client.get(f"/verify/{token}")
    assert page.status_code == 200
    db.refresh(account)
    assert account.email_verified_at is None
    response = post_form(client, f"/verify/{token}", {})
    assert response.status_code == 302 and "/me/profile/about" in response.location
    db.refresh(account)
    assert account.email_verified_at is not None
    assert client.get("/me").status_code == 200  # signed in
    assert client.get(f"/verify/{token}").status_code == 410  # single use


def test_unverified_volunteer_cannot_fill_the_profile_yet(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    from tests.support.volunteers import sign_in

    make_volunteer(db, settings, verified=False)
    sign_in(client, "vera@example.org")
    response = client.get("/me/profile/about")
    assert response.status_code == 302 and response.location.endswith("/me")
    assert "Confirm your email address" in client.get("/me").get_data(as_text=True)


def test_verification_email_goes_out_after_commit_with_a_working_link(
    mail_runtime: tuple[Runtime, SmtpRecorder], app: Flask
) -> None:
    runtime, smtp = mail_runtime
    with runtime.database.session_scope() as session:
        participants.sign_up(
            session, runtime.settings, email="mail@example.org", password=PASSWORD, name="M", consent=True
        )
    runtime.relay.drain()  # type: ignore[attr-defined]
    messages = smtp.wait_for(1, timeout=10)
    assert smtp.to_addresses() == ["mail@example.org"]
    body = messages[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://127\.0\.0\.1:5000(/verify/\S+)", body)
    assert link is not None
    client = app.test_client()
    assert client.get(link.group(1)).status_code == 200
    token = csrf_token(client, link.group(1))
    assert client.post(link.group(1), data={"csrf_token": token}).status_code == 302


def test_two_simultaneous_signups_with_one_address_answer_the_same(
    client: FlaskClient, db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second request does not see the first's account yet; the unique index decides."""
    make_volunteer(db, settings, "ada@example.org")
    real_find = accounts.find_account
    calls = {"n": 0}

    def find_once_blind(session: Session, email: str) -> Account | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_find(session, email)

    monkeypatch.setattr(accounts, "find_account", find_once_blind)
    response = post_form(client, "/signup", GOOD)
    assert response.status_code == 302 and response.location.endswith("/signup/check-email")
    assert (
        db.scalar(select(OutboxMessage.id).where(OutboxMessage.task_name == "accounts.send_signup_existing"))
        is not None
    )
