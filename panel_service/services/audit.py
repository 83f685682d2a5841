"""The audit trail: insert-only, and pseudonymous from the start.

``audit_events`` cannot be updated or deleted (database triggers), so it must never hold
what erasure would have to remove. A volunteer — as the actor or the subject of an event —
is recorded as ``participant:<pseudonym>``: a random value kept in
``participants.audit_pseudonym``, assigned on first use. Erasure sets that column to NULL;
from then on nothing links the events to the tombstone, let alone to a person. Staff are
recorded by account id and role (``coordinator:12``), which identify a role holder, not a
volunteer.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from panel_service.models import Account, AuditEvent, Participant

PARTICIPANT_ROLE = "participant"
# Used for a volunteer already erased: no pseudonym may be created for them any more.
ERASED_LABEL = "erased"


def volunteer_pseudonym(session: Session, participant_id: int) -> str:
    """The volunteer's audit pseudonym, assigned now if they have none yet.

    The conditional UPDATE makes concurrent first uses agree: whoever loses re-reads the
    winner's value. An erased volunteer gets none (the link must stay broken)."""
    current = session.scalar(select(Participant.audit_pseudonym).where(Participant.id == participant_id))
    if current is not None:
        return current
    session.execute(
        update(Participant)
        .where(
            Participant.id == participant_id,
            Participant.audit_pseudonym.is_(None),
            Participant.erased_at.is_(None),
        )
        .values(audit_pseudonym="v-" + secrets.token_hex(10))
    )
    assigned = session.scalar(select(Participant.audit_pseudonym).where(Participant.id == participant_id))
    return assigned if assigned is not None else ERASED_LABEL


def _participant_of_account(session: Session, account_id: int) -> int | None:
    return session.scalar(select(Participant.id).where(Participant.account_id == account_id))


def record(
    session: Session,
    actor: Account | None,
    action: str,
    subject_type: str,
    subject_id: object,
    details: dict[str, Any] | None = None,
    *,
    actor_label: str | None = None,
    volunteer: int | None = None,
) -> AuditEvent:
    """Append an audit event in the caller's transaction (so it commits with the act itself).

    ``volunteer``: the participant id of the volunteer who acted (when there is no account at
    hand, e.g. a link from an email). A volunteer's account as ``actor``, a ``participant``
    subject (by participant id) and an ``account`` subject that is a volunteer's account are
    all recorded by pseudonym. ``actor_label`` names a non-account actor (``operator:cli``).
    """
    actor_id: int | None = None
    if volunteer is not None:
        actor_label = f"{PARTICIPANT_ROLE}:{volunteer_pseudonym(session, volunteer)}"
    elif actor is not None and actor.role == PARTICIPANT_ROLE:
        participant_id = _participant_of_account(session, actor.id)
        pseudonym = (
            volunteer_pseudonym(session, participant_id) if participant_id is not None else ERASED_LABEL
        )
        actor_label = f"{PARTICIPANT_ROLE}:{pseudonym}"
    elif actor is not None:
        actor_id = actor.id
        actor_label = actor_label or f"{actor.role}:{actor.id}"
    if subject_type == "account" and isinstance(subject_id, int):
        participant_id = _participant_of_account(session, subject_id)
        if participant_id is not None:
            subject_type, subject_id = PARTICIPANT_ROLE, participant_id
    if subject_type == PARTICIPANT_ROLE:
        subject_id = volunteer_pseudonym(session, int(str(subject_id)))
    event = AuditEvent(
        actor_id=actor_id,
        actor_label=actor_label or "system",
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        details=details or {},
    )
    session.add(event)
    return event
