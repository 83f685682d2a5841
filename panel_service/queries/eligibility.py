"""The SQL form of the volunteer half of ``domain.eligibility`` (P1, P6), and nothing else.

Bulk matching and the feasibility count filter profiles with ``contactable_clause``; the
dispatcher's claim reads ``active_consent_exists`` beside the volunteer's row and hands the
values to the pure rule; the incremental match loads a ``VolunteerState`` with
``volunteer_state``; the bulk import's set-based SQL uses ``ACTIVE_CONSENT_SQL``. The agreement
test (``tests/integration/criteria/test_eligibility_agreement.py``) holds this module to the rule.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from typing import Any

from sqlalchemy import ColumnElement, Exists, Table, and_, bindparam, exists, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from panel_service.domain.eligibility import CONTACT_CONSENT, VolunteerState
from panel_service.models import Consent, Participant, Profile

profiles = t.cast(Table, Profile.__table__)
participants = t.cast(Table, Participant.__table__)
consents = t.cast(Table, Consent.__table__)

# For hand-written statements over a ``consents`` row aliased ``c`` (the bulk import).
ACTIVE_CONSENT_SQL = f"c.kind = '{CONTACT_CONSENT}' AND c.withdrawn_at IS NULL"


def _inline(value: object) -> BindParameter[Any]:
    """A constant written into the SQL text rather than sent as a parameter (see the claim
    query in ``queries.contact``: PostgreSQL then keeps one generic plan)."""
    return bindparam(None, value, literal_execute=True)


def active_consent_exists(participant_id: ColumnElement[Any], *, inline: bool = False) -> Exists:
    """Whether the volunteer with this id has an active consent to be contacted about studies."""
    kind: Any = _inline(CONTACT_CONSENT) if inline else CONTACT_CONSENT
    return (
        select(consents.c.id)
        .where(
            consents.c.participant_id == participant_id,
            consents.c.kind == kind,
            consents.c.withdrawn_at.is_(None),
        )
        .exists()
    )


def contactable_clause(
    dialect_name: str, today: dt.date, id_range: tuple[int, int] | None = None
) -> ColumnElement[bool]:
    """A clause over ``profiles``: the volunteer has no obstacle today (not erased, consent to
    be contacted active, contact not paused). Joined by subqueries so that a chunk's id range
    drives the plan."""
    active_consent = select(consents.c.participant_id).where(
        consents.c.kind == CONTACT_CONSENT, consents.c.withdrawn_at.is_(None)
    )
    available = select(participants.c.id).where(
        participants.c.erased_at.is_(None),
        or_(participants.c.contact_paused_until.is_(None), participants.c.contact_paused_until < today),
    )
    if id_range is not None:
        # The chunk's range, repeated inside the subqueries, lets the planner scan just that slice
        # of participants and consents instead of hashing all of them for every chunk.
        active_consent = active_consent.where(consents.c.participant_id.between(*id_range))
        available = available.where(participants.c.id.between(*id_range))
    if dialect_name == "postgresql":
        return and_(
            exists(active_consent.where(consents.c.participant_id == profiles.c.participant_id)),
            exists(available.where(participants.c.id == profiles.c.participant_id)),
        )
    # SQLite runs a correlated EXISTS row by row; IN (SELECT ...) is planned once.
    return and_(profiles.c.participant_id.in_(active_consent), profiles.c.participant_id.in_(available))


def volunteer_state(session: Session, participant_id: int) -> VolunteerState:
    """One volunteer's state for the rule, in one statement. No row reads as erased."""
    row = session.execute(
        select(
            participants.c.erased_at,
            participants.c.contact_paused_until,
            active_consent_exists(participants.c.id),
        ).where(participants.c.id == participant_id)
    ).first()
    if row is None:
        return VolunteerState(erased=True, consent_active=False, contact_paused_until=None)
    erased_at, paused_until, consented = row
    return VolunteerState(
        erased=erased_at is not None, consent_active=bool(consented), contact_paused_until=paused_until
    )
