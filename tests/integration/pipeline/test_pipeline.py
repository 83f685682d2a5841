"""Matching and contact on the real database (PostgreSQL and SQLite) and a real SMTP server, with
the jobs run through the in-process relay or called directly. The live-worker faults are in
test_worker_faults.py."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from email.utils import parseaddr

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from panel_service import jobs
from panel_service.models import (
    ActionToken,
    Consent,
    EthicsApproval,
    Invitation,
    MatchChunk,
    MatchRun,
    OutboxMessage,
    Participant,
    Study,
)
from panel_service.runtime import Runtime
from panel_service.services import consent, contact, matching, volunteers
from panel_service.tasks import Task
from panel_service.timeutil import as_utc, panel_today, pause_ends_at
from tests.factories import add_condition, make_recruiting_study
from tests.support.pipeline import NARROW, invitation_links, narrow_expected, rls_volunteer, seed_population
from tests.support.queries import statements
from tests.support.services import SmtpRecorder, email_parts

TODAY = dt.date.today()


@pytest.fixture()
def tuned(runtime: Runtime) -> Iterator[Runtime]:
    """Small chunks and quick retries for this test (the runtime's settings object, swapped back)."""
    original = runtime.settings
    runtime.settings = original.model_copy(
        update={"match_chunk_size": 7, "send_retry_base_seconds": 0.2, "send_max_attempts": 3}
    )
    try:
        yield runtime
    finally:
        runtime.settings = original


def drain(runtime: Runtime) -> None:
    runtime.relay.drain()  # type: ignore[attr-defined]


def invitation(db: Session, study_id: int, participant_id: int) -> Invitation | None:
    db.expire_all()
    return db.get(Invitation, (study_id, participant_id))


def match_without_sending(runtime: Runtime, study_id: int) -> None:
    """The study's bulk match, run here (one chunk at these sizes); nothing is dispatched."""
    run_id = matching.start_study(runtime, study_id)
    assert run_id is not None
    matching.match_chunk(runtime, run_id, 0)


def links_of(db: Session, participant_id: int) -> list[tuple[str, int | None]]:
    """The link tokens issued for a volunteer: (purpose, study)."""
    rows = db.execute(
        select(ActionToken.purpose, ActionToken.study_id).where(ActionToken.participant_id == participant_id)
    )
    return [(purpose, study_id) for purpose, study_id in rows]


def test_recruit_invites_exactly_the_consistent_consenting_volunteers(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    people = seed_population(db, 60)
    expected = {v.email for v in people if narrow_expected(v, TODAY)}
    assert 3 <= len(expected) < 60  # the population exercises both sides
    study = make_recruiting_study(db, NARROW)
    db.commit()

    drain(tuned)

    assert set(smtp.to_addresses()) == expected
    assert len(smtp.to_addresses()) == len(expected)  # nobody twice
    rows = db.scalars(select(Invitation).where(Invitation.study_id == study.id)).all()
    assert {r.status for r in rows} == {"sent"}
    run = db.scalar(select(MatchRun).where(MatchRun.study_id == study.id))
    assert run is not None and run.finished_at is not None and run.match_date == TODAY
    assert run.chunks_total == len(db.scalars(select(MatchChunk).where(MatchChunk.run_id == run.id)).all())
    assert run.chunks_total >= 8  # 60 profiles in chunks of 7
    progress = matching.run_progress(db, study.id)
    assert progress is not None and progress["matched"] == len(expected)
    assert progress["chunks_done"] == progress["chunks_total"]
    assert (
        db.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.completed_at.is_(None)))
        == 0
    )


def test_every_task_run_twice_changes_nothing(db: Session, tuned: Runtime, smtp: SmtpRecorder) -> None:
    people = seed_population(db, 30, seed=11)
    expected = {v.email for v in people if narrow_expected(v, TODAY)}
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()

    run_id = matching.start_study(tuned, study.id)
    assert matching.start_study(tuned, study.id) == run_id  # a duplicate delivery reuses the run
    run = db.get(MatchRun, run_id)
    assert run is not None
    for chunk_no in range(run.chunks_total):
        matching.match_chunk(tuned, run_id, chunk_no)
        assert matching.match_chunk(tuned, run_id, chunk_no) == 0
    # A chunk whose done mark was lost (crash after insert, before the mark commits cannot happen:
    # they commit together), re-run from scratch, inserts nothing new either.
    db.execute(update(MatchChunk).where(MatchChunk.run_id == run_id).values(done_at=None))
    db.commit()
    assert sum(matching.match_chunk(tuned, run_id, n) for n in range(run.chunks_total)) == 0
    drain(tuned)
    drain(tuned)
    contact.dispatch_due(tuned)
    # A nightly re-match of the same version changes nothing either.
    assert matching.start_study(tuned, study.id, kind="nightly") is not None
    drain(tuned)
    assert sorted(smtp.to_addresses()) == sorted(expected)


