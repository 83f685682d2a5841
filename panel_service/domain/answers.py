"""When a volunteer's answer to an invitation may be recorded (ARCHITECTURE §6 step 5, P4, P6).

An invitation email can be opened days after it was sent. By then the study may have closed,
or the volunteer may have unsubscribed or erased their account; an answer — above all
"interested", which releases the volunteer's contact details to the study — must not be
recorded then. A *paused* study may still receive answers: the contact already happened, and
pausing stops new invitations, not the conversation about the ones that went out. The
volunteer's own "pause contact until" is not a reason either: answering is their own act.
"""

from __future__ import annotations

# Statuses in which a study still takes answers to the invitations it sent.
ANSWERABLE_STUDY_STATUSES = ("recruiting", "paused")

# Reasons an answer is refused, in the order they are checked.
REFUSAL_REASONS = ("erased", "study_closed", "consent_withdrawn")


def answer_refusal(*, study_status: str | None, consent_active: bool, erased: bool) -> str | None:
    """Why an answer may not be recorded now (one of ``REFUSAL_REASONS``), or None when it may."""
    if erased:
        return "erased"
    if study_status not in ANSWERABLE_STUDY_STATUSES:
        return "study_closed"
    if not consent_active:
        return "consent_withdrawn"
    return None
