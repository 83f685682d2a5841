"""The life of a study (ARCHITECTURE §5), in one place.

``draft → in_review → approved → recruiting ⇄ paused → closed``, with
``in_review → rejected → draft``. A study that already has an approved (active) version
keeps its status while a newer version goes through review on its own track
(``VERSION_TRANSITIONS``): the approved version keeps recruiting until the new one is approved.
"""

from __future__ import annotations

import datetime as dt

STUDY_TRANSITIONS: dict[str, dict[str, str]] = {
    "submit": {"draft": "in_review"},
    "edit": {
        "draft": "draft",
        "in_review": "draft",  # an edit takes it out of the reviewer's queue
        "rejected": "draft",
        "approved": "approved",
        "recruiting": "recruiting",
        "paused": "paused",
    },
    "approve": {"in_review": "approved"},
    "reject": {"in_review": "rejected"},
    "recruit": {"approved": "recruiting", "paused": "recruiting"},
    "pause": {"recruiting": "paused"},
    "expire": {"recruiting": "paused", "approved": "approved", "paused": "paused"},
    "close": {
        "draft": "closed",
        "in_review": "closed",
        "rejected": "closed",
        "approved": "closed",
        "recruiting": "closed",
        "paused": "closed",
    },
}

VERSION_TRANSITIONS: dict[str, dict[str, str]] = {
    "submit": {"draft": "in_review"},
    "edit": {"draft": "superseded", "in_review": "superseded", "rejected": "superseded"},
    "approve": {"in_review": "approved"},
    "reject": {"in_review": "rejected"},
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

STATUS_WORDS = {
    "draft": "a draft",
    "in_review": "in review",
    "approved": "approved",
    "recruiting": "recruiting",
    "paused": "paused",
    "closed": "closed",
    "rejected": "rejected",
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


def next_status(status: str, action: str) -> str:
    try:
        return STUDY_TRANSITIONS[action][status]
    except KeyError:
        raise IllegalTransition(status, action) from None


def next_version_state(state: str, action: str) -> str:
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
    study_may = status in STUDY_TRANSITIONS["submit"] if not has_active else status != "closed"
    if pending_state in VERSION_TRANSITIONS["submit"] and study_may:
        offered.add("submit")
    return frozenset(offered)
