"""The question reminder email over a real SMTP server: only to volunteers who may get it and have
questions that matter, at most once per PANEL_QUESTION_REMINDER_DAYS, in their language, with
no study and no answer in it, and an opt-out that is honoured (the email's signed one-click
link and the contact page)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import OutboxMessage, Participant, QuestionReminder
from panel_service.runtime import Runtime
from panel_service.services import consent, question_reminders
from panel_service.tasks import Task
from panel_service.timeutil import utcnow
from tests.factories import Volunteer, make_recruiting_study, make_volunteer
from tests.support.services import SmtpRecorder, email_parts
from tests.support.volunteers import make_volunteer as make_account_volunteer
from tests.support.volunteers import post_form, sign_in

TODAY = dt.date.today()


def long_standing(db: Session, language: str = "en", days: int = 200) -> Volunteer:
    """A volunteer who signed up ``days`` ago, consenting, with a verified address."""
    made = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40), language=language)
    db.execute(
        update(Participant)
        .where(Participant.id == made.participant_id)
        .values(created_at=utcnow() - dt.timedelta(days=days))
    )
    db.flush()
    return made


def queued_for(db: Session) -> list[int]:
    return [
        int(message.payload["participant_id"])
        for message in db.scalars(
            select(OutboxMessage).where(OutboxMessage.task_name == str(Task.QUESTIONS_SEND_REMINDER))
        )
    ]


def reminder(db: Session, participant_id: int) -> QuestionReminder:
    db.expire_all()
    row = db.get(QuestionReminder, participant_id)
    assert row is not None
    return row


def test_a_reminder_in_danish_names_no_study_and_comes_again_only_after_six_months(
    db: Session, runtime: Runtime, smtp: SmtpRecorder, settings: Settings
) -> None:
    make_recruiting_study(db, "answer willing_mri = true and answer lives_alone = false", title="Secret scan")
    vera = long_standing(db, "da")
    newcomer = long_standing(db, days=20)  # signed up less than six months ago: not yet
    assert question_reminders.queue_due(db, settings) == 1
    assert queued_for(db) == [vera.participant_id]
    assert question_reminders.send_reminder(runtime, participant_id=vera.participant_id)
    [message] = smtp.wait_for(1, timeout=10)
    assert message["To"].endswith(f"<{vera.email}>") or vera.email in message["To"]
    assert message["Subject"] == "Et par spørgsmål kan matche dig med flere forsøg"
    parts = email_parts(message)
    assert "Hvis du svarer på 2 spørgsmål mere, kan du blive egnet" in parts.text
    assert "højst én gang hver 6. måned" in parts.text
    for secret in ("Secret", "scan", "MR", "alene", "willing", "lives_alone"):
        assert secret not in parts.text and secret not in parts.html and secret not in message["Subject"]
    assert "http://127.0.0.1:5000/me/questions/next" in parts.text_links
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/reminders/stop/" in message["List-Unsubscribe"]
    # Twice in a row (a duplicate delivery, the next hour's beat): nothing more.
    assert not question_reminders.send_reminder(runtime, participant_id=vera.participant_id)
    assert question_reminders.queue_due(db, settings) == 0
    assert len(smtp.messages) == 1
    # Six months (182 days) later, again.
    db.execute(
        update(QuestionReminder)
        .where(QuestionReminder.participant_id == vera.participant_id)
        .values(last_sent_at=utcnow() - dt.timedelta(days=183), last_checked_at=None)
    )
    assert question_reminders.send_reminder(runtime, participant_id=vera.participant_id)
    assert len(smtp.wait_for(2, timeout=10)) == 2
    assert newcomer.participant_id not in queued_for(db)


def test_only_volunteers_who_may_be_emailed_and_have_something_to_answer(
    db: Session, runtime: Runtime, smtp: SmtpRecorder, settings: Settings
) -> None:
    nothing_to_ask = long_standing(db)
    assert question_reminders.queue_due(db, settings) == 1
    assert not question_reminders.send_reminder(runtime, participant_id=nothing_to_ask.participant_id)
    assert reminder(db, nothing_to_ask.participant_id).last_checked_at is not None
    assert reminder(db, nothing_to_ask.participant_id).last_sent_at is None
    # Checked and found nothing: not picked again for a week, even once a study asks something.
    make_recruiting_study(db, "answer willing_mri = true")
    assert question_reminders.queue_due(db, settings) == 0
    withdrawn = long_standing(db)
    consent.withdraw_contact_consent(db, withdrawn.participant_id, via=consent.VIA_VOLUNTEER_PAGE)
    paused = long_standing(db)
    db.execute(
        update(Participant)
        .where(Participant.id == paused.participant_id)
        .values(contact_paused_until=TODAY + dt.timedelta(days=1))
    )
    erased = make_volunteer(db, birth_date=dt.date(1980, 1, 1), erased=True)
    db.execute(
        update(Participant)
        .where(Participant.id == erased.participant_id)
        .values(created_at=utcnow() - dt.timedelta(days=300))
    )
    db.flush()
    assert question_reminders.queue_due(db, settings) == 0
    for person in (withdrawn, paused, erased):
        assert not question_reminders.send_reminder(runtime, participant_id=person.participant_id)
    assert smtp.messages == []


def test_the_emails_one_click_link_and_the_contact_page_opt_out(
    db: Session, runtime: Runtime, smtp: SmtpRecorder, settings: Settings, client: FlaskClient
) -> None:
    make_recruiting_study(db, "answer willing_mri = true")
    vera = long_standing(db)
    assert question_reminders.send_reminder(runtime, participant_id=vera.participant_id)
    [message] = smtp.wait_for(1, timeout=10)
    stop = next(link for link in email_parts(message).text_links if "/reminders/stop/" in link)
    path = urlsplit(stop).path
    page = client.get(path)
    assert page.status_code == 200 and "Stop reminders about questions?" in page.get_data(as_text=True)
    assert reminder(db, vera.participant_id).opted_out_at is None  # a GET changes nothing
    assert client.get(re.sub(r"/stop/.", "/stop/x", path)).status_code == 404  # a forged token
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Reminders stopped" in done.get_data(as_text=True)
    assert reminder(db, vera.participant_id).opted_out_at is not None
    db.execute(
        update(QuestionReminder)
        .where(QuestionReminder.participant_id == vera.participant_id)
        .values(last_sent_at=utcnow() - dt.timedelta(days=400), last_checked_at=None)
    )
    assert question_reminders.queue_due(db, settings) == 0
    assert not question_reminders.send_reminder(runtime, participant_id=vera.participant_id)
    assert len(smtp.messages) == 1


def test_the_contact_page_turns_reminders_off_and_on(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _account, participant = make_account_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    page = client.get("/me/contact").get_data(as_text=True)
    assert "Reminders about questions" in page and "at most once every 6 months" in page
    off = post_form(client, "/me/contact/question-reminders", {"wanted": "0"}, token_from="/me/contact")
    assert off.status_code == 302
    assert not question_reminders.reminders_on(db, participant.id)
    assert "You have turned these reminders off." in client.get("/me/contact").get_data(as_text=True)
    on = post_form(client, "/me/contact/question-reminders", {"wanted": "1"}, token_from="/me/contact")
    assert on.status_code == 302
    assert question_reminders.reminders_on(db, participant.id)


def test_the_beat_job_queues_through_the_outbox_and_the_relay_sends(
    db: Session, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    """``questions.remind_due`` (the beat entry) → one outbox row per volunteer due → the relay
    runs ``questions.send_reminder`` → one email; a second beat the same day queues nothing."""
    make_recruiting_study(db, "answer willing_mri = true", start_matching=False)
    vera = long_standing(db)
    db.commit()
    assert question_reminders.remind_due(runtime) == 1
    runtime.relay.drain()  # type: ignore[attr-defined]
    [message] = smtp.wait_for(1, timeout=10)
    assert vera.email in message["To"]
    assert "Answering 1 more question could make you eligible" in email_parts(message).text
    assert question_reminders.remind_due(runtime) == 0
    runtime.relay.drain()  # type: ignore[attr-defined]
    assert len(smtp.messages) == 1
