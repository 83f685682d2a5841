"""Sign-in, throttling, session rotation, safe next, password reset, language switch."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import OutboxMessage, Participant, WebSession
from panel_service.services import account_mail, accounts, tokens
from panel_service.timeutil import utcnow
from panel_service.web.accounts import throttle
from tests.support.volunteers import PASSWORD, csrf_token, make_volunteer, post_form, row_counts, sign_in


def _login(client: FlaskClient, email: str, password: str, next_: str = "") -> tuple[int, str]:
    path = f"/login?next={next_}" if next_ else "/login"
    response = post_form(client, path, {"email": email, "password": password, "next": next_}, token_from=path)
    return response.status_code, response.get_data(as_text=True)


def _error(page: str) -> str:
    found = re.search(r'<p class="error" id="password-error">([^<]*)</p>', page)
    return found.group(1) if found else ""


def test_same_message_for_unknown_email_and_wrong_password(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    make_volunteer(db, settings)
    unknown = _login(client, "nobody@example.org", PASSWORD)
    wrong = _login(client, "vera@example.org", "wrong password here")
    assert unknown[0] == wrong[0] == 401
    assert _error(unknown[1]) == _error(wrong[1]) == "Email or password is not correct."


def test_repeated_failures_from_one_client_are_throttled_per_email_known_or_not(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    make_volunteer(db, settings)
    for email in ("vera@example.org", "nobody@example.org"):
        for _ in range(5):
            assert _login(client, email, "wrong password here")[0] == 401
        status, page = _login(client, email, "wrong password here")
        assert status == 429 and "Too many attempts. Try again in 1 min." in page
    # Even the right password waits out the throttle: guessing cannot continue around it.
    assert _login(client, "vera@example.org", PASSWORD)[0] == 429


class CountingHasher(PasswordHasher):
    """A real argon2 hasher that counts its verifications."""

    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        CountingHasher.verified += 1
        return super().verify(hash, password)


def test_unknown_email_does_the_same_work_as_a_wrong_password(
    client: FlaskClient, db: Session, settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Membership is sensitive: an unknown email gets one argon2 verification with the same
    parameters, the same statements and the same answer as a registered one."""
    make_volunteer(db, settings)
    monkeypatch.setattr(
        accounts,
        "_hasher",
        lambda time_cost, memory_kib, parallelism: CountingHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        ),
    )
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    def work(email: str) -> tuple[int, int, int, str]:
        token = csrf_token(client, "/login")
        statements.clear()
        CountingHasher.verified = 0
        event.listen(engine, "before_cursor_execute", count)
        try:
            response = client.post(
                "/login", data={"email": email, "password": "wrong password here", "csrf_token": token}
            )
        finally:
            event.remove(engine, "before_cursor_execute", count)
        page = response.get_data(as_text=True).replace(token, "")
        return CountingHasher.verified, len(statements), response.status_code, _error(page)

    registered = work("vera@example.org")
    unknown = work("nobody@example.org")
    assert registered[0] == 1
    assert unknown == registered


def test_another_client_failing_does_not_lock_the_owner_out(
    app: Flask, db: Session, settings: Settings
) -> None:
    # Clients that keep no context between requests, like separate browsers.
    attacker = app.test_client()
    make_volunteer(db, settings)
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    for _ in range(5):
        assert _login(attacker, "vera@example.org", "guess number one")[0] == 401
    for _ in range(3):
        status, page = _login(attacker, "vera@example.org", "another guess")
        assert status == 429 and "Too many attempts" in page
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert _login(owner, "vera@example.org", PASSWORD)[0] == 302
    assert _login(attacker, "vera@example.org", PASSWORD)[0] == 429, "the attacker's client still waits"


def test_the_owners_known_browser_signs_in_through_an_attack_from_many_addresses_or_its_own(
    app: Flask, db: Session, settings: Settings
) -> None:
    make_volunteer(db, settings)
    shared_address = "192.0.2.10"  # the owner's office NAT, which the attacker shares
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = shared_address
    sign_in(owner, "vera@example.org")  # this browser is now known for the email
    post_form(owner, "/logout", {}, token_from="/me")
    attacker = app.test_client()
    for number in range(40):
        attacker.environ_base["REMOTE_ADDR"] = shared_address if number < 10 else f"203.0.113.{number}"
        _login(attacker, "vera@example.org", f"guess {number}")
    attacker.environ_base["REMOTE_ADDR"] = shared_address
    assert _login(attacker, "vera@example.org", "guess")[0] == 429, "the attacker's client waits"
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "198.51.100.99"
    assert _login(stranger, "vera@example.org", PASSWORD)[0] == 429, "unknown browsers wait (15-60 s)"
    assert _login(owner, "vera@example.org", PASSWORD)[0] == 302


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [throttle.PER_CLIENT_AND_EMAIL.wait_after(failures) for failures in range(4, 12)]
    assert waits == [0, 30, 60, 120, 240, 480, 900, 900]
    assert max(throttle.PER_EMAIL_FROM_STRANGERS.wait_after(n) for n in range(100)) == 60


def test_throttling_per_client_address(client: FlaskClient, db: Session) -> None:
    for number in range(30):
        assert _login(client, f"person{number}@example.org", "wrong password here")[0] == 401
    assert _login(client, "another@example.org", "wrong password here")[0] == 429


