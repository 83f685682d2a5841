"""Account emails: verification, "you already have an account", password reset.

Each job takes ids only and makes its link token inside the job, in its own transaction,
so the token exists only once the email is about to go out. They run after the commit that
recorded them (outbox), in the volunteer's language.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from babel.support import NullTranslations, Translations
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.logging import get_logger
from panel_service.jobs import job
from panel_service.models import Account, Participant
from panel_service.services import tokens

if TYPE_CHECKING:
    from panel_service.runtime import Runtime

log = get_logger(__name__)

VERIFY_TTL = dt.timedelta(days=7)
RESET_TTL = dt.timedelta(hours=2)
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


@functools.cache
def _translations(language: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS_DIR), [language])


def gettext_for(language: str) -> Callable[[str], str]:
    return _translations(language if language in ("en", "da") else "en").gettext


def _language(session: Session, account: Account) -> str:
    language = session.scalar(select(Participant.language).where(Participant.account_id == account.id))
    return language or "en"


def _send(runtime: Runtime, account: Account, subject: str, body: str) -> None:
    message = runtime.mailer.build(to=account.email, subject=subject, text=body)
    runtime.mailer.send(message)


@job("accounts.send_verification", queue="default")
def send_verification(runtime: Runtime, account_id: int) -> bool:
    with runtime.database.session_scope() as session:
        account = session.get(Account, account_id)
        if account is None or account.email_verified_at is not None:
            return False  # erased meanwhile, or a duplicate delivery after verification
        _ = gettext_for(_language(session, account))
        token = tokens.issue(session, "verify_email", ttl=VERIFY_TTL, account_id=account.id)
        link = f"{runtime.settings.base_url}/verify/{token}"
        subject = _("Confirm your email address for Panel")
        body = _(
            "Welcome to Panel.\n\n"
            "Please confirm your email address by opening this link:\n\n%(link)s\n\n"
            "The link works once and for 7 days. If you did not sign up, ignore this email: "
            "nothing happens without the confirmation."
        ) % {"link": link}
    _send(runtime, account, subject, body)
    return True


@job("accounts.send_signup_existing", queue="default")
def send_signup_existing(runtime: Runtime, account_id: int) -> bool:
    """Someone signed up with an email that already has an account. The sign-up page said
    "check your email" either way; the owner learns here what happened. An owner who never
    confirmed their address gets a fresh confirmation link instead, which is what they need."""
    with runtime.database.session_scope() as session:
        account = session.get(Account, account_id)
        if account is None:
            return False
        unverified = account.email_verified_at is None
        _ = gettext_for(_language(session, account))
        subject = _("You already have a Panel account")
        body = _(
            "Someone — probably you — tried to sign up for Panel with this email address, "
            "but it already has an account.\n\n"
            "Sign in here: %(login)s\n\n"
            "Forgot your password? Choose a new one here: %(reset)s\n\n"
            "If this was not you, you can ignore this email; your account has not changed."
        ) % {
            "login": f"{runtime.settings.base_url}/login",
            "reset": f"{runtime.settings.base_url}/password/forgot",
        }
    if unverified:
        return send_verification(runtime, account_id)
    _send(runtime, account, subject, body)
    return True


@job("accounts.send_password_reset", queue="default")
def send_password_reset(runtime: Runtime, account_id: int) -> bool:
    with runtime.database.session_scope() as session:
        account = session.get(Account, account_id)
        if account is None or not account.is_active:
            return False
        _ = gettext_for(_language(session, account))
        token = tokens.issue(session, "reset_password", ttl=RESET_TTL, account_id=account.id)
        link = f"{runtime.settings.base_url}/password/reset/{token}"
        subject = _("Choose a new Panel password")
        body = _(
            "Someone asked to choose a new password for the Panel account with this email "
            "address.\n\nChoose a new password here:\n\n%(link)s\n\n"
            "The link works once and for 2 hours. If you did not ask, ignore this email: "
            "your password has not changed."
        ) % {"link": link}
    _send(runtime, account, subject, body)
    return True
