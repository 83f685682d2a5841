"""A volunteer changes their email address (issue 13 item 7), verified again.

1. ``request_change`` (the signed-in volunteer, with their password): the new address is kept
   as ``accounts.pending_email`` and a link is mailed to it; the account keeps its old address,
   and signs in with it, until the link is used. Earlier links for the account stop working.
   An address that already belongs to another account is answered exactly as any other (the
   page must not tell who is registered): no link, and that account's owner is told instead,
   as when someone signs up with an address that has an account.
2. ``confirm_change`` (the link's POST): the address confirmed is the one the link was mailed
   to (``action_tokens.email``), and only while it is still the one asked for. The account takes
   it, verified; the old address is told, without the new one in full.

Every step is audited without any address (the audit trail cannot be erased). Jobs take ids
only; the addresses they need are on the account row, so an outbox row never holds one.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service import emails, outbox
from panel_service.jobs import job
from panel_service.metrics import EMAILS_SENT
from panel_service.models import Account, ActionToken, Participant
from panel_service.services import accounts, tokens
from panel_service.services.audit import record
from panel_service.services.errors import ValidationFailed
from panel_service.tasks import Task
from panel_service.timeutil import utcnow

if TYPE_CHECKING:
    from panel_service.jobs import JobContext

CHANGE_TTL = dt.timedelta(hours=24)
PURPOSE = "change_email"


class AddressTaken(Exception):
    """The address was taken by another account between the request and the confirmation."""


def masked(email: str) -> str:
    """An address with its name hidden: ``jens.hansen@example.dk`` → ``j•••@example.dk``."""
    name, _at, domain = email.partition("@")
    return f"{name[:1]}•••@{domain}"


def request_change(
    session: Session, settings: Settings, account: Account, new_email: str, password: str
) -> str:
    """Ask to change ``account``'s address to ``new_email``; returns the normalised address.

    Raises ``ValidationFailed`` naming ``password`` (not the account's), ``email`` (not an
    address: ``invalid``; the account's own: ``same``). Both are checked before either is told."""
    problems: dict[str, str] = {}
    try:
        address = accounts.normalise_email(new_email)
    except ValidationFailed:
        address = ""
        problems["email"] = "invalid"
    if address and address == account.email:
        problems["email"] = "same"
    if not accounts.verify_password(settings, account.password_hash, password):
        problems["password"] = "wrong"  # noqa: S105 - a problem code, not a password
    if problems:
        raise ValidationFailed("The email address was not changed.", problems)
    # A newer request replaces an older one: its links stop working now.
    session.execute(
        update(ActionToken)
        .where(
            ActionToken.account_id == account.id,
            ActionToken.purpose == PURPOSE,
            ActionToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    owner = accounts.find_account(session, address)
    if owner is not None:
        account.pending_email = None
        outbox.enqueue(session, Task.ACCOUNTS_SEND_EMAIL_TAKEN, {"account_id": owner.id})
    else:
        account.pending_email = address
        outbox.enqueue(session, Task.ACCOUNTS_SEND_EMAIL_CHANGE, {"account_id": account.id})
    record(
        session,
        account,
        "account.email_change_requested",
        "account",
        account.id,
        {"in_use": owner is not None},
    )
    session.flush()
    return address


def confirm_change(session: Session, token: str) -> Account:
    """Use a change link: the account takes the address the link was mailed to. Raises
    ``tokens.TokenInvalid`` for a link that is unknown, used, expired or replaced by a newer
    request, and ``AddressTaken`` when another account has the address by now."""
    row = tokens.consume(session, token, PURPOSE)
    account = session.get(Account, row.account_id) if row.account_id is not None else None
    if account is None or row.email is None or account.pending_email != row.email:
        raise tokens.TokenInvalid("This link is not valid any more.")
    if accounts.find_account(session, row.email) is not None:
        raise AddressTaken(row.email)
    account.previous_email = account.email
    account.email = row.email
    account.pending_email = None
    account.email_verified_at = utcnow()
    record(session, account, "account.email_changed", "account", account.id)
    outbox.enqueue(session, Task.ACCOUNTS_SEND_EMAIL_CHANGED, {"account_id": account.id})
    session.flush()
    return account


def peek(session: Session, token: str) -> str:
    """The address a change link would confirm (for the page that asks to confirm it)."""
    row = tokens.peek(session, token, PURPOSE)
    account = session.get(Account, row.account_id) if row.account_id is not None else None
    if account is None or row.email is None or account.pending_email != row.email:
        raise tokens.TokenInvalid("This link is not valid any more.")
    return row.email


# --- the emails ----------------------------------------------------------------------------


def _language(session: Session, account: Account) -> str:
    language = session.scalar(select(Participant.language).where(Participant.account_id == account.id))
    return emails.language_or_default(language or account.language)


def _send(runtime: JobContext, to: str, name: str, language: str, **context: Any) -> None:
    email = emails.render(name, language, **context)
    message = runtime.mailer.build(to=to, subject=email.subject, text=email.text, html=email.html)
    runtime.mailer.send(message)
    EMAILS_SENT.labels(name).inc()


@job(Task.ACCOUNTS_SEND_EMAIL_CHANGE, queue="default")
def send_email_change(runtime: JobContext, account_id: int) -> bool:
    """The link that confirms the new address, mailed to the new address."""
    with runtime.database.session_scope() as session:
        account = session.get(Account, account_id)
        if account is None or account.pending_email is None:
            return False  # erased, confirmed or replaced meanwhile
        address = account.pending_email
        language = _language(session, account)
        token = tokens.issue(session, PURPOSE, ttl=CHANGE_TTL, account_id=account.id, email=address)
        link = f"{runtime.settings.base_url}/me/email/confirm/{token}"
    _send(runtime, address, "email_change", language, link=link)
    return True


@job(Task.ACCOUNTS_SEND_EMAIL_CHANGED, queue="default")
def send_email_changed(runtime: JobContext, account_id: int) -> bool:
    """The old address is told that the account has a new one (shown masked); then it is
    forgotten."""
    with runtime.database.session_scope() as session:
        account = session.get(Account, account_id)
        if account is None or account.previous_email is None:
            return False
        previous, current = account.previous_email, account.email
        language = _language(session, account)
    base = runtime.settings.base_url
    _send(
        runtime,
        previous,
        "email_changed",
        language,
        new_address=masked(current),
        contact=f"{base}/contact",
    )
    with runtime.database.session_scope() as session:
        session.execute(
            update(Account)
            .where(Account.id == account_id, Account.previous_email == previous)
            .values(previous_email=None)
        )
    return True


@job(Task.ACCOUNTS_SEND_EMAIL_TAKEN, queue="default")
def send_email_taken(runtime: JobContext, account_id: int) -> bool:
    """Someone asked to move another account to this address, which has an account already:
    its owner is told (the page said "check your email" either way)."""
    with runtime.database.session_scope() as session:
        account = session.get(Account, account_id)
        if account is None:
            return False
        address = account.email
        language = _language(session, account)
    base = runtime.settings.base_url
    _send(runtime, address, "email_taken", language, login=f"{base}/login", reset=f"{base}/password/forgot")
    return True
