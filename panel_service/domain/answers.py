"""When a volunteer's answer to an invitation may be recorded (product contract §6 step 5, P4, P6).

An invitation email can be opened days after it was sent. By then the study may have closed,
or the volunteer may have unsubscribed or erased their account; an answer — above all
"interested", which releases the volunteer's contact details to the study — must not be
recorded then. A *paused* study may still receive answers: the contact already happened, and
pausing stops new invitations, not the conversation about the ones that went out. The
volunteer's own "pause contact until" is not a reason either: answering is their own act.
"""

from __future__ import annotations

from panel_service.domain.vocab import CancelReason, StudyStatus

# Statuses in which a study still takes answers to the invitations it sent.
ANSWERABLE_STUDY_STATUSES: tuple[str, ...] = (StudyStatus.RECRUITING, StudyStatus.PAUSED)

# Reasons an answer is refused, in the order they are checked.
REFUSAL_REASONS: tuple[str, ...] = (
    CancelReason.ERASED,
    CancelReason.STUDY_CLOSED,
    CancelReason.CONSENT_WITHDRAWN,
)


def answer_refusal(*, study_status: str | None, consent_active: bool, erased: bool) -> CancelReason | None:
    """Why an answer may not be recorded now (one of ``REFUSAL_REASONS``), or None when it may."""
    if erased:
        return CancelReason.ERASED
    if study_status not in ANSWERABLE_STUDY_STATUSES:
        return CancelReason.STUDY_CLOSED
    if not consent_active:
        return CancelReason.CONSENT_WITHDRAWN
    return None