def test_a_send_is_three_statements_on_postgresql_and_its_links_work(
    db: Session, tuned: Runtime, smtp: SmtpRecorder, engine: Engine
) -> None:
    """Guard (issue 15): the pick, the check with the claim and its tokens, the record. On PostgreSQL
    the check, the tokens and the claim are one statement; SQLite sends them in turn. The links the
    email carries are the stored tokens: the answer one names this study and volunteer."""
    volunteer = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()
    match_without_sending(tuned, study.id)
    with statements(engine) as seen:
        outcome = contact.send_invitation(tuned, study.id, volunteer.participant_id)
    assert outcome == "sent"
    starts = [" ".join(sql.split())[:30] for sql in seen.sql]
    pick, record = "SELECT picked.study_id, picked", "UPDATE invitations SET status="
    if engine.dialect.name == "postgresql":
        assert starts == [pick, "WITH checked AS (SELECT EXISTS", record], str(seen)
    else:
        check, claim = "SELECT EXISTS (SELECT * FROM p", "UPDATE invitations SET status="
        assert starts == [pick, check, "INSERT INTO action_tokens (tok", claim, record], str(seen)
    [message] = smtp.wait_for(1, timeout=5)
    answer_row, unsubscribe_row = invitation_links(db, message, study.id, volunteer.participant_id)
    assert answer_row.expires_at == unsubscribe_row.expires_at
    row = invitation(db, study.id, volunteer.participant_id)
    assert row is not None and row.status == "sent" and row.attempts == 1


def test_outbox_row_delivered_twice_runs_once(db: Session, tuned: Runtime, smtp: SmtpRecorder) -> None:
    volunteer = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()
    matching.start_study(tuned, study.id)
    row = db.scalar(select(OutboxMessage).where(OutboxMessage.task_name == Task.MATCHING_MATCH_CHUNK))
    assert row is not None
    jobs.run_job(tuned, row.task_name, row.payload, outbox_id=row.id)
    jobs.run_job(tuned, row.task_name, row.payload, outbox_id=row.id)
    send = db.scalar(select(OutboxMessage).where(OutboxMessage.task_name == Task.CONTACT_DISPATCH_DUE))
    assert send is not None
    jobs.run_job(tuned, send.task_name, send.payload, outbox_id=send.id)
    jobs.run_job(tuned, send.task_name, send.payload, outbox_id=send.id)
    contact.send_invitation(tuned, study.id, volunteer.participant_id)
    assert smtp.to_addresses() == [volunteer.email]


