"""Work other code asks of the contact pipeline, recorded in the caller's transaction (outbox)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from panel_service import outbox
from panel_service.tasks import Task


def request_dispatch(session: Session, *, dedup_key: str | None = None) -> None:
    """Send whatever invitations are due (a batch loop that queues its own follow-up)."""
    outbox.enqueue(session, Task.CONTACT_DISPATCH_DUE, {}, dedup_key=dedup_key)


def request_send(session: Session, study_id: int, participant_id: int) -> None:
    """Send this one invitation (after an incremental match)."""
    outbox.enqueue(
        session,
        Task.CONTACT_SEND_INVITATION,
        {"study_id": study_id, "participant_id": participant_id},
        dedup_key=f"{Task.CONTACT_SEND_INVITATION}:{study_id}:{participant_id}",
    )
