"""Work other code asks of the contact pipeline, recorded in the caller's transaction (outbox)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from panel_service import outbox
from panel_service.tasks import Task


def request_dispatch(session: Session, *, dedup_key: str | None = None) -> None:
    """Send whatever invitations are due (a batch loop that queues its own follow-up)."""
    outbox.enqueue(session, Task.CONTACT_DISPATCH_DUE, {}, dedup_key=dedup_key)


def _send_key(study_id: int, participant_id: int) -> str:
    return f"{Task.CONTACT_SEND_INVITATION}:{study_id}:{participant_id}"


def request_send(session: Session, study_id: int, participant_id: int) -> None:
    """Send this one invitation (after an incremental match)."""
    outbox.enqueue(
        session,
        Task.CONTACT_SEND_INVITATION,
        {"study_id": study_id, "participant_id": participant_id},
        dedup_key=_send_key(study_id, participant_id),
    )


def request_sends(session: Session, participant_id: int, study_ids: list[int]) -> None:
    """Send these invitations of one volunteer (after an incremental match): one outbox row each,
    deduplicated per invitation like ``request_send``, written in one statement."""
    outbox.enqueue_many(
        session,
        Task.CONTACT_SEND_INVITATION,
        [
            ({"study_id": study_id, "participant_id": participant_id}, _send_key(study_id, participant_id))
            for study_id in study_ids
        ],
    )
