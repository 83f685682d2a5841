"""The question reminder email (issue 13 item 1): "answering N more questions could make you
eligible for studies", at most once every ``PANEL_QUESTION_REMINDER_DAYS`` (182) per volunteer.

Only to a volunteer with an active account and a confirmed address, consent to be contacted
active, contact not paused (a pause holds these emails too), not erased, not opted out, and with questions that matter today. The email names no
study and holds no health data: a count of questions, a link to them, and a signed one-click
opt-out link (``opt_out_token``; RFC 8058 headers too). The opt-out stops these reminders only;
invitations are governed by consent.

Beat runs ``questions.remind_due`` every hour: it picks up to ``PANEL_QUESTION_REMINDER_BATCH``
volunteers due (``queries.asking.reminder_due_ids``) and queues one ``questions.send_reminder``
each through the outbox (one per volunteer per day, by dedup key). The send job re-checks all of
it under a lock of the volunteer's reminder row, so two deliveries of the job send one email. A
volunteer with nothing to ask is marked checked and looked at again a week later. A crash after
the SMTP server took the message but before the commit may send the reminder twice; unlike an
invitation, that is harmless, so it is not tracked as ambiguous.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from config.logging import get_logger
from panel_service import emails, outbox
from panel_service.jobs import job
from panel_service.metrics import EMAILS_SENT
from panel_service.queries import asking as queries
from panel_service.services.asking import count_to_ask
from panel_service.tasks import Task
from panel_service.timeutil import as_utc, panel_today, utcnow

if TYPE_CHECKING:
    from config.settings import Settings
    from panel_service.jobs import JobContext

log = get_logger(__name__)

RECHECK = dt.timedelta(days=7)
OPT_OUT_SALT = "panel.question-reminders.opt-out"


# -- the opt-out -------------------------------------------------------------------------------


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=OPT_OUT_SALT)


def opt_out_token(settings: Settings, participant_id: int) -> str:
    """A link token that says "stop question reminders for this volunteer", signed with the
    secret key. It does nothing else, so it needs no expiry and no stored row."""
    return _serializer(settings).dumps(participant_id)


def volunteer_of_token(session: Session, settings: Settings, token: str) -> int | None:
    """The volunteer an opt-out token names, or None: a bad signature, or an erased volunteer."""
    try:
        value = _serializer(settings).loads(token)
    except BadSignature:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if queries.is_volunteer(session, value) else None


def reminders_on(session: Session, participant_id: int) -> bool:
    return not queries.opted_out(session, participant_id)


def set_reminders(session: Session, participant_id: int, wanted: bool) -> None:
    """Opt in or out (the contact page, the email's link). Opting in again does not make a
    reminder due sooner: the spacing counts from the last one sent."""
    row = queries.reminder_row(session, participant_id, lock=True)
    if wanted:
        row.opted_out_at = None
    elif row.opted_out_at is None:
        row.opted_out_at = utcnow()
    session.flush()


# -- the jobs ----------------------------------------------------------------------------------


def request_reminder(session: Session, participant_id: int, day: dt.date) -> None:
    outbox.enqueue(
        session,
        Task.QUESTIONS_SEND_REMINDER,
        {"participant_id": participant_id},
        dedup_key=f"{Task.QUESTIONS_SEND_REMINDER}:{participant_id}:{day.isoformat()}",
    )


def queue_due(session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Queue a reminder job for each volunteer due (at most the batch setting); returns how many."""
    now = now or utcnow()
    ids = queries.reminder_due_ids(
        session,
        now,
        panel_today(settings, now),
        every=dt.timedelta(days=settings.question_reminder_days),
        recheck=RECHECK,
        limit=settings.question_reminder_batch,
    )
    for participant_id in ids:
        request_reminder(session, participant_id, now.date())
    return len(ids)


@job(Task.QUESTIONS_REMIND_DUE, queue="default")
def remind_due(runtime: JobContext) -> int:
    with runtime.database.session_scope() as session:
        return queue_due(session, runtime.settings)


def _recent(value: dt.datetime | None, now: dt.datetime, within: dt.timedelta) -> bool:
    return value is not None and as_utc(value) > now - within


@job(Task.QUESTIONS_SEND_REMINDER, queue="default")
def send_reminder(runtime: JobContext, participant_id: int) -> bool:
    """Email one volunteer how many questions could make them eligible, if it is allowed and
    there are any; True when an email went out."""
    settings = runtime.settings
    now = utcnow()
    with runtime.database.session_scope() as session:
        row = queries.reminder_row(session, participant_id, lock=True)
        if row.opted_out_at is not None or _recent(
            row.last_sent_at, now, dt.timedelta(days=settings.question_reminder_days)
        ):
            return False
        recipient = queries.reminder_recipient(session, participant_id, panel_today(settings, now))
        if recipient is None:
            return False
        count = count_to_ask(session, settings, participant_id)
        row.last_checked_at = now
        if count == 0:
            return False
        email, name, language = recipient
        base = settings.base_url
        stop = f"{base}/reminders/stop/{opt_out_token(settings, participant_id)}"
        rendered = emails.render(
            "question_reminder",
            language,
            name=name or "",
            count=count,
            months=max(1, round(settings.question_reminder_days / 30.44)),
            questions=f"{base}/me/questions/next",
            preferences=f"{base}/me/contact",
            stop=stop,
        )
        message = runtime.mailer.build(
            to=email,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            headers={"List-Unsubscribe": f"<{stop}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )
        # Sent inside the transaction that records it: an SMTP failure rolls the record back and
        # the outbox retries the job.
        runtime.mailer.send(message)
        row.last_sent_at = now
    EMAILS_SENT.labels("question_reminder").inc()
    log.info("questions.reminder_sent", participant_id=participant_id)
    return True
