"""A volunteer's account: sign-up, email verification, name and phone.

Every function takes the caller's session and flushes but never commits. Emails are never
sent from here: a job is recorded in the outbox (ids only) and goes out after the commit
(``services.account_mail``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.passwords import password_problem
from panel_service.models import Account, Participant
from panel_service.services import account_mail, accounts
from panel_service.services.audit import record
from panel_service.services.errors import Forbidden, ValidationFailed
from panel_service.services.volunteers import give_consent
from panel_service.timeutil import utcnow


@dataclass(frozen=True)
class SignUpResult:
    account_id: int
    created: bool  # False: the email was already registered (and its owner is emailed instead)


def sign_up(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    name: str,
    consent: bool,
    language: str = "en",
) -> SignUpResult:
    """Create an unverified volunteer, or — for an email already registered — only email the
    owner. The caller shows the same "check your email" page either way (membership of a
    health panel is itself sensitive)."""
    normalised = accounts.normalise_email(email)
    problem = password_problem(password, email=normalised)
    if problem:
        raise ValidationFailed("The password is not accepted.", {"password": problem})
    cleaned_name = " ".join(name.split())
    if not cleaned_name:
        raise ValidationFailed("Enter your name.", {"name": "required"})
    # Hash before looking the email up, so both paths cost the same time.
    password_hash = accounts.hash_password(settings, password)
    existing = accounts.find_account(session, normalised)
    if existing is not None:
        account_mail.request_signup_existing(session, existing.id)
        return SignUpResult(existing.id, created=False)
    account = Account(email=normalised, password_hash=password_hash, role="participant", is_active=True)
    session.add(account)
    session.flush()
    participant = Participant(account_id=account.id, name=cleaned_name, language=language)
    session.add(participant)
    session.flush()
    if consent:
        give_consent(session, participant)
    record(session, account, "account.signup", "participant", participant.id, {"consent": consent})
    account_mail.request_verification(session, account.id)
    return SignUpResult(account.id, created=True)


def participant_for(session: Session, account_id: int) -> Participant:
    return usable_participant(session.scalar(select(Participant).where(Participant.account_id == account_id)))


def usable_participant(participant: Participant | None) -> Participant:
    """The account's participant row as read (``participant_for``, or with the web session by
    ``accounts.web_session_account``), refused when there is none or it was erased."""
    if participant is None or participant.erased_at is not None:
        raise Forbidden("This account has no volunteer profile.")
    return participant


def update_details(session: Session, participant: Participant, *, name: str, phone: str | None) -> None:
    """Name and phone: what a study team receives when the volunteer answers "interested"."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationFailed("Enter your name.", {"name": "required"})
    participant.name = cleaned[:200]
    participant.phone = " ".join((phone or "").split())[:40] or None
    session.flush()


def mark_verified(session: Session, account: Account) -> None:
    if account.email_verified_at is None:
        account.email_verified_at = utcnow()
        record(session, account, "account.verify_email", "account", account.id)
