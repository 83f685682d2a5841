"""The life of a study (product contract §5), in one place.

``draft → in_review → approved → recruiting ⇄ paused → closed``, with
``in_review → rejected → draft``. A study that already has an approved (active) version
keeps its status while a newer version goes through review on its own track
(``VERSION_TRANSITIONS``): the approved version keeps recruiting until the new one is approved.
"""

from __future__ import annotations

import datetime as dt

from panel_service.domain.vocab import ReviewState, StudyStatus

S = StudyStatus
V = ReviewState

STUDY_TRANSITIONS: dict[str, dict[str, StudyStatus]] = {
    "submit": {S.DRAFT: S.IN_REVIEW},
    "edit": {
        S.DRAFT: S.DRAFT,
        S.IN_REVIEW: S.DRAFT,  # an edit takes it out of the reviewer's queue
        S.REJECTED: S.DRAFT,
        S.APPROVED: S.APPROVED,
        S.RECRUITING: S.RECRUITING,
        S.PAUSED: S.PAUSED,
    },
    "approve": {S.IN_REVIEW: S.APPROVED},
    "reject": {S.IN_REVIEW: S.REJECTED},
    "recruit": {S.APPROVED: S.RECRUITING, S.PAUSED: S.RECRUITING},
    "pause": {S.RECRUITING: S.PAUSED},
    "expire": {S.RECRUITING: S.PAUSED, S.APPROVED: S.APPROVED, S.PAUSED: S.PAUSED},
    "close": {
        S.DRAFT: S.CLOSED,
        S.IN_REVIEW: S.CLOSED,
        S.REJECTED: S.CLOSED,
        S.APPROVED: S.CLOSED,
        S.RECRUITING: S.CLOSED,
        S.PAUSED: S.CLOSED,
    },
}

VERSION_TRANSITIONS: dict[str, dict[str, ReviewState]] = {
    "submit": {V.DRAFT: V.IN_REVIEW},
    "edit": {V.DRAFT: V.SUPERSEDED, V.IN_REVIEW: V.SUPERSEDED, V.REJECTED: V.SUPERSEDED},
    "approve": {V.IN_REVIEW: V.APPROVED},
    "reject": {V.IN_REVIEW: V.REJECTED},
}

ACTION_WORDS = {
    "submit": "submit for review",
    "edit": "edit",
    "approve": "approve",
    "reject": "reject",
    "recruit": "start recruiting",
    "pause": "pause",
    "expire": "expire",
    "close": "close",
}

STATUS_WORDS: dict[str, str] = {
    S.DRAFT: "a draft",
    S.IN_REVIEW: "in review",
    S.APPROVED: "approved",
    S.RECRUITING: "recruiting",
    S.PAUSED: "paused",
    S.CLOSED: "closed",
    S.REJECTED: "rejected",
}


class IllegalTransition(Exception):
    """Refused with 409 and this message."""

    def __init__(self, status: str, action: str, hint: str = "") -> None:
        self.status = status
        self.action = action
        allowed = ", ".join(sorted(STUDY_TRANSITIONS.get(action, {}))) or "no status"
        message = (
            f"Cannot {ACTION_WORDS.get(action, action)} a study that is {STATUS_WORDS.get(status, status)}"
            f" (allowed from: {allowed})."
        )
        super().__init__(message + (f" {hint}" if hint else ""))
        self.message = str(self)


def next_status(status: str, action: str) -> StudyStatus:
    try:
        return STUDY_TRANSITIONS[action][status]
    except KeyError:
        raise IllegalTransition(status, action) from None


def next_version_state(state: str, action: str) -> ReviewState:
    try:
        return VERSION_TRANSITIONS[action][state]
    except KeyError:
        raise IllegalTransition(state, action, "That version is not open for this step.") from None


def approval_covers(approved_on: dt.date, expires_on: dt.date, today: dt.date) -> bool:
    """An approval covers recruiting from its decision date up to the day before ``expires_on``
    (P5). The studies service, matching and dispatch all ask this one function."""
    return approved_on <= today < expires_on


def offered_actions(status: str, *, pending_state: str | None, has_active: bool) -> frozenset[str]:
    """The coordinator actions that are legal for a study now, so that a page offers those and no
    other (a closed study offers nothing). ``pending_state`` is the review state of the newest
    version when it is not the active one; ``has_active`` whether an approved version exists."""
    offered = {
        action for action in ("edit", "recruit", "pause", "close") if status in STUDY_TRANSITIONS[action]
    }
    # Without an approved version the study itself goes to review; with one, a newer version
    # goes on its own track, unless the study is closed.
    study_may = status in STUDY_TRANSITIONS["submit"] if not has_active else status != S.CLOSED
    if pending_state in VERSION_TRANSITIONS["submit"] and study_may:
        offered.add("submit")
    return frozenset(offered)
