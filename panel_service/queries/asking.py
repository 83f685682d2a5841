"""The SQL of "ask only what matters" (``domain.asking``, ``services.asking``): a volunteer's
skips, the studies that already invited them, and who is due a question reminder email."""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import ColumnElement, Table, delete, func, or_, select
from sqlalchemy.orm import Session

from panel_service.models import Account, Invitation, Participant, QuestionReminder, QuestionSkip
from panel_service.queries.eligibility import active_consent_exists

participants = t.cast(Table, Participant.__table__)
accounts = t.cast(Table, Account.__table__)
reminders = t.cast(Table, QuestionReminder.__table__)
skips = t.cast(Table, QuestionSkip.__table__)


def skips_of(session: Session, participant_id: int) -> dict[str, tuple[dt.date, str]]:
    """Ask key → (day skipped, reason)."""
    rows = session.execute(
        select(skips.c.ask_key, skips.c.skipped_on, skips.c.reason).where(
            skips.c.participant_id == participant_id
        )
    )
    return {key: (day, reason) for key, day, reason in rows}


def record_skip(session: Session, participant_id: int, ask_key: str, reason: str, today: dt.date) -> None:
    """One skip per ask key: a second skip replaces the first (delete, then insert, on both engines)."""
    session.execute(
        delete(QuestionSkip).where(
            QuestionSkip.participant_id == participant_id, QuestionSkip.ask_key == ask_key
        )
    )
    session.add(QuestionSkip(participant_id=participant_id, ask_key=ask_key, reason=reason, skipped_on=today))
    session.flush()


def forget_skips(session: Session, participant_id: int, ask_keys: list[str]) -> None:
    """An answered question is not "skipped" any more."""
    if ask_keys:
        session.execute(
            delete(QuestionSkip).where(
                QuestionSkip.participant_id == participant_id, QuestionSkip.ask_key.in_(ask_keys)
            )
        )


def invited_study_ids(session: Session, participant_id: int) -> set[int]:
    """Studies that already have an invitation for the volunteer, in any state: an answer can no
    longer bring another (P2), so their questions do not count."""
    return set(
        session.scalars(select(Invitation.study_id).where(Invitation.participant_id == participant_id))
    )


def reminder_row(session: Session, participant_id: int, *, lock: bool = False) -> QuestionReminder:
    """The volunteer's reminder row, created (unsent, opted in) when missing."""
    query = select(QuestionReminder).where(QuestionReminder.participant_id == participant_id)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        row = QuestionReminder(participant_id=participant_id)
        session.add(row)
        session.flush()
    return row


def is_volunteer(session: Session, participant_id: int) -> bool:
    """A participant row that is not an erased tombstone."""
    return (
        session.scalar(
            select(participants.c.id).where(
                participants.c.id == participant_id, participants.c.erased_at.is_(None)
            )
        )
        is not None
    )


def opted_out(session: Session, participant_id: int) -> bool:
    """Read only (no row is made): whether the volunteer turned question reminders off."""
    return (
        session.scalar(
            select(reminders.c.opted_out_at).where(
                reminders.c.participant_id == participant_id, reminders.c.opted_out_at.is_not(None)
            )
        )
        is not None
    )


def _may_be_emailed(today: dt.date) -> list[ColumnElement[bool]]:
    """Not erased, an active account with a confirmed address, consent to be contacted active,
    contact not paused today (a pause holds these emails too), not opted out of reminders."""
    return [
        participants.c.erased_at.is_(None),
        accounts.c.is_active.is_(True),
        accounts.c.email_verified_at.is_not(None),
        active_consent_exists(participants.c.id),
        or_(participants.c.contact_paused_until.is_(None), participants.c.contact_paused_until < today),
        reminders.c.opted_out_at.is_(None),
    ]


def reminder_due_ids(
    session: Session,
    now: dt.datetime,
    today: dt.date,
    *,
    every: dt.timedelta,
    recheck: dt.timedelta,
    limit: int,
) -> list[int]:
    """Volunteers who may get a question reminder now (``_may_be_emailed``), with no reminder
    (and no sign-up) within ``every``, and not found with nothing to ask within ``recheck``.
    Oldest first."""
    since = now - every
    baseline = func.coalesce(reminders.c.last_sent_at, participants.c.created_at)
    query = (
        select(participants.c.id)
        .select_from(
            participants.join(accounts, accounts.c.id == participants.c.account_id).outerjoin(
                reminders, reminders.c.participant_id == participants.c.id
            )
        )
        .where(
            *_may_be_emailed(today),
            baseline < since,
            or_(reminders.c.last_checked_at.is_(None), reminders.c.last_checked_at < now - recheck),
            or_(reminders.c.last_sent_at.is_(None), reminders.c.last_sent_at < since),
        )
        .order_by(baseline.asc(), participants.c.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def reminder_recipient(
    session: Session, participant_id: int, today: dt.date
) -> tuple[str, str | None, str] | None:
    """(email, name, language) of a volunteer who may get a reminder now, or None: erased,
    inactive, unconfirmed, consent withdrawn, paused or opted out meanwhile."""
    row = session.execute(
        select(accounts.c.email, participants.c.name, participants.c.language)
        .select_from(
            participants.join(accounts, accounts.c.id == participants.c.account_id).outerjoin(
                reminders, reminders.c.participant_id == participants.c.id
            )
        )
        .where(participants.c.id == participant_id, *_may_be_emailed(today))
    ).first()
    return None if row is None else (row[0], row[1], row[2])
