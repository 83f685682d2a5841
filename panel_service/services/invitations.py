"""Invitation state changes shared by the pipeline, the volunteer pages and study actions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from panel_service.domain.answers import answer_refusal
from panel_service.domain.eligibility import CONTACT_CONSENT
from panel_service.domain.redaction import redact_addresses
from panel_service.domain.vocab import (
    INVITATION_STATUSES,
    Answer,
    CancelReason,
    InvitationStatus,
)
from panel_service.models import Account, AuditEvent, Consent, Invitation, Participant, Study, StudyVersion
from panel_service.services.answer_mail import request_interest_withdrawn
from panel_service.services.audit import record, volunteer_pseudonym
from panel_service.services.errors import Conflict, NotFound, ValidationFailed
from panel_service.timeutil import utcnow

# Statuses in which an invitation has not reached the volunteer and can still be stopped.
PENDING_STATUSES: tuple[str, ...] = (InvitationStatus.QUEUED,)


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
        .values(status=InvitationStatus.CANCELLED, reason=reason, cancelled_at=utcnow())
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


class AnswerRefused(Conflict):
    """The invitation was sent but cannot be answered now; ``reason`` is one of
    ``domain.answers.REFUSAL_REASONS``. Nothing was written."""

    code = "answer_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(_REFUSAL_MESSAGES[reason], {"answer": reason})
        self.reason = reason


_REFUSAL_MESSAGES: dict[str, str] = {
    CancelReason.ERASED: "This account was erased; the invitation cannot be answered.",
    CancelReason.STUDY_CLOSED: "This study has closed and takes no more answers. Nothing was shared.",
    CancelReason.CONSENT_WITHDRAWN: (
        "You have withdrawn your consent to be contacted about studies, so nothing was shared. "
        "Give your consent again to answer this invitation."
    ),
}


def answer_refusal_now(
    session: Session, *, study_id: int, participant_id: int, lock: bool = False
) -> str | None:
    """Why an answer to this invitation may not be recorded now (``domain.answers``), or None.

    Re-checked at answer time, not only at send time: the study may have closed or the
    volunteer unsubscribed since. With ``lock``, shared row locks wait for a concurrent close
    or withdrawal to commit and then see its result, so neither slips in before the release.
    """
    study_query = select(Study.status).where(Study.id == study_id)
    erased_query = select(Participant.erased_at).where(Participant.id == participant_id)
    consent_query = select(Consent.id).where(
        Consent.participant_id == participant_id,
        Consent.kind == CONTACT_CONSENT,
        Consent.withdrawn_at.is_(None),
    )
    if lock:
        study_query = study_query.with_for_update(read=True)
        erased_query = erased_query.with_for_update(read=True)
        consent_query = consent_query.with_for_update(read=True)
    return answer_refusal(
        study_status=session.scalar(study_query),
        consent_active=session.scalar(consent_query) is not None,
        erased=session.scalar(erased_query) is not None,
    )


def record_answer(session: Session, *, study_id: int, participant_id: int, answer: str) -> Invitation:
    """Record a volunteer's answer to a sent invitation, once. "interested" releases the
    volunteer's contact details to that study (P4), which is audited. Raises ``AnswerRefused``,
    having written nothing, when the study has closed or the volunteer has withdrawn consent
    or been erased since the invitation was sent."""
    if answer not in tuple(Answer):
        raise ValueError(f"unknown answer {answer!r}")
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.study_id == study_id, Invitation.participant_id == participant_id)
        .with_for_update()
    )
    if invitation is None or invitation.status != InvitationStatus.SENT:
        raise NotFound("There is no open invitation to answer.")
    if invitation.response is not None:
        raise Conflict("You have already answered this invitation.", {"answer": invitation.response})
    refusal = answer_refusal_now(session, study_id=study_id, participant_id=participant_id, lock=True)
    if refusal is not None:
        raise AnswerRefused(refusal)
    invitation.response = answer
    invitation.responded_at = utcnow()
    if answer == Answer.INTERESTED:
        record(
            session,
            None,
            "identity.release",
            "invitation",
            f"{study_id}:{volunteer_pseudonym(session, participant_id)}",
            {"study_id": study_id},
            volunteer=participant_id,
        )
    session.flush()
    return invitation


def withdraw_interest(session: Session, *, study_id: int, participant_id: int) -> Invitation:
    """Take back an "interested" answer (issue 13 item 7): the answer becomes "not interested",
    so the volunteer leaves the study's respondents list at once; the withdrawal is audited and
    the study team is told by email after the commit. NotFound unless the answer was "interested"."""
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.study_id == study_id, Invitation.participant_id == participant_id)
        .with_for_update()
    )
    if invitation is None or invitation.response != Answer.INTERESTED:
        raise NotFound("There is no “interested” answer to take back.")
    invitation.response = Answer.NOT_INTERESTED.value
    invitation.responded_at = utcnow()
    record(
        session,
        None,
        "identity.release_withdrawn",
        "invitation",
        f"{study_id}:{volunteer_pseudonym(session, participant_id)}",
        {"study_id": study_id},
        volunteer=participant_id,
    )
    request_interest_withdrawn(session, study_id, participant_id)
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
    """When the volunteer gave or withdrew consent, paused or resumed contact (oldest first).

    The trail names volunteers by pseudonym (``services.audit``); an erased volunteer has none
    left, so their history cannot be found, by design."""
    pseudonym = session.scalar(select(Participant.audit_pseudonym).where(Participant.id == participant_id))
    if pseudonym is None:
        return []
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.subject_type == "participant",
                AuditEvent.subject_id == pseudonym,
                AuditEvent.action.in_(CONTACT_ACTIONS),
            )
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
    )


@dataclass(frozen=True)
class AnswerContext:
    study_title: str
    organisation: str
    name: str | None
    email: str | None
    phone: str | None
    already: str | None


def answer_context(session: Session, study_id: int, participant_id: int) -> AnswerContext | None:
    """What the answer page shows, or None unless the invitation was sent. Title and organisation name are those of the approved version the invitation was sent
    for (what the email said, P5), never of a version awaiting review."""
    row = session.execute(
        select(
            StudyVersion.title,
            StudyVersion.organisation_name,
            Participant.name,
            Account.email,
            Participant.phone,
            Invitation,
        )
        .select_from(Invitation)
        .join(StudyVersion, StudyVersion.id == Invitation.study_version_id)
        .join(Participant, Participant.id == Invitation.participant_id)
        .outerjoin(Account, Account.id == Participant.account_id)
        .where(Invitation.study_id == study_id, Invitation.participant_id == participant_id)
    ).first()
    if row is None or row[5].status != "sent":
        return None
    title, organisation, name, email, phone, invitation = row
    return AnswerContext(title, organisation, name, email, phone, invitation.response)
