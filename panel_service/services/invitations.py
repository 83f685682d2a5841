"""Invitation state changes shared by the pipeline, the volunteer pages and study actions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from panel_service.models import Account, Invitation
from panel_service.services.audit import record
from panel_service.services.errors import Conflict, NotFound
from panel_service.timeutil import utcnow

# Statuses in which an invitation has not reached the volunteer and can still be stopped.
PENDING_STATUSES = ("queued",)


def cancel_pending(
    session: Session, *, reason: str, participant_id: int | None = None, study_id: int | None = None
) -> int:
    """Cancel every not-yet-sent invitation of a volunteer and/or a study, at once (P6).

    A row being sent right now ('claimed') is not touched here: the dispatcher re-checks
    consent, pause and study status under the row lock before it hands the message to SMTP.
    """
    if participant_id is None and study_id is None:
        raise ValueError("cancel_pending needs a participant or a study")
    statement = (
        update(Invitation)
        .where(Invitation.status.in_(PENDING_STATUSES))
        .values(status="cancelled", reason=reason, cancelled_at=utcnow())
    )
    if participant_id is not None:
        statement = statement.where(Invitation.participant_id == participant_id)
    if study_id is not None:
        statement = statement.where(Invitation.study_id == study_id)
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def hold_pending(session: Session, *, participant_id: int, until: dt.datetime) -> int:
    """A contact pause (P6): every not-yet-sent invitation of the volunteer waits until ``until``
    (the end of the pause) instead of being cancelled. The dispatcher re-checks each one (P1) when
    it becomes due; one claimed while the pause still holds is deferred again, never sent."""
    statement = (
        update(Invitation)
        .where(Invitation.participant_id == participant_id, Invitation.status.in_(PENDING_STATUSES))
        .values(next_attempt_at=until)
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def release_held(session: Session, *, participant_id: int, held_until: dt.datetime) -> int:
    """The volunteer ended the pause early: what the pause held (due at ``held_until`` or later,
    which no SMTP retry is: those wait an hour at most) is due now."""
    statement = (
        update(Invitation)
        .where(
            Invitation.participant_id == participant_id,
            Invitation.status.in_(PENDING_STATUSES),
            Invitation.next_attempt_at >= held_until,
        )
        .values(next_attempt_at=utcnow())
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def record_answer(
    session: Session, *, study_id: int, participant_id: int, answer: str, actor: Account | None = None
) -> Invitation:
    """Record a volunteer's answer to a sent invitation, once. "interested" releases the
    volunteer's contact details to that study (P4), which is audited."""
    if answer not in ("interested", "not_interested"):
        raise ValueError(f"unknown answer {answer!r}")
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.study_id == study_id, Invitation.participant_id == participant_id)
        .with_for_update()
    )
    if invitation is None or invitation.status != "sent":
        raise NotFound("There is no open invitation to answer.")
    if invitation.response is not None:
        raise Conflict("You have already answered this invitation.", {"answer": invitation.response})
    invitation.response = answer
    invitation.responded_at = utcnow()
    if answer == "interested":
        record(
            session,
            actor,
            "identity.release",
            "invitation",
            f"{study_id}:{participant_id}",
            {"study_id": study_id, "participant_id": participant_id},
            actor_label=None if actor is not None else f"participant:{participant_id}",
        )
    session.flush()
    return invitation
