"""The reviewer's page: who submitted, the version in full with the invitation as volunteers will
read it, the kind of committee chosen (no default), letters checked by content, and an email to the
organisation's coordinators, in each one's language, when a version is approved or rejected."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import OutboxMessage, Study
from panel_service.runtime import Runtime
from panel_service.services import review_mail
from tests.integration.coordinators.conftest import STUDY_BODY, Staff, make_staff, study_in
from tests.integration.coordinators.test_web_pages import post_form, sign_in
from tests.support.services import SmtpRecorder


def _approval(**overrides: Any) -> dict[str, Any]:
    today = dt.date.today()
    return {
        "committee": "De Videnskabsetiske Komitéer for Region Midtjylland",
        "kind": "REC",
        "reference": "1-10-72-19-26",
        "approved_on": (today - dt.timedelta(days=1)).isoformat(),
        "expires_on": (today + dt.timedelta(days=365)).isoformat(),
        "letter": (io.BytesIO(b"%PDF-1.4 the committee approves"), "approval.pdf"),
        **overrides,
    }


def _approve(client: FlaskClient, sid: int, **overrides: Any) -> Any:
    return post_form(
        client,
        f"/review/studies/{sid}",
        f"/review/studies/{sid}/approve",
        _approval(**overrides),
        content_type="multipart/form-data",
    )


def _run_decision_emails(runtime: Runtime, db: Session) -> int:
    """Run the decision jobs the outbox holds (the relay's job, here by hand and in order)."""
    sent = 0
    for message in db.scalars(
        select(OutboxMessage).where(OutboxMessage.task_name == review_mail.TASK).order_by(OutboxMessage.id)
    ):
        sent += review_mail.send_review_decision(runtime, **message.payload)
    return sent


def _text(message: Any) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[no-any-return]


def test_the_page_names_the_organisation_and_shows_the_invitation(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "in_review")
    sign_in(client, db, settings, reviewer)
    page = client.get(f"/review/studies/{sid}").get_data(as_text=True)
    assert "Submitted by Aarhus Sleep Clinic" in page
    assert "The invitation as volunteers will read it" in page
    assert "(the name of the volunteer)" in page and STUDY_BODY["invitation_text"] in page
    # No kind is chosen for the reviewer.
    assert '<option selected value="">Choose the kind of committee</option>' in page
    assert 'selected value="IRB"' not in page and 'selected value="IEC"' not in page


def test_kind_has_no_default_and_letters_are_checked_by_content(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "in_review")
    sign_in(client, db, settings, reviewer)
    missing_kind = _approve(client, sid, kind="")
    assert missing_kind.status_code == 422
    assert "Choose the kind of committee: IRB, IEC or REC." in missing_kind.get_data(as_text=True)
    # Every problem at once: the letter is checked even when the kind is missing.
    both = _approve(client, sid, kind="", letter=(io.BytesIO(b"\x89PNG\r\n\x1a\n"), "approval.pdf"))
    page = both.get_data(as_text=True)
    assert "Choose the kind of committee" in page and "This file is none of these." in page
    program = _approve(client, sid, letter=(io.BytesIO(b"MZ\x90\x00\x03\x00binary"), "approval.pdf"))
    assert program.status_code == 422
    assert "This file is none of these." in program.get_data(as_text=True)
    renamed = _approve(client, sid, letter=(io.BytesIO(b"%PDF-1.4 letter"), "approval.exe"))
    assert renamed.status_code == 422
    assert "The file is a PDF document but its name does not end in .pdf." in renamed.get_data(as_text=True)
    assert db.get(Study, sid).status == "in_review"  # type: ignore[union-attr]
    assert _approve(client, sid).status_code == 302
    assert db.get(Study, sid).status == "approved"  # type: ignore[union-attr]


def test_coordinators_are_emailed_the_decision_in_their_language(
    client: FlaskClient,
    db: Session,
    settings: Settings,
    runtime: Runtime,
    smtp: SmtpRecorder,
    coordinator: Staff,
    reviewer: Staff,
) -> None:
    colleague = make_staff(db, "coordinator", "Aarhus Sleep Clinic")
    colleague.account.language = "da"
    make_staff(db, "coordinator", "Odense Research")  # another organisation: not told
    db.flush()
    approved = study_in(db, coordinator, reviewer, "in_review")
    rejected = study_in(db, coordinator, reviewer, "in_review")
    sign_in(client, db, settings, reviewer)
    assert _approve(client, approved).status_code == 302
    reason = "The invitation text must name the sponsor."
    response = post_form(
        client,
        f"/review/studies/{rejected}",
        f"/review/studies/{rejected}/reject",
        {"reject-reason": reason},
    )
    assert response.status_code == 302
    assert _run_decision_emails(runtime, db) == 4
    messages = smtp.wait_for(4, timeout=10)
    by_recipient: dict[tuple[str, str], Any] = {}
    for message in messages:
        kind = "approved" if message["Subject"].startswith(("Approved", "Godkendt")) else "rejected"
        by_recipient[(message["To"].split("<")[-1].rstrip(">"), kind)] = message
    title = STUDY_BODY["title"]
    english = by_recipient[(coordinator.account.email, "approved")]
    assert english["Subject"] == f"Approved: {title}, version 1"
    assert "The ethics review approved version 1" in _text(english)
    assert "REC De Videnskabsetiske Komitéer for Region Midtjylland, reference 1-10-72-19-26" in _text(
        english
    )
    assert f"/coordinators/studies/{approved}" in _text(english)
    danish = by_recipient[(colleague.account.email, "approved")]
    assert danish["Subject"] == f"Godkendt: {title}, version 1"
    assert "Den etiske vurdering har godkendt version 1" in _text(danish)
    no = by_recipient[(coordinator.account.email, "rejected")]
    assert no["Subject"] == f"Not approved: {title}, version 1" and reason in _text(no)
    nej = by_recipient[(colleague.account.email, "rejected")]
    assert nej["Subject"] == f"Ikke godkendt: {title}, version 1" and reason in _text(nej)
