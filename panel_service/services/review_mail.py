"""The email to a study's coordinators when the ethics review approves or rejects a version.

Enqueued in the decision's transaction (outbox), so it goes out only if the decision is kept;
one email per active coordinator of the study's organisation, in the language each chose
(``accounts.language``, else English), from ``templates/email/review_decision/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel_service import emails, outbox
from panel_service.jobs import job
from panel_service.metrics import EMAILS_SENT
from panel_service.models import Account, EthicsApproval, Study, StudyVersion
from panel_service.tasks import Task

if TYPE_CHECKING:
    from panel_service.jobs import JobContext


def request_decision(session: Session, study: Study, version: StudyVersion) -> None:
    outbox.enqueue(
        session, Task.STUDIES_SEND_REVIEW_DECISION, {"study_id": study.id, "version_id": version.id}
    )


@job(Task.STUDIES_SEND_REVIEW_DECISION, queue="default")
def send_review_decision(runtime: JobContext, study_id: int, version_id: int) -> int:
    """Returns how many coordinators were written to."""
    with runtime.database.session_scope() as session:
        study = session.get(Study, study_id)
        version = session.get(StudyVersion, version_id)
        if study is None or version is None or version.study_id != study.id:
            return 0
        if version.review_state not in ("approved", "rejected", "superseded"):
            return 0
        approval = session.scalar(select(EthicsApproval).where(EthicsApproval.study_version_id == version.id))
        if version.review_state == "superseded" and approval is None:
            return 0  # superseded by an edit before any decision: nothing to tell
        coordinators = list(
            session.scalars(
                select(Account)
                .where(
                    Account.organisation_id == study.organisation_id,
                    Account.role == "coordinator",
                    Account.is_active.is_(True),
                )
                .order_by(Account.id)
            )
        )
        expires = approval.expires_on if approval else None
        recipients = [
            (account.email, emails.language_or_default(account.language)) for account in coordinators
        ]
        context = {
            "approved": approval is not None,
            "number": version.number,
            "study_title": version.title,
            "kind": approval.kind if approval else "",
            "committee": approval.committee if approval else "",
            "reference": approval.reference if approval else "",
            "recruiting": study.status == "recruiting",
            "reason": version.rejection_reason or "",
            "link": f"{runtime.settings.base_url}/coordinators/studies/{study.id}",
        }
    for address, language in recipients:
        email = emails.render(
            "review_decision",
            language,
            **context,
            expires_on=format_date(expires, "long", locale=language) if expires else "",
        )
        runtime.mailer.send(
            runtime.mailer.build(to=address, subject=email.subject, text=email.text, html=email.html)
        )
        EMAILS_SENT.labels("review_decision").inc()
    return len(recipients)
