"""A volunteer's say over contact: consent to be contacted about studies, and pauses. A pause
holds pending invitations in the same transaction (P6); withdrawal is ``services.consent``.

Every function takes the caller's session and flushes but never commits. The rest of what a
volunteer does lives beside this: ``participants`` (sign-up, verification, details),
``profiles`` (the health profile), ``dashboard`` (invitations and open questions) and
``personal_data`` (export and erasure).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain import eligibility
from panel_service.models import Consent, Participant
from panel_service.services import invitations
from panel_service.services.audit import record
from panel_service.services.contact.requests import request_dispatch
from panel_service.services.errors import ValidationFailed
from panel_service.services.matching import request_profile_match
from panel_service.timeutil import panel_today, pause_ends_at, utcnow

# The version of the consent text shown at sign-up and on the contact page. Change it whenever
# the wording changes, so that every recorded consent says which words were agreed to.
CONSENT_TEXT_VERSION = "2026-12"
CONSENT_KIND = eligibility.CONTACT_CONSENT
# The longest pause a volunteer can choose at once; longer means "withdraw consent".
MAX_PAUSE = dt.timedelta(days=2 * 366)


def active_consent(session: Session, participant_id: int) -> Consent | None:
    return session.scalar(
        select(Consent).where(
            Consent.participant_id == participant_id,
            Consent.kind == CONSENT_KIND,
            Consent.withdrawn_at.is_(None),
        )
    )


def give_consent(session: Session, participant: Participant) -> Consent:
    current = active_consent(session, participant.id)
    if current is not None:
        return current
    consent = Consent(
        participant_id=participant.id, kind=CONSENT_KIND, text_version=CONSENT_TEXT_VERSION, given_at=utcnow()
    )
    session.add(consent)
    session.flush()
    record(
        session,
        None,
        "consent.give",
        "participant",
        participant.id,
        {"text_version": CONSENT_TEXT_VERSION},
        volunteer=participant.id,
    )
    request_profile_match(session, participant.id)
    return consent


def pause_contact(session: Session, settings: Settings, participant: Participant, until: dt.date) -> int:
    """Pause contact through ``until`` (P6): pending invitations are held, not cancelled; they go
    out after the pause if they still match then (re-checked as in P1). Returns how many are held."""
    today = panel_today(settings)
    if until <= today:
        raise ValidationFailed("Choose a date after today.", {"until": "not_future"})
    if until > today + MAX_PAUSE:
        raise ValidationFailed("Choose a date within two years.", {"until": "too_far"})
    participant.contact_paused_until = until
    held = invitations.hold_pending(
        session, participant_id=participant.id, until=pause_ends_at(settings, until)
    )
    record(
        session,
        None,
        "contact.pause",
        "participant",
        participant.id,
        {"until": until.isoformat(), "held": held},
        volunteer=participant.id,
    )
    session.flush()
    return held


def resume_contact(session: Session, settings: Settings, participant: Participant) -> None:
    """End a pause early: what it held is due now (and re-checked at send), and the volunteer is
    matched again against every recruiting study (matching skips paused volunteers)."""
    until = participant.contact_paused_until
    participant.contact_paused_until = None
    if until is not None:
        released = invitations.release_held(
            session, participant_id=participant.id, held_until=pause_ends_at(settings, until)
        )
        if released:
            request_dispatch(session)
    request_profile_match(session, participant.id)
    record(
        session,
        None,
        "contact.resume",
        "participant",
        participant.id,
        {"paused_until": until.isoformat() if until is not None else None},
        volunteer=participant.id,
    )
    session.flush()


def is_paused(settings: Settings, participant: Participant) -> bool:
    return eligibility.contact_paused(participant.contact_paused_until, panel_today(settings))
