"""Withdrawing consent to be contacted (P6): one function for every way a volunteer asks.

The volunteer's page, the unsubscribe link in an email (and its one-click POST) and a bulk
import line with ``"consent": false`` all call
``withdraw_contact_consent``; each says which it was in ``via``. Consent is withdrawn and every
pending invitation cancelled in the caller's transaction, audited with one shape of detail:
``{"via": ..., "cancelled": n}``. An invitation being sent right now is stopped by the
dispatcher's re-check (``domain.eligibility``) under the volunteer's row lock.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from panel_service.domain.eligibility import CONTACT_CONSENT, Obstacle
from panel_service.models import Consent
from panel_service.services.audit import record
from panel_service.services.invitations import cancel_pending
from panel_service.timeutil import utcnow

# The ways a volunteer withdraws, as recorded in the audit detail.
VIA_VOLUNTEER_PAGE = "volunteer_page"
VIA_UNSUBSCRIBE_LINK = "unsubscribe_link"
VIA_ONE_CLICK = "one_click"
VIA_IMPORT = "import"  # a line of ``panel import`` with "consent": false


def withdraw_contact_consent(
    session: Session, participant_id: int, *, via: str, actor_label: str | None = None
) -> int:
    """Withdraw the volunteer's consent and cancel every pending invitation. Returns how many
    were cancelled. Withdrawing twice is harmless (nothing is active the second time). The
    volunteer is the actor, unless ``actor_label`` names another (an import by an operator)."""
    session.execute(
        update(Consent)
        .where(
            Consent.participant_id == participant_id,
            Consent.kind == CONTACT_CONSENT,
            Consent.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=utcnow())
    )
    cancelled = cancel_pending(
        session, participant_id=participant_id, reason=Obstacle.CONSENT_WITHDRAWN.value
    )
    record(
        session,
        None,
        "consent.withdraw",
        "participant",
        participant_id,
        {"via": via, "cancelled": cancelled},
        actor_label=actor_label,
        volunteer=None if actor_label is not None else participant_id,
    )
    session.flush()
    return cancelled
