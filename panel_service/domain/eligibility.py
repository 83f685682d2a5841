"""Who may be contacted about which study today (ARCHITECTURE P1, P5, P6): the one rule.

Two halves, each a pure function of plain values:

* the *volunteer*: not erased, consent to be contacted active, contact not paused today
  (pausing "until DATE" keeps contact paused through that day);
* the volunteer's own *travel limit* against the study's sites (§4a): a volunteer who answered
  ``max_travel_km`` and gave a home is never invited to a study whose nearest site is farther
  (without a home, a limit or sites the limit cannot apply);
* the *invitation's study*: recruiting, the invitation's version is still the active one,
  and that version's own approval is in force today.

Matching creates invitations only for volunteers with no obstacle; the dispatcher re-checks
both halves when it claims an invitation (a pause then holds the invitation until the pause
ends; every other obstacle cancels it with the obstacle as the reason). The one SQL form of
the volunteer half is ``queries.eligibility``; ``tests/integration/criteria/
test_eligibility_agreement.py`` holds the two to each other on both engines.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from panel_service.domain.geo import Sites, a_threshold, nearest_a
from panel_service.domain.lifecycle import approval_covers

# The question whose answer is the volunteer's travel limit in kilometres (§4a).
TRAVEL_LIMIT_KEY = "max_travel_km"

# The kind of consent that allows contact about studies (the only kind there is).
CONTACT_CONSENT = "contact_about_studies"


class Obstacle(StrEnum):
    """Why an invitation may not go out today. The values are the cancel reasons stored on
    ``invitations.reason`` (``contact_paused`` holds the invitation instead)."""

    ERASED = "erased"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONTACT_PAUSED = "contact_paused"
    TOO_FAR = "too_far"
    STUDY_PAUSED = "study_paused"
    STUDY_CLOSED = "study_closed"
    STUDY_NOT_RECRUITING = "study_not_recruiting"
    VERSION_CHANGED = "version_changed"
    APPROVAL_EXPIRED = "approval_expired"


@dataclass(frozen=True)
class VolunteerState:
    """What the rule needs to know about a volunteer. A volunteer with no row is ``erased``."""

    erased: bool
    consent_active: bool
    contact_paused_until: dt.date | None
    home: tuple[float, float] | None = None  # (lat, lon)
    max_travel_km: float | None = None  # the answer to ``max_travel_km``


@dataclass(frozen=True)
class StudyState:
    """What the rule needs to know about the study an invitation is for."""

    status: str | None
    active_version_id: int | None
    has_criteria: bool
    approved_on: dt.date | None
    expires_on: dt.date | None


def contact_paused(paused_until: dt.date | None, today: dt.date) -> bool:
    """A pause "until DATE" holds contact through that day."""
    return paused_until is not None and paused_until >= today


def too_far(home: tuple[float, float] | None, max_travel_km: float | None, sites: Sites) -> bool:
    """Every site of the study is farther than the volunteer would travel. Compared on the
    haversine term exactly as ``distance_to_site_km`` is (``domain.geo``), so memory and SQL agree;
    False without a home, without a limit or without sites."""
    if max_travel_km is None:
        return False
    nearest = nearest_a(home, sites)
    return nearest is not None and nearest > a_threshold(max_travel_km)


def volunteer_obstacle(volunteer: VolunteerState, today: dt.date, sites: Sites = ()) -> Obstacle | None:
    """None when the volunteer may be contacted today about a study with these ``sites``, else
    the first obstacle."""
    if volunteer.erased:
        return Obstacle.ERASED
    if not volunteer.consent_active:
        return Obstacle.CONSENT_WITHDRAWN
    if too_far(volunteer.home, volunteer.max_travel_km, sites):
        return Obstacle.TOO_FAR
    if contact_paused(volunteer.contact_paused_until, today):
        return Obstacle.CONTACT_PAUSED
    return None


def study_obstacle(study: StudyState, invitation_version_id: int, today: dt.date) -> Obstacle | None:
    """None when the study may contact anyone about this version today, else why not."""
    if study.status != "recruiting":
        if study.status == "paused":
            return Obstacle.STUDY_PAUSED
        if study.status in ("closed", None):  # no study row: as if closed
            return Obstacle.STUDY_CLOSED
        return Obstacle.STUDY_NOT_RECRUITING
    if study.active_version_id != invitation_version_id or not study.has_criteria:
        return Obstacle.VERSION_CHANGED
    if (
        study.approved_on is None
        or study.expires_on is None
        or not approval_covers(study.approved_on, study.expires_on, today)
    ):
        return Obstacle.APPROVAL_EXPIRED
    return None


def invitation_obstacle(
    volunteer: VolunteerState,
    study: StudyState,
    invitation_version_id: int,
    today: dt.date,
    sites: Sites = (),
) -> Obstacle | None:
    """Both halves for one invitation (``sites`` are the invitation's version's). A pause comes
    last: an invitation that may never go out is cancelled rather than held until the pause ends."""
    found = volunteer_obstacle(volunteer, today, sites)
    if found is not None and found is not Obstacle.CONTACT_PAUSED:
        return found
    return study_obstacle(study, invitation_version_id, today) or found
