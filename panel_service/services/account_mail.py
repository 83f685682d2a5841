"""Account emails: verification, "you already have an account", password reset.

Each job takes ids only and makes its link token inside the job, in its own transaction,
so the token exists only once the email is about to go out. They run after the commit that
recorded them (outbox), in the volunteer's language, from the templates in
``templates/email/`` (``panel_service/emails.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.logging import get_logger
from panel_service import emails, outbox
from panel_service.jobs import job
from panel_service.metrics import EMAILS_SENT
from panel_service.models import Account, Participant
from panel_service.services import tokens
from panel_service.tasks import Task

if TYPE_CHECKING:
    from panel_service.jobs import JobContext

log = get_logger(__name__)

VERIFY_TTL = dt.timedelta(days=7)
RESET_TTL = dt.timedelta(hours=2)


def request_verification(session: Session, account_id: int) -> None:
    """Email a link that confirms the address, after the caller's transaction commits."""
    outbox.enqueue(session, Task.ACCOUNTS_SEND_VERIFICATION, {"account_id": account_id})


def request_signup_existing(session: Session, account_id: int) -> None:
    """Tell the owner of an address that someone signed up with it again."""
    outbox.enqueue(session, Task.ACCOUNTS_SEND_SIGNUP_EXISTING, {"account_id": account_id})


def request_password_reset(session: Session, account_id: int) -> None:
    """Email a password reset link."""
    outbox.enqueue(session, Task.ACCOUNTS_SEND_PASSWORD_RESET, {"account_id": account_id})


def _language(session: Session, account: Account) -> str:
    """A volunteer's chosen language; staff accounts (no participant row) get English."""
    language = session.scalar(select(Participant.language).where(Participant.account_id == account.id))
    return emails.language_or_default(language)


def _send(runtime: JobContext, account: Account, name: str, language: str, **context: Any) -> None:
    email = emails.render(name, language, **context)
    message = runtime.mailer.build(to=account.email, subject=email.subject, text=email.text, html=email.html)
    runtime.mailer.send(message)
    EMAILS_SENT.labels(name).inc()


@job(Task.ACCOUNTS_SEND_VERIFICATION, queue="default")
def send_verification(runtime: JobContext, account_id: int) -> bool:
    with runtime.database.session_scope() as session:
        account = session.get(Account, account_id)
        if account is None or account.email_verified_at is not None:
            return False  # erased meanwhile, or a duplicate delivery after verification
        language = _language(session, account)
        token = tokens.issue(session, "verify_email", ttl=VERIFY_TTL, account_id=account.id)
        link = f"{runtime.settings.base_url}/verify/{token}"
    _send(runtime, account, "verification", language, link=link)
    return True


@job(Task.ACCOUNTS_SEND_SIGNUP_EXISTING, queue="default")
def send_signup_existing(runtime: JobContext, account_id: int) -> bool:
    """Someone signed up with an email that already has an account. The sign-up page said
    "check your email" either way; the owner learns here what happened. An owner who never
    confirmed their address gets a fresh confirmation link instead, which is what they need."""
    with runtime.database.session_scope() as session:
        account = session.get(Account, account_id)
        if account is None:
            return False
        unverified = account.email_verified_at is None
        language = _language(session, account)
    if unverified:
        return send_verification(runtime, account_id)
    base = runtime.settings.base_url
    _send(
        runtime, account, "signup_existing", language, login=f"{base}/login", reset=f"{base}/password/forgot"
    )
    return True


@job(Task.ACCOUNTS_SEND_PASSWORD_RESET, queue="default")
def send_password_reset(runtime: JobContext, account_id: int) -> bool:
    with runtime.database.session_scope() as session:
        account = session.get(Account, account_id)
        if account is None or not account.is_active:
            return False
        language = _language(session, account)
        token = tokens.issue(session, "reset_password", ttl=RESET_TTL, account_id=account.id)
        link = f"{runtime.settings.base_url}/password/reset/{token}"
    _send(runtime, account, "password_reset", language, link=link)
    return True
