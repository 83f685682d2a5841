"""Emails about a volunteer's answer: the study team is told when a volunteer takes back an
"interested" answer (issue 13 item 7), so that they stop contacting them and delete any copy.

The job runs after the commit that recorded the change (outbox), takes ids only, and writes to
every active coordinator of the study's organisation, in English (staff accounts have no
language). It names the volunteer only to a team that already had their details.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel_service import emails, outbox
from panel_service.jobs import job
from panel_service.metrics import EMAILS_SENT
from panel_service.models import Account, Invitation, Participant, Study, StudyVersion
from panel_service.tasks import Task

if TYPE_CHECKING:
    from panel_service.jobs import JobContext


def request_interest_withdrawn(session: Session, study_id: int, participant_id: int) -> None:
    """Tell the study's team, after the caller's transaction commits, that the volunteer took
    back their "interested" answer."""
    outbox.enqueue(
        session,
        Task.ANSWERS_SEND_INTEREST_WITHDRAWN,
        {"study_id": study_id, "participant_id": participant_id},
    )


@job(Task.ANSWERS_SEND_INTEREST_WITHDRAWN, queue="default")
def send_interest_withdrawn(runtime: JobContext, study_id: int, participant_id: int) -> int:
    """Returns how many team members were written to (0 when the study or team is gone, or the
    volunteer said yes again meanwhile)."""
    with runtime.database.session_scope() as session:
        found = session.execute(
            select(Study.organisation_id, StudyVersion.title, Invitation.response, Participant.name)
            .join(StudyVersion, StudyVersion.id == Study.active_version_id, isouter=True)
            .join(
                Invitation, (Invitation.study_id == Study.id) & (Invitation.participant_id == participant_id)
            )
            .join(Participant, Participant.id == participant_id)
            .where(Study.id == study_id)
        ).first()
        if found is None or found.response == "interested":
            return 0
        email = session.scalar(
            select(Account.email)
            .join(Participant, Participant.account_id == Account.id)
            .where(Participant.id == participant_id)
        )
        recipients = list(
            session.scalars(
                select(Account.email).where(
                    Account.organisation_id == found.organisation_id,
                    Account.role == "coordinator",
                    Account.is_active.is_(True),
                )
            )
        )
        title = found.title or f"#{study_id}"
        name = found.name or ""
    rendered = emails.render(
        "interest_withdrawn",
        "en",
        title=title,
        name=name,
        email=email or "",
        respondents=f"{runtime.settings.base_url}/studies/{study_id}/respondents",
    )
    for recipient in recipients:
        message = runtime.mailer.build(
            to=recipient, subject=rendered.subject, text=rendered.text, html=rendered.html
        )
        runtime.mailer.send(message)
        EMAILS_SENT.labels("interest_withdrawn").inc()
    return len(recipients)
