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

from sqlalchemy import (
    ColumnElement,
    Exists,
    Select,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from panel_service.domain.eligibility import CONTACT_CONSENT, TRAVEL_LIMIT_KEY, VolunteerState
from panel_service.domain.geo import EARTH_RADIUS_KM, MAX_DISTANCE_KM, Sites
from panel_service.models import Consent, Participant, Profile
from panel_service.models.questions import ProfileAnswer
from panel_service.queries.criteria_sql import _haversine_a

profiles = t.cast(Table, Profile.__table__)
participants = t.cast(Table, Participant.__table__)
consents = t.cast(Table, Consent.__table__)
answers = t.cast(Table, ProfileAnswer.__table__)

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


def _too_far(sites: Sites, id_range: tuple[int, int] | None) -> ColumnElement[bool]:
    """``domain.eligibility.too_far`` over ``profiles``: a travel limit is answered, a home is
    known and every site's haversine term exceeds the limit's (``geo.a_threshold`` term by term)."""
    km = answers.c.value_num
    capped = case((km > MAX_DISTANCE_KM, MAX_DISTANCE_KM), else_=km)
    threshold = func.power(func.sin(capped / (2 * EARTH_RADIUS_KM)), 2)
    limited = select(answers.c.participant_id).where(
        answers.c.participant_id == profiles.c.participant_id,
        answers.c.key == TRAVEL_LIMIT_KEY,
        km.is_not(None),
    )
    if id_range is not None:
        limited = limited.where(answers.c.participant_id.between(*id_range))
    return and_(
        profiles.c.home_lat.is_not(None),
        exists(limited.where(and_(*(_haversine_a(site) > threshold for site in sites)))),
    )


def contactable_clause(
    dialect_name: str, today: dt.date, id_range: tuple[int, int] | None = None, sites: Sites = ()
) -> ColumnElement[bool]:
    """A clause over ``profiles``: the volunteer has no obstacle today for a study with these
    ``sites`` (not erased, consent to be contacted active, not too far, contact not paused).
    Joined by subqueries so that a chunk's id range drives the plan."""
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
    near = [not_(_too_far(sites, id_range))] if sites else []
    if dialect_name == "postgresql":
        return and_(
            exists(active_consent.where(consents.c.participant_id == profiles.c.participant_id)),
            exists(available.where(participants.c.id == profiles.c.participant_id)),
            *near,
        )
    # SQLite runs a correlated EXISTS row by row; IN (SELECT ...) is planned once.
    return and_(
        profiles.c.participant_id.in_(active_consent), profiles.c.participant_id.in_(available), *near
    )


def _volunteer_state_query() -> Select[Any]:
    limit = (
        select(answers.c.value_num)
        .where(answers.c.participant_id == participants.c.id, answers.c.key == TRAVEL_LIMIT_KEY)
        .scalar_subquery()
    )
    return (
        select(
            participants.c.erased_at,
            participants.c.contact_paused_until,
            active_consent_exists(participants.c.id),
            profiles.c.home_lat,
            profiles.c.home_lon,
            limit,
        )
        .select_from(participants.outerjoin(profiles, profiles.c.participant_id == participants.c.id))
        .where(participants.c.id == bindparam("participant_id"))
    )


# One volunteer's state (parameter ``participant_id``), built once: the dispatcher reads it on
# every claim of a study with sites.
VOLUNTEER_STATE = _volunteer_state_query()


def volunteer_state(session: Session, participant_id: int) -> VolunteerState:
    """One volunteer's state for the rule, in one statement. No row reads as erased."""
    return volunteer_state_of(session.execute(VOLUNTEER_STATE, {"participant_id": participant_id}).first())


def volunteer_state_of(row: t.Sequence[Any] | None) -> VolunteerState:
    """The state from a row of ``VOLUNTEER_STATE`` (None: no such volunteer, read as erased)."""
    if row is None:
        return VolunteerState(erased=True, consent_active=False, contact_paused_until=None)
    erased_at, paused_until, consented, lat, lon, max_km = row
    return VolunteerState(
        erased=erased_at is not None,
        consent_active=bool(consented),
        contact_paused_until=paused_until,
        home=None if lat is None or lon is None else (float(lat), float(lon)),
        max_travel_km=None if max_km is None else float(max_km),
    )


def travel_facts(session: Session, participant_id: int) -> tuple[tuple[float, float] | None, float | None]:
    """A volunteer's home and travel limit (``VolunteerState.home``, ``.max_travel_km``), for the
    dispatcher's claim, which reads the rest of the state beside the invitation."""
    state = volunteer_state(session, participant_id)
    return state.home, state.max_travel_km