def test_login_rotates_the_session_and_logout_revokes_it(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    account, _participant = make_volunteer(db, settings)
    client.get("/login")
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"
    sign_in(client, "vera@example.org")
    with client.session_transaction() as after:
        assert "planted" not in after
    assert client.get("/me").status_code == 200
    assert (
        db.scalar(select(func.count()).select_from(WebSession).where(WebSession.account_id == account.id))
        == 1
    )
    post_form(client, "/logout", {}, token_from="/me")
    assert (
        db.scalar(
            select(func.count())
            .select_from(WebSession)
            .where(WebSession.account_id == account.id, WebSession.revoked_at.is_(None))
        )
        == 0
    )
    assert client.get("/me").status_code == 302


def test_next_is_followed_only_within_the_site(client: FlaskClient, db: Session, settings: Settings) -> None:
    make_volunteer(db, settings)
    response = post_form(
        client,
        "/login?next=/me/contact",
        {"email": "vera@example.org", "password": PASSWORD, "next": "/me/contact"},
    )
    assert response.location == "/me/contact"
    post_form(client, "/logout", {}, token_from="/me")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = post_form(
            client, "/login", {"email": "vera@example.org", "password": PASSWORD, "next": evil}
        )
        assert response.location == "/me", evil
        post_form(client, "/logout", {}, token_from="/me")


def test_password_reset_same_answer_and_single_use_link(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    account, _participant = make_volunteer(db, settings)
    known = post_form(client, "/password/forgot", {"email": "vera@example.org"})
    unknown = post_form(client, "/password/forgot", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302 and known.location == unknown.location
    queued = db.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.task_name == "accounts.send_password_reset")
    ).all()
    assert queued == [{"account_id": account.id}]

    sign_in(client, "vera@example.org")  # a session opened before the reset ends with it
    token = tokens.issue(db, "reset_password", ttl=account_mail.RESET_TTL, account_id=account.id)
    path = f"/password/reset/{token}"
    before = row_counts(db)
    weak = post_form(client, path, {"password": "password123"})
    assert weak.status_code == 422 and "too common" in weak.get_data(as_text=True)
    assert row_counts(db) == before
    assert client.get(path).status_code == 200, "a refused password does not use up the link"
    done = post_form(client, path, {"password": "a brand new passphrase"})
    assert done.status_code == 302 and done.location.endswith("/login")
    assert client.get(path).status_code == 410
    db.refresh(account)
    assert accounts.verify_password(settings, account.password_hash, "a brand new passphrase")
    open_sessions = (
        select(func.count())
        .select_from(WebSession)
        .where(WebSession.account_id == account.id, WebSession.revoked_at.is_(None))
    )
    assert db.scalar(open_sessions) == 0, "sessions opened before the reset are closed"
    assert client.get("/me").status_code == 302
    assert _login(client, "vera@example.org", PASSWORD)[0] == 401
    assert _login(client, "vera@example.org", "a brand new passphrase")[0] == 302


def test_language_switch_sets_danish_and_remembers_it_for_emails(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    response = client.post(
        "/language", data={"lang": "da", "next": "/me", "csrf_token": csrf_token(client, "/me")}
    )
    assert response.status_code == 302 and response.location == "/me"
    page = client.get("/me").get_data(as_text=True)
    assert '<html lang="da">' in page
    db.refresh(participant)
    assert participant.language == "da"
    assert db.get(Participant, participant.id).language == "da"  # type: ignore[union-attr]


def test_browser_language_is_used_when_nothing_was_chosen(client: FlaskClient) -> None:
    page = client.get("/signup", headers={"Accept-Language": "da-DK,da;q=0.9"}).get_data(as_text=True)
    assert '<html lang="da">' in page


def test_language_switch_only_returns_within_the_site(client: FlaskClient) -> None:
    token = csrf_token(client, "/")
    response = client.post(
        "/language", data={"lang": "da", "next": "https://evil.example/", "csrf_token": token}
    )
    assert response.status_code == 302 and response.location == "/"
    refused = client.post("/language", data={"lang": "xx", "next": "/signup", "csrf_token": token})
    assert refused.location == "/signup"
    with client.session_transaction() as session:
        assert session["lang"] == "da"


def _age_session(db: Session, account_id: int, age: dt.timedelta) -> WebSession:
    """The session opened at sign-in, made ``age`` old while used a minute ago."""
    web_session = db.scalars(select(WebSession).where(WebSession.account_id == account_id)).one()
    web_session.created_at = utcnow() - age
    web_session.last_seen_at = utcnow() - dt.timedelta(minutes=1)
    db.flush()
    return web_session


def test_volunteer_sessions_end_seven_days_after_sign_in_however_active(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    account, _participant = make_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    web_session = _age_session(db, account.id, dt.timedelta(days=6, hours=23))
    assert client.get("/me").status_code == 200
    _age_session(db, account.id, dt.timedelta(days=7, minutes=1))
    response = client.get("/me")
    assert response.status_code == 302 and "/login" in response.location
    db.refresh(web_session)
    assert web_session.revoked_at is not None
    assert client.get("/me").status_code == 302, "the session stays ended"


def test_staff_sessions_end_twelve_hours_after_sign_in(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    staff = accounts.create_staff_account(db, email="rita@example.org", role="reviewer")
    staff.password_hash = accounts.hash_password(settings, PASSWORD)
    db.flush()
    sign_in(client, "rita@example.org")
    _age_session(db, staff.id, dt.timedelta(hours=11, minutes=50))
    assert client.get("/review/").status_code == 200
    _age_session(db, staff.id, dt.timedelta(hours=12, minutes=1))
    assert client.get("/review/").status_code == 302
