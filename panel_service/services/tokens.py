"""Single-use, expiring link tokens (email verification, password reset, invitation answers,
unsubscribe). The link carries a random token; only its SHA-256 is stored, with its purpose
and subject. ``peek`` checks without using (for a GET that only shows a confirmation page);
``consume`` checks and marks used in the caller's transaction (for the POST)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, or_, update
from sqlalchemy.orm import Session

from panel_service.domain.vocab import TOKEN_PURPOSES
from panel_service.models import ActionToken
from panel_service.services.accounts import sha256
from panel_service.timeutil import as_utc, utcnow


class TokenInvalid(Exception):
    """Unknown, expired, already used, or for another purpose. One message for all: a link
    must not tell an attacker which of these it was."""


def issue(
    session: Session,
    purpose: str,
    *,
    ttl: dt.timedelta,
    account_id: int | None = None,
    participant_id: int | None = None,
    study_id: int | None = None,
    email: str | None = None,
) -> str:
    [token] = issue_many(
        session,
        [
            TokenRequest(
                purpose, account_id=account_id, participant_id=participant_id, study_id=study_id, email=email
            )
        ],
        ttl=ttl,
    )
    return token


@dataclass(frozen=True)
class TokenRequest:
    purpose: str
    account_id: int | None = None
    participant_id: int | None = None
    study_id: int | None = None
    email: str | None = None  # the address a change_email link confirms


def issue_many(session: Session, requests: Sequence[TokenRequest], *, ttl: dt.timedelta) -> list[str]:
    """Several tokens in one multi-row INSERT, one round trip (the dispatcher issues two per email)."""
    tokens: list[str] = []
    rows: list[dict[str, object]] = []
    expires_at = utcnow() + ttl
    for request in requests:
        if request.purpose not in TOKEN_PURPOSES:
            raise ValueError(f"unknown token purpose {request.purpose!r}")
        token = secrets.token_urlsafe(32)
        tokens.append(token)
        rows.append(
            {
                "token_hash": sha256(token),
                "purpose": request.purpose,
                "account_id": request.account_id,
                "participant_id": request.participant_id,
                "study_id": request.study_id,
                "email": request.email,
                "expires_at": expires_at,
            }
        )
    session.execute(insert(ActionToken).values(rows))
    return tokens


def peek(session: Session, token: str, purpose: str) -> ActionToken:
    row = session.get(ActionToken, sha256(token))
    if row is None or row.purpose != purpose or row.used_at is not None or _expired(row):
        raise TokenInvalid("This link is not valid any more.")
    return row


def consume(session: Session, token: str, purpose: str) -> ActionToken:
    """Mark used with a conditional update, so two concurrent POSTs cannot both succeed."""
    row = peek(session, token, purpose)
    result = session.execute(
        update(ActionToken)
        .where(ActionToken.token_hash == row.token_hash, ActionToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise TokenInvalid("This link is not valid any more.")
    return row


def purge_expired(session: Session, now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    result = session.execute(
        delete(ActionToken).where(
            or_(ActionToken.expires_at < now, ActionToken.used_at < now - dt.timedelta(days=7))
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _expired(row: ActionToken) -> bool:
    return as_utc(row.expires_at) <= utcnow()
