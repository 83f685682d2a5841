"""Changing the email address (issue 13 item 7) over a real SMTP server: a link to the new
address, the old address kept until it is used and then told (without the new one in full), an
address with an account answered like any other (its owner mailed instead), audited without
addresses, rate-limited, and every error re-rendering the form."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import Account, AuditEvent, OutboxMessage, Participant
from panel_service.runtime import Runtime
from panel_service.services import email_change
from panel_service.tasks import Task
from tests.support.services import SmtpRecorder, email_parts
from tests.support.volunteers import PASSWORD, csrf_token, make_volunteer, post_form, row_counts, sign_in

OLD, NEW = "vera@example.org", "vera.new@example.net"
JOBS = {
    Task.ACCOUNTS_SEND_EMAIL_CHANGE: email_change.send_email_change,
    Task.ACCOUNTS_SEND_EMAIL_CHANGED: email_change.send_email_changed,
    Task.ACCOUNTS_SEND_EMAIL_TAKEN: email_change.send_email_taken,
}


def run_mail_jobs(runtime: Runtime, db: Session) -> list[str]:
    """Run the email-change jobs the outbox holds, in order (the relay's work, by hand), once."""
    ran = []
    for message in db.scalars(
        select(OutboxMessage).where(OutboxMessage.task_name.in_(list(JOBS))).order_by(OutboxMessage.id)
    ):
        if message.completed_at is None:
            JOBS[Task(message.task_name)](runtime, **message.payload)
            message.completed_at = message.created_at
            ran.append(message.task_name)
    db.flush()
    return ran


def account(db: Session, account_id: int) -> Account:
    found = db.get(Account, account_id)
    assert found is not None
    db.refresh(found)
    return found


def link_in(message: Any) -> str:
    parts = email_parts(message)
    [link] = parts.text_links
    assert parts.html_links == [link]
    found = re.search(r"http://127\.0\.0\.1:5000(/me/email/confirm/\S+)", link)
    assert found is not None, link
    return found.group(1)


def test_the_new_address_is_verified_before_it_is_used_and_the_old_one_is_told(
    client: FlaskClient, db: Session, settings: Settings, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    vera, _participant = make_volunteer(db, settings)
    sign_in(client, OLD)
    asked = post_form(client, "/me/email", {"email": " Vera.New@Example.net ", "password": PASSWORD})
    assert asked.status_code == 302 and asked.location.endswith("/me/email/sent")
    sent_page = client.get("/me/email/sent").get_data(as_text=True)
    assert NEW in sent_page and OLD in sent_page  # the account keeps the old address until then
    assert (account(db, vera.id).email, account(db, vera.id).pending_email) == (OLD, NEW)
    assert f"We have sent a link to {NEW}. Until you open it" in client.get("/me/contact").get_data(
        as_text=True
    )

    assert run_mail_jobs(runtime, db) == [Task.ACCOUNTS_SEND_EMAIL_CHANGE]
    [confirm_mail] = smtp.wait_for(1, timeout=10)
    assert smtp.to_addresses() == [NEW]
    assert confirm_mail["Subject"] == "Confirm your new email address for Panel"
    path = link_in(confirm_mail)
    # A GET shows a button only (mail scanners follow links); nothing changes yet.
    shown = client.get(path)
    assert shown.status_code == 200 and NEW in shown.get_data(as_text=True)
    assert account(db, vera.id).email == OLD
    done = post_form(client, path, {})
    assert done.status_code == 302 and done.location.endswith("/me/contact")
    changed = account(db, vera.id)
    assert (changed.email, changed.pending_email, changed.previous_email) == (NEW, None, OLD)
    assert changed.email_verified_at is not None
    assert client.get(path).status_code == 410  # used

    assert run_mail_jobs(runtime, db) == [Task.ACCOUNTS_SEND_EMAIL_CHANGED]
    notice = smtp.wait_for(2, timeout=10)[1]
    assert smtp.to_addresses()[1] == OLD
    assert notice["Subject"] == "Your Panel email address has been changed"
    parts = email_parts(notice)
    assert "v•••@example.net" in parts.text and "v•••@example.net" in parts.html
    assert NEW not in parts.text and NEW not in parts.html and "vera.new" not in parts.text
    assert account(db, vera.id).previous_email is None  # told, then forgotten

    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "account.email_change_requested" in actions and "account.email_changed" in actions
    details = " ".join(str(event.details) for event in db.scalars(select(AuditEvent)))
    assert "@" not in details  # no address in the insert-only trail

    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    sign_in(client, NEW)


def test_the_emails_are_in_danish_for_a_danish_volunteer(
    client: FlaskClient, db: Session, settings: Settings, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    vera, participant = make_volunteer(db, settings)
    participant.language = "da"
    db.flush()
    sign_in(client, OLD)
    assert post_form(client, "/me/email", {"email": NEW, "password": PASSWORD}).status_code == 302
    run_mail_jobs(runtime, db)
    [confirm_mail] = smtp.wait_for(1, timeout=10)
    assert confirm_mail["Subject"] == "Bekræft din nye e-mailadresse til Panel"
    assert "Linket virker én gang og i 24 timer" in email_parts(confirm_mail).text
    assert post_form(client, link_in(confirm_mail), {}).status_code == 302
    run_mail_jobs(runtime, db)
    notice = smtp.wait_for(2, timeout=10)[1]
    assert notice["Subject"] == "Din e-mailadresse hos Panel er ændret"
    assert "er ændret til v•••@example.net" in email_parts(notice).text
    assert account(db, vera.id).email == NEW


def test_an_address_with_an_account_is_answered_as_any_other_and_its_owner_is_mailed(
    client: FlaskClient, db: Session, settings: Settings, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    vera, _participant = make_volunteer(db, settings)
    make_volunteer(db, settings, NEW, name="Nils")
    sign_in(client, OLD)
    asked = post_form(client, "/me/email", {"email": NEW, "password": PASSWORD})
    assert asked.status_code == 302 and asked.location.endswith("/me/email/sent")
    taken_page = client.get("/me/email/sent").get_data(as_text=True)
    assert f"We have sent a link to {NEW}." in taken_page  # word for word what a free address gets
    assert (account(db, vera.id).email, account(db, vera.id).pending_email) == (OLD, None)
    assert run_mail_jobs(runtime, db) == [Task.ACCOUNTS_SEND_EMAIL_TAKEN]
    [owner_mail] = smtp.wait_for(1, timeout=10)
    assert smtp.to_addresses() == [NEW]
    assert owner_mail["Subject"] == "Someone tried to use your email address on Panel"
    text = email_parts(owner_mail).text
    assert "/login" in text and "/password/forgot" in text and "/me/email/confirm/" not in text
    assert OLD not in text  # the owner does not learn who asked


def test_a_newer_request_voids_the_older_link(
    client: FlaskClient, db: Session, settings: Settings, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    vera, _participant = make_volunteer(db, settings)
    sign_in(client, OLD)
    assert (
        post_form(client, "/me/email", {"email": "first@example.net", "password": PASSWORD}).status_code
        == 302
    )
    run_mail_jobs(runtime, db)
    first = link_in(smtp.wait_for(1, timeout=10)[0])
    assert (
        post_form(client, "/me/email", {"email": "second@example.net", "password": PASSWORD}).status_code
        == 302
    )
    run_mail_jobs(runtime, db)
    second = link_in(smtp.wait_for(2, timeout=10)[1])
    assert smtp.to_addresses() == ["first@example.net", "second@example.net"]
    assert client.get(first).status_code == 410
    assert post_form(client, second, {}).status_code == 302
    assert account(db, vera.id).email == "second@example.net"


def test_an_address_taken_before_the_link_is_used_is_refused_and_the_account_keeps_its_own(
    client: FlaskClient, db: Session, settings: Settings, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    vera, _participant = make_volunteer(db, settings)
    sign_in(client, OLD)
    assert post_form(client, "/me/email", {"email": NEW, "password": PASSWORD}).status_code == 302
    run_mail_jobs(runtime, db)
    path = link_in(smtp.wait_for(1, timeout=10)[0])
    make_volunteer(db, settings, NEW, name="Nils")  # signed up with it meanwhile
    refused = post_form(client, path, {})
    assert refused.status_code == 409
    assert "your account keeps its old address" in refused.get_data(as_text=True)
    assert account(db, vera.id).email == OLD


def test_errors_are_shown_together_at_their_fields_and_nothing_is_written(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    make_volunteer(db, settings)
    sign_in(client, OLD)
    cases = [
        ({"email": "not an address", "password": "wrong password"}, ("email", "password")),
        ({"email": OLD.upper(), "password": PASSWORD}, ("email",)),
        ({"email": "", "password": ""}, ("email", "password")),
    ]
    messages = {
        "email": (
            "Enter a valid email address",
            "This is already your email address",
            "Enter your new email",
        ),
        "password": ("The password is not correct.", "Enter your password to confirm the change."),
    }
    for data, fields in cases:
        token = csrf_token(client, "/me/email")
        before = row_counts(db)
        response = client.post("/me/email", data={**data, "csrf_token": token})
        assert response.status_code == 422, data
        page = response.get_data(as_text=True)
        for field in fields:
            assert f'href="#{field}"' in page, (data, field)
            assert re.search(rf'<p class="error" id="{field}-error">', page), (data, field)
            assert any(message in page for message in messages[field]), (data, field)
        assert row_counts(db) == before, data


def test_asking_is_rate_limited(client: FlaskClient, db: Session, settings: Settings) -> None:
    make_volunteer(db, settings)
    sign_in(client, OLD)
    token = csrf_token(client, "/me/email")
    answers = [
        client.post("/me/email", data={"email": "x", "password": "wrong", "csrf_token": token}).status_code
        for _ in range(6)
    ]
    assert answers == [422] * 5 + [429]


def test_the_contact_page_links_to_the_change_and_a_stranger_cannot_use_it(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    assert client.get("/me/email").status_code in (302, 401)
    make_volunteer(db, settings)
    sign_in(client, OLD)
    page = client.get("/me/contact").get_data(as_text=True)
    assert OLD in page and 'href="/me/email"' in page
    assert client.get("/me/email/confirm/not-a-token").status_code == 410
    participant = db.scalar(select(Participant))
    assert participant is not None
