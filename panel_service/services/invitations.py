"""Invitation state changes shared by the pipeline, the volunteer pages and study actions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from panel_service.domain.redaction import redact_addresses
from panel_service.domain.vocab import INVITATION_STATUSES
from panel_service.models import Account, AuditEvent, Invitation, Study
from panel_service.services.audit import record
from panel_service.services.errors import Conflict, NotFound, ValidationFailed
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


# -- the operator's view of one study's invitations ---------------------------------------------


@dataclass(frozen=True)
class InvitationLine:
    """One invitation as an operator sees it: the participant by id only (never a name or an
    address), and the last error with every address removed."""

    participant_id: int
    status: str
    reason: str | None
    attempts: int
    last_error: str
    created_at: dt.datetime | None
    claimed_at: dt.datetime | None
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    cancelled_at: dt.datetime | None


def check_status(status: str | None) -> str | None:
    """None (every status) or a known status; anything else is refused, naming the known ones."""
    if status is None or status == "" or status in INVITATION_STATUSES:
        return status or None
    known = ", ".join(INVITATION_STATUSES)
    raise ValidationFailed(
        f"Unknown status {status!r}: choose one of {known}.", {"status": f"one of {known}"}
    )


def _of_study(study_id: int, status: str | None) -> list[Any]:
    conditions: list[Any] = [Invitation.study_id == study_id]
    if status is not None:
        conditions.append(Invitation.status == status)
    return conditions


def study_invitations(
    session: Session,
    study_id: int,
    *,
    status: str | None = None,
    participant_id: int | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[InvitationLine]:
    """A study's invitations (of one status, or one participant), by participant id."""
    status = check_status(status)
    if session.get(Study, study_id) is None:
        raise NotFound(f"No study {study_id}.")
    conditions = _of_study(study_id, status)
    if participant_id is not None:
        conditions.append(Invitation.participant_id == participant_id)
    query = select(Invitation).where(*conditions).order_by(Invitation.participant_id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [
        InvitationLine(
            participant_id=row.participant_id,
            status=row.status,
            reason=row.reason,
            attempts=row.attempts,
            last_error=redact_addresses(row.last_error),
            created_at=row.created_at,
            claimed_at=row.claimed_at,
            sent_at=row.sent_at,
            next_attempt_at=row.next_attempt_at,
            cancelled_at=row.cancelled_at,
        )
        for row in session.scalars(query)
    ]


def count_study_invitations(session: Session, study_id: int, *, status: str | None = None) -> int:
    status = check_status(status)
    return int(
        session.scalar(select(func.count()).select_from(Invitation).where(*_of_study(study_id, status))) or 0
    )


# The audit actions that change whether a volunteer may be contacted.
CONTACT_ACTIONS = ("consent.withdraw", "contact.pause", "contact.resume", "consent.give")


def contact_history(session: Session, participant_id: int) -> list[AuditEvent]:
    """When the volunteer gave or withdrew consent, paused or resumed contact (oldest first)."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.subject_type == "participant",
                AuditEvent.subject_id == str(participant_id),
                AuditEvent.action.in_(CONTACT_ACTIONS),
            )
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
    )
