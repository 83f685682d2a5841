"""The links in an invitation email: GET shows, POST does, once; one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

import datetime as dt
import re

from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from panel_service.models import ActionToken, AuditEvent, Consent, Invitation, Study
from panel_service.runtime import Runtime
from panel_service.services import matching
from tests.factories import make_recruiting_study, make_volunteer
from tests.support.pipeline import NARROW
from tests.support.services import SmtpRecorder

TODAY = dt.date.today()


def invited(db: Session, runtime: Runtime, smtp: SmtpRecorder, studies: int = 1, expect: int = 1):  # type: ignore[no-untyped-def]
    volunteer = make_volunteer(
        db, birth_date=TODAY.replace(year=TODAY.year - 40), conditions=["G25.81"], medications=[]
    )
    made = [make_recruiting_study(db, NARROW, title=f"Magnesium study {n}") for n in range(studies)]
    db.commit()
    runtime.relay.drain()  # type: ignore[attr-defined]
    messages = smtp.wait_for(expect, timeout=5)
    plain = messages[0].get_body(preferencelist=("plain",))
    assert plain is not None
    links = re.findall(r"http://127\.0\.0\.1:5000(/\S+)", plain.get_content())
    return volunteer, made, links, messages[0]


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_get_shows_what_is_shared_and_changes_nothing_post_records_once(
    client: FlaskClient, db: Session, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    volunteer, [study], links, _ = invited(db, runtime, smtp)
    interested = next(link for link in links if "answer=interested" in link)
    page = client.get(interested)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Magnesium study 0" in html and volunteer.email in html and "Your phone number" in html
    assert "health profile" in html
    # Issue 13, item 7: the same two choices as the signed-in invitation page.
    assert "Yes, share my contact details" in html and "No, thank you" in html
    assert "You chose “I am interested” in the email" in html
    client.get(interested)  # a mail scanner following the link twice changes nothing
    row = db.get(Invitation, (study.id, volunteer.participant_id))
    assert row is not None and row.response is None

    no_token = client.post(interested.split("?")[0], data={"answer": "interested"})
    assert no_token.status_code == 400  # CSRF: a cross-site POST cannot answer for someone

    done = client.post(interested.split("?")[0], data={"answer": "interested", "csrf_token": csrf_from(html)})
    thanks = done.get_data(as_text=True)
    assert done.status_code == 200 and "We have shared exactly this" in thanks
    shared = thanks.split('<ul class="shared">')[1].split("</ul>")[0]
    assert volunteer.email in shared and "Your phone number" not in shared, "only what was shared"
    assert "Go to my page" in thanks
    db.expire_all()
    row = db.get(Invitation, (study.id, volunteer.participant_id))
    assert row is not None and row.response == "interested"
    assert (
        db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "identity.release"))
        == 1
    )

    again = client.post(
        interested.split("?")[0], data={"answer": "not_interested", "csrf_token": csrf_from(html)}
    )
    assert again.status_code == 404  # single use
    used = client.get(interested)
    assert used.status_code == 404
    assert "Sign in to see them" in used.get_data(as_text=True), "a used link offers a way to sign in"


def test_not_interested_shares_nothing(
    client: FlaskClient, db: Session, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    volunteer, [study], links, _ = invited(db, runtime, smtp)
    link = next(link for link in links if "answer=not_interested" in link)
    html = client.get(link).get_data(as_text=True)
    assert "You chose “I am not interested” in the email" in html
    response = client.post(
        link.split("?")[0], data={"answer": "not_interested", "csrf_token": csrf_from(html)}
    )
    assert response.status_code == 200
    db.expire_all()
    row = db.get(Invitation, (study.id, volunteer.participant_id))
    assert row is not None and row.response == "not_interested"
    assert (
        db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "identity.release"))
        == 0
    )


def _releases(db: Session) -> int:
    return int(
        db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "identity.release"))
        or 0
    )


def _unused_answer_tokens(db: Session, participant_id: int) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(ActionToken)
            .where(
                ActionToken.participant_id == participant_id,
                ActionToken.purpose == "answer",
                ActionToken.used_at.is_(None),
            )
        )
        or 0
    )


def test_a_closed_study_takes_no_answer_and_learns_no_identity(
    client: FlaskClient, db: Session, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    volunteer, [study], links, _ = invited(db, runtime, smtp)
    interested = next(link for link in links if "answer=interested" in link)
    form_page = client.get(interested).get_data(as_text=True)  # opened while still recruiting
    db.execute(update(Study).where(Study.id == study.id).values(status="closed"))
    db.commit()

    shown = client.get(interested)
    assert shown.status_code == 409 and "has closed" in shown.get_data(as_text=True)
    posted = client.post(
        interested.split("?")[0], data={"answer": "interested", "csrf_token": csrf_from(form_page)}
    )
    assert posted.status_code == 409
    html = posted.get_data(as_text=True)
    assert "has closed" in html and "nothing was shared" in html
    db.expire_all()
    row = db.get(Invitation, (study.id, volunteer.participant_id))
    assert row is not None and (row.response, row.responded_at) == (None, None)
    assert _releases(db) == 0
    assert _unused_answer_tokens(db, volunteer.participant_id) == 1  # nothing consumed


def test_after_unsubscribing_the_answer_link_releases_nothing(
    client: FlaskClient, db: Session, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    volunteer, [study], links, message = invited(db, runtime, smtp)
    interested = next(link for link in links if "answer=interested" in link)
    form_page = client.get(interested).get_data(as_text=True)
    unsubscribe = message["List-Unsubscribe"].strip("<>").replace("http://127.0.0.1:5000", "")
    assert client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200

    posted = client.post(
        interested.split("?")[0], data={"answer": "interested", "csrf_token": csrf_from(form_page)}
    )
    assert posted.status_code == 409 and "withdrawn your consent" in posted.get_data(as_text=True)
    assert client.get(interested).status_code == 409
    db.expire_all()
    row = db.get(Invitation, (study.id, volunteer.participant_id))
    assert row is not None and row.response is None
    assert _releases(db) == 0
    assert _unused_answer_tokens(db, volunteer.participant_id) == 1


def test_a_paused_study_still_takes_the_answer_to_an_invitation_already_sent(
    client: FlaskClient, db: Session, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    _volunteer, [study], links, _ = invited(db, runtime, smtp)
    interested = next(link for link in links if "answer=interested" in link)
    db.execute(update(Study).where(Study.id == study.id).values(status="paused"))
    db.commit()
    page = client.get(interested)
    assert page.status_code == 200
    done = client.post(
        interested.split("?")[0],
        data={"answer": "interested", "csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    assert done.status_code == 200 and "We have shared exactly this" in done.get_data(as_text=True)
    assert _releases(db) == 1


def test_unknown_token_is_a_plain_not_found(client: FlaskClient, db: Session) -> None:
    assert client.get("/invitations/answer/nonsense").status_code == 404
    assert client.get("/unsubscribe/nonsense").status_code == 404
    assert client.post("/unsubscribe/nonsense", data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_one_click_unsubscribe_withdraws_consent_and_cancels_pending(
    client: FlaskClient, db: Session, runtime: Runtime, smtp: SmtpRecorder
) -> None:
    original = runtime.settings
    runtime.settings = original.model_copy(update={"contact_cap": 1})
    try:
        volunteer, _, _, message = invited(db, runtime, smtp, studies=2)
    finally:
        runtime.settings = original
    statuses = sorted(
        db.scalars(
            select(Invitation.status).where(Invitation.participant_id == volunteer.participant_id)
        ).all()
    )
    assert statuses == ["queued", "sent"]  # the second waits under the cap of 1
    url = message["List-Unsubscribe"].strip("<>").replace("http://127.0.0.1:5000", "")
    assert "unsubscribed" not in client.get(url).get_data(as_text=True).lower()  # GET changes nothing
    assert (
        db.scalar(select(Consent.withdrawn_at).where(Consent.participant_id == volunteer.participant_id))
        is None
    )

    # RFC 8058: the mail client POSTs this body, with no session and no CSRF token.
    response = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    db.expire_all()
    assert db.scalar(select(Consent.withdrawn_at).where(Consent.participant_id == volunteer.participant_id))
    rows = db.scalars(select(Invitation).where(Invitation.participant_id == volunteer.participant_id)).all()
    assert sorted((r.status, r.reason) for r in rows) == [("cancelled", "consent_withdrawn"), ("sent", None)]
    matching.match_profile(runtime, volunteer.participant_id)  # no consent: no new invitation either
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 404  # used
