"""The pure eligibility rule (domain.eligibility): which obstacle wins, and what holds rather
than cancels an invitation."""

from __future__ import annotations

import datetime as dt

import pytest

from panel_service.domain.eligibility import (
    Obstacle,
    StudyState,
    VolunteerState,
    invitation_obstacle,
    study_obstacle,
    volunteer_obstacle,
)

TODAY = dt.date(2026, 3, 15)
FREE = VolunteerState(erased=False, consent_active=True, contact_paused_until=None)
PAUSED = VolunteerState(erased=False, consent_active=True, contact_paused_until=TODAY)
RECRUITING = StudyState("recruiting", 7, True, dt.date(2026, 1, 1), dt.date(2027, 1, 1))


@pytest.mark.parametrize(
    ("volunteer", "expected"),
    [
        (FREE, None),
        (VolunteerState(erased=True, consent_active=False, contact_paused_until=TODAY), Obstacle.ERASED),
        (
            VolunteerState(erased=False, consent_active=False, contact_paused_until=TODAY),
            Obstacle.CONSENT_WITHDRAWN,
        ),
        (PAUSED, Obstacle.CONTACT_PAUSED),
        (
            VolunteerState(erased=False, consent_active=True, contact_paused_until=TODAY - dt.timedelta(1)),
            None,
        ),
    ],
)
def test_volunteer_obstacles_in_order(volunteer: VolunteerState, expected: Obstacle | None) -> None:
    assert volunteer_obstacle(volunteer, TODAY) == expected


@pytest.mark.parametrize(
    ("study", "expected"),
    [
        (RECRUITING, None),
        (StudyState("paused", 7, True, None, None), Obstacle.STUDY_PAUSED),
        (StudyState("closed", 7, True, None, None), Obstacle.STUDY_CLOSED),
        (StudyState(None, None, False, None, None), Obstacle.STUDY_CLOSED),
        (StudyState("approved", 7, True, None, None), Obstacle.STUDY_NOT_RECRUITING),
        (
            StudyState("recruiting", 8, True, dt.date(2026, 1, 1), dt.date(2027, 1, 1)),
            Obstacle.VERSION_CHANGED,
        ),
        (
            StudyState("recruiting", 7, False, dt.date(2026, 1, 1), dt.date(2027, 1, 1)),
            Obstacle.VERSION_CHANGED,
        ),
        (StudyState("recruiting", 7, True, dt.date(2026, 1, 1), TODAY), Obstacle.APPROVAL_EXPIRED),
        (StudyState("recruiting", 7, True, None, None), Obstacle.APPROVAL_EXPIRED),
    ],
)
def test_study_obstacles(study: StudyState, expected: Obstacle | None) -> None:
    assert study_obstacle(study, 7, TODAY) == expected


def test_a_pause_yields_to_an_obstacle_that_cancels() -> None:
    """A paused volunteer's invitation to a closed study is cancelled, not held for the pause."""
    closed = StudyState("closed", 7, True, None, None)
    assert invitation_obstacle(PAUSED, closed, 7, TODAY) is Obstacle.STUDY_CLOSED
    assert invitation_obstacle(PAUSED, RECRUITING, 7, TODAY) is Obstacle.CONTACT_PAUSED
    erased = VolunteerState(erased=True, consent_active=True, contact_paused_until=None)
    assert invitation_obstacle(erased, closed, 7, TODAY) is Obstacle.ERASED
