"""Accounts, passwords, API tokens and server-side web sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, selectinload

from config.settings import Settings
from panel_service.domain.vocab import ROLES, STAFF_ROLES, Role
from panel_service.models import Account, ActionToken, ApiToken, Organisation, Participant, WebSession
from panel_service.services.audit import record
from panel_service.services.errors import Conflict, ValidationFailed
from panel_service.timeutil import as_utc, utcnow

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
WEB_SESSION_IDLE = dt.timedelta(hours=12)
# How stale ``api_tokens.last_used_at`` and ``web_sessions.last_seen_at`` may get: a read
# request writes at most one touch per token (or session) per interval, not one per request.
TOUCH_INTERVAL = dt.timedelta(minutes=5)
# Set in ``session.info`` when a sign-in check wrote (a touch, a revocation): the web layer
# commits those at once, and otherwise leaves the read transaction open for the request.
SIGN_IN_WRITES = "panel.sign_in_writes"


def sign_in_check_wrote(session: Session) -> bool:
    """Whether the sign-in checks of this session wrote since the last call (and forget it)."""
    return bool(session.info.pop(SIGN_IN_WRITES, False))


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def password_hasher(settings: Settings) -> PasswordHasher:
    # OWASP's argon2id minimum (19 MiB, t=2, p=1): still memory-hard, and about ten times
    # cheaper than argon2-cffi's defaults (t=3, 64 MiB, p=4: about 107 ms a hash on two cores,
    # nine sign-ins a second for the whole machine).
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


def hash_password(settings: Settings, password: str) -> str:
    return password_hasher(settings).hash(password)


# A fixed hash to verify against when the email is unknown, so that the answer takes as long
# as for a known email (membership of a health panel is itself sensitive).
_DUMMY_PASSWORD = secrets.token_urlsafe(16)


def verify_password(settings: Settings, password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches. Without a hash (unknown email, staff who never set one)
    the same password is verified against a dummy hash of the same parameters: one argon2
    verification either way, so the time taken says nothing about who is registered."""
    hasher = password_hasher(settings)
    try:
        matched = hasher.verify(password_hash or _dummy_hash(settings), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and bool(password_hash)


def prepare_password_checks(settings: Settings) -> None:
    """Make the dummy hash at start, so the first unknown email does not pay for it."""
    _dummy_hash(settings)


@lru_cache(maxsize=4)
def _dummy_hash_for(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash(_DUMMY_PASSWORD)


def _dummy_hash(settings: Settings) -> str:
    return _dummy_hash_for(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


# Plain ASCII addresses of the usual shape need no full RFC parse; anything else goes to
# email_validator. The bulk import checks a million addresses, where this is 30x faster.
_PLAIN_EMAIL = re.compile(
    r"^[a-z0-9._%+-]{1,64}@(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)


def normalise_email(raw: str) -> str:
    """Lower-cased, syntax-checked (no DNS look-up). Raises ValidationFailed naming ``email``."""
    lowered = raw.strip().lower()
    if _PLAIN_EMAIL.match(lowered) and ".." not in lowered and not lowered.startswith("."):
        return lowered
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed("Enter a valid email address.", {"email": str(exc)}) from None
    return checked.normalized.lower()


def find_account(session: Session, email: str) -> Account | None:
    return session.scalar(select(Account).where(Account.email == email.strip().lower()))


def get_or_create_organisation(session: Session, name: str) -> Organisation:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationFailed("An organisation needs a name.", {"organisation": "must not be empty"})
    organisation = session.scalar(select(Organisation).where(Organisation.name == cleaned))
    if organisation is None:
        organisation = Organisation(name=cleaned)
        session.add(organisation)
        session.flush()
    return organisation


def create_staff_account(
    session: Session, *, email: str, role: str, organisation: str | None = None, actor: Account | None = None
) -> Account:
    """Create a coordinator, reviewer or admin. No password: staff set theirs via a reset link."""
    if role not in ROLES or role == Role.PARTICIPANT:
        raise ValidationFailed(
            f"Unknown staff role {role!r}.", {"role": "must be one of coordinator, reviewer, admin"}
        )
    normalised = normalise_email(email)
    if find_account(session, normalised) is not None:
        raise Conflict(f"An account with email {normalised} already exists.", {"email": "already registered"})
    organisation_id = None
    if role == Role.COORDINATOR:
        if not organisation:
            raise ValidationFailed(
                "A coordinator belongs to an organisation.", {"organisation": "required for a coordinator"}
            )
        organisation_id = get_or_create_organisation(session, organisation).id
    account = Account(
        email=normalised,
        role=role,
        organisation_id=organisation_id,
        email_verified_at=utcnow(),
        is_active=True,
    )
    session.add(account)
    session.flush()
    record(session, actor, "account.create", "account", account.id, {"role": role})
    return account


def create_api_token(session: Session, account: Account, label: str = "") -> str:
    """Return a new bearer token; only its hash is stored, so it is shown this once."""
    token = "pnl_" + secrets.token_urlsafe(32)
    session.add(ApiToken(account_id=account.id, token_hash=sha256(token), label=label[:200]))
    session.flush()
    # A volunteer's free-text label stays out of the insert-only audit trail: it could name them.
    details = {} if account.role == Role.PARTICIPANT else {"label": label}
    record(session, account, "token.create", "account", account.id, details)
    return token


def account_for_token(session: Session, token: str) -> Account | None:
    row = session.execute(
        select(ApiToken, Account)
        .join(Account, Account.id == ApiToken.account_id)
        .where(*usable_token_clauses(sha256(token)))
    ).first()
    if row is None:
        return None
    api_token, account = row
    touch_api_token(session, api_token.id, api_token.last_used_at)
    return account


def usable_token_clauses(token_hash: Any) -> tuple[Any, ...]:
    """What a token must be to be used: its hash (``sha256`` of the token, or a bound parameter
    of a statement built once) known, not revoked, its account active. ``account_for_token`` and
    the study list's one statement (``services.studies.token_study_page``) both ask this."""
    return (ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None), Account.is_active.is_(True))


def touch_api_token(session: Session, token_id: int, last_used: dt.datetime | None) -> None:
    """Record that a token was used, at most once per ``TOUCH_INTERVAL`` (the web layer commits
    it at once: ``web.transaction.commit_authentication``)."""
    now = utcnow()
    if last_used is None or now - as_utc(last_used) > TOUCH_INTERVAL:
        session.info[SIGN_IN_WRITES] = True
        # Guarded, so that of concurrent requests with one token only the first writes.
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token_id,
                (ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at < now - TOUCH_INTERVAL),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )


def revoke_api_token(session: Session, account: Account, token: str) -> bool:
    """Revoke ``account``'s token (the API's ``DELETE /tokens/current``), audited. False when it
    was already revoked or is not the account's."""
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.token_hash == sha256(token),
            ApiToken.account_id == account.id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    record(session, account, "token.revoke", "account", account.id, {})
    return bool(result.rowcount)  # type: ignore[attr-defined]


def open_web_session(session: Session, account: Account, user_agent: str = "") -> str:
    """A fresh random session id at every login (rotation); the cookie carries it, we keep its hash."""
    session_id = secrets.token_urlsafe(32)
    session.add(
        WebSession(account_id=account.id, session_hash=sha256(session_id), user_agent=user_agent[:300])
    )
    session.flush()
    return session_id


def account_for_web_session(settings: Settings, session: Session, session_id: str) -> Account | None:
    """The account of a live session, or None. A session ends after WEB_SESSION_IDLE without
    use and, however busy, once it is older than the role's absolute lifetime (a stolen
    cookie stops working; a forgotten shared computer does not stay signed in for ever)."""
    found = web_session_account(settings, session, session_id)
    return None if found is None else found[0]


# A page's extra reading done by the sign-in check's own statement: ``widen(statement, dialect)``
# adds columns (correlated to the participant) to it, ``params`` their parameters.
Widen = Callable[[Any, str], Any]
_SIGN_IN: dict[tuple[str, Widen | None], Any] = {}


def _sign_in_statement(dialect: str, widen: Widen | None) -> Any:
    """The sign-in check's statement, built once per dialect and widening (building it cost
    about what running it does)."""
    key = (dialect, widen)
    if key not in _SIGN_IN:
        statement = (
            select(WebSession, Account, Participant)
            .join(Account, Account.id == WebSession.account_id)
            .outerjoin(Participant, Participant.account_id == Account.id)
            .where(
                WebSession.session_hash == bindparam("session_hash"),
                WebSession.revoked_at.is_(None),
                Account.is_active.is_(True),
            )
        )
        _SIGN_IN[key] = statement if widen is None else widen(statement, dialect)
    return _SIGN_IN[key]


def web_session_account(
    settings: Settings,
    session: Session,
    session_id: str,
    widen: Widen | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[Account, Participant | None, Any] | None:
    """``account_for_web_session``, the account's participant row (None for staff) and the row
    the statement read, all from one statement: a volunteer's page needs the participant, and
    a second round trip for it was a sixth of ``/me``'s statements. The participant is as
    current as the session check itself (same statement, same snapshot); whether it is erased
    is for the caller (``participants.usable_participant``). ``widen`` and ``params``: more
    columns a page reads in the same statement (``_sign_in_statement``), in the returned row.
    Whatever a widening adds, the session, its account and their checks are the same."""
    statement = _sign_in_statement(session.get_bind().dialect.name, widen)
    row = session.execute(statement, {**(params or {}), "session_hash": sha256(session_id)}).first()
    if row is None:
        return None
    web_session, account, participant = row[0], row[1], row[2]
    now = utcnow()
    last_seen = as_utc(web_session.last_seen_at)
    too_old = now - as_utc(web_session.created_at) > settings.session_max_age(account.role)
    if too_old or now - last_seen > WEB_SESSION_IDLE:
        session.info[SIGN_IN_WRITES] = True
        web_session.revoked_at = now
        return None
    if now - last_seen > TOUCH_INTERVAL:
        session.info[SIGN_IN_WRITES] = True
        session.execute(
            update(WebSession)
            .where(WebSession.id == web_session.id, WebSession.last_seen_at < now - TOUCH_INTERVAL)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    return account, participant, row


def close_web_session(session: Session, session_id: str) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.session_hash == sha256(session_id), WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def close_all_web_sessions(session: Session, account_id: int) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.account_id == account_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def get_account(session: Session, account_id: int | None) -> Account | None:
    return session.get(Account, account_id) if account_id is not None else None


def staff_accounts(session: Session) -> list[Account]:
    """Coordinators, reviewers and admins with their organisations, by role then email."""
    return list(
        session.scalars(
            select(Account)
            .options(selectinload(Account.organisation))
            .where(Account.role.in_(STAFF_ROLES))
            .order_by(Account.role, Account.email)
        )
    )


def reset_password(session: Session, settings: Settings, link: ActionToken, password: str) -> Account | None:
    """Set the password of the account a consumed reset link was for, ending every session it
    has, wherever opened; the link proves the address too. None if the account is gone."""
    account = get_account(session, link.account_id)
    if account is None:
        return None
    account.password_hash = hash_password(settings, password)
    if account.email_verified_at is None:
        account.email_verified_at = link.created_at
    close_all_web_sessions(session, account.id)
    record(session, account, "account.password_reset", "account", account.id)
    return account


def remember_language(session: Session, account_id: int, language: str) -> None:
    """A volunteer's chosen language, kept on the participant row so that emails follow it."""
    participant = session.scalar(select(Participant).where(Participant.account_id == account_id))
    if participant is not None:
        participant.language = language


def remember_staff_language(session: Session, account_id: int, language: str) -> None:
    """A staff member's chosen language, kept on the account so that their emails follow it."""
    account = session.get(Account, account_id)
    if account is not None:
        account.language = language