def test_the_email_is_the_approved_text_with_signed_links_and_one_click_unsubscribe(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    volunteer = rls_volunteer(db)
    text = "Line one of the approved text.\n  Indented line two — with ümlauts & <angle> brackets."
    study = make_recruiting_study(db, NARROW, title="Magnesium & legs", invitation_text=text)
    db.commit()
    drain(tuned)

    [message] = smtp.wait_for(1, timeout=5)
    assert message["Message-ID"] == f"<inv-{study.id}-{volunteer.participant_id}@127.0.0.1>"
    assert "Magnesium & legs" in message["Subject"]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    plain_text = plain.get_content().replace("\r\n", "\n")  # SMTP carries CRLF line ends
    assert text in plain_text
    assert "&lt;angle&gt;" in html.get_content()
    # The site region by name, never a bare code (issue 13 item 4).
    assert "(in Capital Region of Denmark" in plain_text and "DK-84" not in plain_text
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://127.0.0.1:5000/unsubscribe/") and unsubscribe.endswith(">")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/invitations/answer/" in plain_text and "answer=interested" in plain_text
    assert "answer=not_interested" in plain_text
    row = invitation(db, study.id, volunteer.participant_id)
    assert row is not None and row.status == "sent" and row.message_id == message["Message-ID"]
    assert row.sent_at is not None and row.attempts == 1


def test_the_invitation_is_in_each_volunteers_language_with_the_same_links_in_both_parts(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    danish = rls_volunteer(db, language="da")
    english = rls_volunteer(db)
    text = "The approved text, in the words the committee approved."
    study = make_recruiting_study(db, NARROW, title="Magnesium & legs", invitation_text=text)
    db.commit()
    drain(tuned)

    received = {parseaddr(str(m["To"]))[1]: m for m in smtp.wait_for(2, timeout=5)}
    assert set(received) == {danish.email, english.email}
    da, en = received[danish.email], received[english.email]
    assert da["Subject"] == "Invitation til et forskningsforsøg: Magnesium & legs"
    assert en["Subject"] == "Invitation to a research study: Magnesium & legs"
    for message, volunteer in ((da, danish), (en, english)):
        parts = email_parts(message)
        assert text in parts.text and text in parts.html  # the study's own words stay as approved
        # The same four links, in the same order, in both parts: why (the signed-in invitation
        # page), the two answers, and the header's unsubscribe.
        assert parts.text_links == parts.html_links
        why, interested, not_interested, unsubscribe = parts.text_links
        assert why == f"http://127.0.0.1:5000/me/invitations/{study.id}"
        assert interested.startswith("http://127.0.0.1:5000/invitations/answer/")
        assert interested.endswith("?answer=interested")
        assert not_interested == interested.replace("=interested", "=not_interested")
        assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Message-ID"] == f"<inv-{study.id}-{volunteer.participant_id}@127.0.0.1>"
    danish_parts, english_parts = email_parts(da), email_parts(en)
    for words in ("Jeg er interesseret", "Nej tak", "Stop alle invitationer (afmeld)", "Forskerne skriver:"):
        assert words in danish_parts.text and words in danish_parts.html
        assert words not in english_parts.text and words not in english_parts.html
    for words in ("I am interested", "No, thank you", "Stop all invitations (unsubscribe)"):
        assert words in english_parts.text and words in english_parts.html
        assert words not in danish_parts.text and words not in danish_parts.html
    assert '<html lang="da">' in danish_parts.html and '<html lang="en">' in english_parts.html


def test_consent_withdrawn_between_match_and_send_is_not_sent(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    racing = rls_volunteer(db)
    withdrawing = rls_volunteer(db)
    paused = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()
    match_without_sending(tuned, study.id)
    # The withdrawal as the volunteer pages do it (cancel at once) ...
    consent.withdraw_contact_consent(db, withdrawing.participant_id, via="test")
    # ... and one that races the dispatcher: consent gone, the queued row not yet cancelled.
    db.execute(
        update(Consent).where(Consent.participant_id == racing.participant_id).values(withdrawn_at=func.now())
    )
    db.execute(
        update(Participant)
        .where(Participant.id == paused.participant_id)
        .values(contact_paused_until=TODAY + dt.timedelta(days=3))
    )
    db.commit()
    contact.dispatch_due(tuned)

    assert smtp.to_addresses() == []
    for volunteer, reason in ((racing, "consent_withdrawn"), (withdrawing, "consent_withdrawn")):
        row = invitation(db, study.id, volunteer.participant_id)
        assert row is not None and (row.status, row.reason) == ("cancelled", reason)
    # A pause holds the invitation (P6): deferred to the day after the pause, not cancelled.
    held = invitation(db, study.id, paused.participant_id)
    assert held is not None and (held.status, held.reason, held.attempts) == ("queued", None, 0)
    assert held.next_attempt_at is not None
    assert as_utc(held.next_attempt_at) == pause_ends_at(tuned.settings, TODAY + dt.timedelta(days=3))


def test_a_paused_volunteer_is_sent_the_held_invitation_once_after_the_pause(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    pausing = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()
    match_without_sending(tuned, study.id)
    participant = db.get(Participant, pausing.participant_id)
    assert participant is not None
    until = panel_today(tuned.settings) + dt.timedelta(days=2)
    assert volunteers.pause_contact(db, tuned.settings, participant, until) == 1
    db.commit()

    for _ in range(2):  # dispatches and sweeps while paused send nothing and cancel nothing
        contact.sweep(tuned)
        drain(tuned)
        contact.send_invitation(tuned, study.id, pausing.participant_id)
    assert smtp.to_addresses() == []
    row = invitation(db, study.id, pausing.participant_id)
    assert row is not None and (row.status, row.reason, row.attempts) == ("queued", None, 0)
    assert row.next_attempt_at is not None and as_utc(row.next_attempt_at) == pause_ends_at(
        tuned.settings, until
    )

    # The pause is over (the days passed: the date and the hold it set are now in the past). The
    # beat's sweep finds the invitation due; the dispatcher re-checks it and sends it, once.
    yesterday = panel_today(tuned.settings) - dt.timedelta(days=1)
    db.execute(
        update(Participant)
        .where(Participant.id == pausing.participant_id)
        .values(contact_paused_until=yesterday)
    )
    db.execute(
        update(Invitation)
        .where(Invitation.participant_id == pausing.participant_id)
        .values(next_attempt_at=pause_ends_at(tuned.settings, yesterday))
    )
    db.commit()
    for _ in range(2):
        assert contact.sweep(tuned) in (True, False)
        drain(tuned)
    assert smtp.to_addresses() == [pausing.email]
    row = invitation(db, study.id, pausing.participant_id)
    assert row is not None and row.status == "sent" and row.attempts == 1


def test_profile_no_longer_matching_is_cancelled_with_a_reason(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    at_dispatch = rls_volunteer(db)
    incrementally = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()
    match_without_sending(tuned, study.id)
    for volunteer in (at_dispatch, incrementally):  # both now report kidney disease
        add_condition(db, volunteer.participant_id, "N183")
    db.commit()
    matching.match_profile(tuned, incrementally.participant_id)
    row = invitation(db, study.id, incrementally.participant_id)
    assert row is not None and (row.status, row.reason) == ("cancelled", "no_longer_matches")

    contact.dispatch_due(tuned)
    row = invitation(db, study.id, at_dispatch.participant_id)
    assert row is not None and (row.status, row.reason) == ("cancelled", "no_longer_matches")
    # Refused by the check, which on PostgreSQL is the statement that would have claimed it: no
    # link was issued either.
    assert links_of(db, at_dispatch.participant_id) == []
    assert smtp.to_addresses() == []


def test_incremental_match_invites_a_new_profile_once(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    study = make_recruiting_study(db, NARROW)
    db.commit()
    drain(tuned)
    newcomer = rls_volunteer(db)
    outsider = rls_volunteer(db, conditions=["I10"])
    db.commit()
    for participant_id in (newcomer.participant_id, outsider.participant_id):
        matching.request_profile_match(db, participant_id)
        matching.request_profile_match(db, participant_id)
    db.commit()
    drain(tuned)
    assert smtp.to_addresses() == [newcomer.email]
    assert invitation(db, study.id, outsider.participant_id) is None


def test_smtp_down_retries_with_backoff_then_sends(db: Session, tuned: Runtime, smtp: SmtpRecorder) -> None:
    # A backoff longer than the first drain takes on a loaded machine (its later jobs would
    # otherwise find the retry due already and try again); the fixture restores the settings.
    tuned.settings = tuned.settings.model_copy(update={"send_retry_base_seconds": 2.0})
    volunteer = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW)
    db.commit()
    smtp.refuse = True
    drain(tuned)
    row = invitation(db, study.id, volunteer.participant_id)
    assert row is not None and row.status == "queued" and row.attempts == 1
    assert row.next_attempt_at is not None and "451" in (row.last_error or "")
    assert contact.dispatch_due(tuned) == 0  # not due yet: backoff
    smtp.refuse = False
    time.sleep(2.1)
    assert contact.sweep(tuned) is True
    drain(tuned)
    row = invitation(db, study.id, volunteer.participant_id)
    assert row is not None and row.status == "sent" and row.attempts == 2
    assert smtp.to_addresses() == [volunteer.email]


def test_smtp_refusing_past_the_last_attempt_fails_with_a_reason(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    volunteer = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW)
    db.commit()
    smtp.refuse = True
    drain(tuned)
    for _ in range(5):
        time.sleep(0.25 * 2**_)
        contact.dispatch_due(tuned)
        row = invitation(db, study.id, volunteer.participant_id)
        if row is not None and row.status == "failed":
            break
    row = invitation(db, study.id, volunteer.participant_id)
    assert row is not None and (row.status, row.reason, row.attempts) == ("failed", "smtp_refused", 3)


def test_contact_cap_defers_without_dropping(db: Session, tuned: Runtime, smtp: SmtpRecorder) -> None:
    volunteer = rls_volunteer(db)
    studies = [make_recruiting_study(db, NARROW, title=f"Study {n}") for n in range(3)]
    db.commit()
    drain(tuned)
    rows = [invitation(db, s.id, volunteer.participant_id) for s in studies]
    statuses = sorted(r.status for r in rows if r is not None)
    assert statuses == ["queued", "sent", "sent"]
    waiting = next(r for r in rows if r is not None and r.status == "queued")
    assert waiting.next_attempt_at is not None
    assert waiting.next_attempt_at.date() >= TODAY + dt.timedelta(days=29)
    assert len(smtp.to_addresses()) == 2
    # Two links per invitation sent; none for the one the cap holds (its claim never happened).
    assert sorted(links_of(db, volunteer.participant_id)) == sorted(
        [("answer", r.study_id) for r in rows if r is not None and r.status == "sent"]
        + [("unsubscribe", None)] * 2
    )


def test_a_claim_that_never_recorded_its_send_becomes_ambiguous_and_is_not_resent(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    volunteer = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()
    match_without_sending(tuned, study.id)
    claim = contact.claim_next(tuned).claim  # and then the process "dies" before SMTP / the record
    assert isinstance(claim, contact.Claimed)
    assert contact.detect_ambiguous(tuned) == 0  # still within its lease
    assert contact.detect_ambiguous(tuned, lease_seconds=0) == 1
    drain(tuned)
    contact.dispatch_due(tuned)
    row = invitation(db, study.id, volunteer.participant_id)
    assert row is not None and row.status == "ambiguous"
    assert smtp.to_addresses() == []
    assert [(i.study_id, i.participant_id) for i in contact.ambiguous(db)] == [
        (study.id, volunteer.participant_id)
    ]
    contact.resolve_ambiguous(db, study.id, volunteer.participant_id, "resend")
    db.commit()
    drain(tuned)
    assert smtp.to_addresses() == [volunteer.email]


def test_expired_approval_pauses_the_study_and_nothing_more_is_sent(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    volunteer = rls_volunteer(db)
    other = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()
    match_without_sending(tuned, study.id)
    # The approval ran out before dispatch (the beat's expiry job has not run yet).
    db.execute(
        update(EthicsApproval)
        .where(EthicsApproval.study_version_id == study.active_version_id)
        .values(approved_on=TODAY - dt.timedelta(days=400), expires_on=TODAY)
    )
    db.commit()
    assert (
        contact.dispatch_one(tuned, study_id=study.id, participant_id=volunteer.participant_id) == "cancelled"
    )
    assert matching.expire_approvals(tuned) == 1
    assert matching.expire_approvals(tuned) == 0  # idempotent
    db.expire_all()
    refreshed = db.get(Study, study.id)
    assert refreshed is not None and refreshed.status == "paused"
    for participant_id, reason in (
        (volunteer.participant_id, "approval_expired"),
        (other.participant_id, "approval_expired"),
    ):
        row = invitation(db, study.id, participant_id)
        assert row is not None and (row.status, row.reason) == ("cancelled", reason)
    assert matching.start_study(tuned, study.id) is None  # no matching for a paused study
    drain(tuned)
    assert smtp.to_addresses() == []


def test_only_the_active_version_is_sent(db: Session, tuned: Runtime, smtp: SmtpRecorder) -> None:
    volunteer = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()
    match_without_sending(tuned, study.id)
    newer = make_recruiting_study(db, NARROW, start_matching=False)  # borrow a second approved version
    db.execute(update(Study).where(Study.id == study.id).values(active_version_id=newer.active_version_id))
    db.commit()
    contact.dispatch_due(tuned)
    row = invitation(db, study.id, volunteer.participant_id)
    assert row is not None and (row.status, row.reason) == ("cancelled", "version_changed")
    assert smtp.to_addresses() == []


def test_paused_or_closed_study_is_never_matched(db: Session, tuned: Runtime, smtp: SmtpRecorder) -> None:
    rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, status="approved")
    db.commit()
    matching.request_study_match(db, study.id, "manual")
    db.commit()
    drain(tuned)
    assert db.scalar(select(func.count()).select_from(Invitation)) == 0
    assert smtp.to_addresses() == []


def test_nightly_and_rematch_queue_one_run_per_study(db: Session, tuned: Runtime, smtp: SmtpRecorder) -> None:
    rls_volunteer(db)
    study = make_recruiting_study(db, NARROW)
    db.commit()
    drain(tuned)
    assert matching.nightly(tuned) == 1
    assert matching.nightly(tuned) == 1  # a second beat: the dedup key keeps one row
    nightly_rows = db.scalars(
        select(OutboxMessage).where(
            OutboxMessage.task_name == Task.MATCHING_START_STUDY, OutboxMessage.dedup_key.is_not(None)
        )
    ).all()
    assert len(nightly_rows) == 1
    matching.request_rematch_all(db)
    db.commit()
    drain(tuned)
    runs = db.scalars(select(MatchRun.kind).where(MatchRun.study_id == study.id)).all()
    assert sorted(runs) == ["import", "nightly", "recruit"]
    assert len(smtp.to_addresses()) == 1


def test_no_answer_after_the_message_went_out_is_ambiguous_not_retried(db: Session, tuned: Runtime) -> None:
    """The server took the whole message but its answer timed out: it may have been delivered.
    Found by the benchmark on a loaded machine (timeouts were retried and delivered twice)."""
    from panel_service.mail import Mailer
    from tests.support.worker import slow_smtp_server

    volunteer = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW)
    db.commit()
    with slow_smtp_server(hold_seconds=1.5) as slow:
        original = tuned.mailer
        tuned.mailer = Mailer(
            tuned.settings.model_copy(
                update={"smtp_host": slow.host, "smtp_port": slow.port, "smtp_timeout_seconds": 0.5}
            )
        )
        try:
            drain(tuned)
            time.sleep(0.3)
            assert contact.sweep(tuned) is False  # nothing due: it is not queued for a retry
            drain(tuned)
        finally:
            tuned.mailer = original
        row = invitation(db, study.id, volunteer.participant_id)
        assert row is not None and row.status == "ambiguous" and "no answer" in (row.last_error or "")
        assert slow.to_addresses() == [volunteer.email]


def claim_within(runtime: Runtime, seconds: float) -> contact.Claimed | str | None:
    """claim_next in a thread, failing the test if it has not returned in time (it is waiting)."""
    outcome: list[contact.Claimed | str | None] = []

    def claim() -> None:
        attempt = contact.claim_next(runtime)
        outcome.append(attempt.claim or attempt.outcome)

    worker = threading.Thread(target=claim, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the claim is waiting for a lock"
    return outcome[0]


@pytest.mark.postgres
def test_a_claim_skips_a_volunteer_whose_row_another_transaction_holds(committed_runtime: Runtime) -> None:
    """A volunteer pausing contact locks their row, then their pending invitations. A claim that
    held the invitation and waited for the volunteer's row would deadlock with that; it skips
    the volunteer instead, and their invitation goes out once the row is free."""
    runtime = committed_runtime
    with runtime.database.session_scope() as session:
        busy, free = rls_volunteer(session), rls_volunteer(session)
        study = make_recruiting_study(session, NARROW, start_matching=False)
    match_without_sending(runtime, study.id)

    holder = runtime.database.session()
    try:
        holder.execute(update(Participant).where(Participant.id == busy.participant_id).values(language="da"))
        first = claim_within(runtime, 5)
        assert isinstance(first, contact.Claimed) and first.participant_id == free.participant_id
        assert claim_within(runtime, 5) is None  # only the busy volunteer's invitation is left
    finally:
        holder.rollback()
        holder.close()
    after = claim_within(runtime, 5)
    assert isinstance(after, contact.Claimed) and after.participant_id == busy.participant_id


def test_every_email_handed_to_smtp_is_counted_by_kind(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    """``panel_emails_sent_total`` counts invitations (and account emails) as they are sent."""

    def sent(kind: str) -> float:
        return REGISTRY.get_sample_value("panel_emails_sent_total", {"kind": kind}) or 0.0

    before = sent("invitation")
    rls_volunteer(db)
    make_recruiting_study(db, NARROW)
    db.commit()
    drain(tuned)
    assert len(smtp.to_addresses()) == 1
    assert sent("invitation") == before + 1
