"""What an operator does about invitations whose send is in doubt (``panel invitations``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel_service.models import Invitation
from panel_service.services.audit import record, volunteer_pseudonym
from panel_service.services.contact.requests import request_dispatch
from panel_service.services.errors import Conflict, NotFound
from panel_service.timeutil import utcnow


def ambiguous(session: Session) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.status == "ambiguous")
            .order_by(Invitation.claimed_at, Invitation.study_id, Invitation.participant_id)
        )
    )


def resolve_ambiguous(session: Session, study_id: int, participant_id: int, outcome: str) -> Invitation:
    """An operator checked the mail logs: ``sent`` records it as sent; ``resend`` queues it again."""
    if outcome not in ("sent", "resend"):
        raise ValueError(f"unknown outcome {outcome!r}")
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.study_id == study_id, Invitation.participant_id == participant_id)
        .with_for_update()
    )
    if invitation is None:
        raise NotFound(f"No invitation for study {study_id} and participant {participant_id}.")
    if invitation.status != "ambiguous":
        raise Conflict(f"The invitation is {invitation.status}, not ambiguous.")
    if outcome == "sent":
        invitation.status = "sent"
        invitation.sent_at = invitation.claimed_at or utcnow()
    else:
        invitation.status = "queued"
        invitation.claimed_at = None
        invitation.next_attempt_at = None
        request_dispatch(session)
    record(
        session,
        None,
        "invitation.resolve",
        "invitation",
        f"{study_id}:{volunteer_pseudonym(session, participant_id)}",
        {"as": outcome},
        actor_label="operator:cli",
    )
    session.flush()
    return invitation
