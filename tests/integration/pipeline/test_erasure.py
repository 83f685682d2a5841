"""Erasure leaves the person in no table and no column (P6), error texts included; a refused
recipient's error is recorded as the SMTP code and a reason without the address."""

from __future__ import annotations

import datetime as dt
import json
import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.db import Base
from panel_service.models import AuditEvent, Invitation, Participant
from panel_service.runtime import Runtime
from panel_service.services import profiles, tokens
from tests.factories import make_recruiting_study
from tests.support.pipeline import NARROW
from tests.support.services import SmtpRecorder
from tests.support.volunteers import PASSWORD, make_volunteer, post_form, sign_in

EMAIL = "reject@vol.test"
NAME = "Rikke Refusedóttir"
PHONE = "+45 31 41 59 26"


def _every_stored_value(db: Session) -> str:
    """Every column of every row of every table, as text."""
    db.expire_all()
    dump = []
    for table in Base.metadata.sorted_tables:
        for row in db.execute(select(table)).all():
            dump.append(json.dumps([table.name, *row], default=str, ensure_ascii=False))
    return "\n".join(dump).lower()


def _volunteer_with_history(
    client: FlaskClient, db: Session, runtime: Runtime, smtp: SmtpRecorder, settings: Settings
) -> tuple[Participant, int, int]:
    """Vera-like volunteer with a phone, invited twice: the first answered interested through
    the email's link, the second refused by the SMTP server at RCPT."""
    _account, participant = make_volunteer(db, settings, EMAIL, name=NAME)
    participant.phone = PHONE
    profiles.save_about(
        db,
        settings,
        participant,
        birth_date=dt.date.today().replace(year=dt.date.today().year - 40),
        sex="female",
        region="DK-84",
        height_cm=170.0,
        weight_kg=65.0,
        smoker=False,
        pregnant=False,
    )
    profiles.save_codes(db, participant, system="icd10", codes=["G2581"])
    profiles.save_codes(db, participant, system="atc", codes=[])
    answered = make_recruiting_study(db, NARROW, title="Magnesium study A")
    db.commit()
    runtime.relay.drain()  # type: ignore[attr-defined]
    [message] = smtp.wait_for(1, timeout=5)
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    link = next(
        found
        for found in re.findall(r"http://127\.0\.0\.1:5000(/\S+)", plain.get_content())
        if "answer=interested" in found
    )
    assert post_form(client, link.split("?")[0], {"answer": "interested"}, token_from=link).status_code == 200

    smtp.refuse_recipients = {EMAIL}
    refused = make_recruiting_study(db, NARROW, title="Magnesium study B")
    db.commit()
    runtime.relay.drain()  # type: ignore[attr-defined]
    return participant, answered.id, refused.id


def test_a_refused_recipient_is_recorded_by_code_without_the_address(
    client: FlaskClient, db: Session, runtime: Runtime, smtp: SmtpRecorder, settings: Settings
) -> None:
    participant, _answered, refused = _volunteer_with_history(client, db, runtime, smtp, settings)
    db.expire_all()
    row = db.get(Invitation, (refused, participant.id))
    assert row is not None and row.last_error is not None
    assert "SMTPRecipientsRefused" in row.last_error and "550" in row.last_error
    assert "Recipient address rejected" in row.last_error
    assert EMAIL not in row.last_error.lower() and "[address]" in row.last_error


def test_after_erasure_no_table_holds_the_persons_email_name_or_phone(
    client: FlaskClient, db: Session, runtime: Runtime, smtp: SmtpRecorder, settings: Settings
) -> None:
    participant, answered, refused = _volunteer_with_history(client, db, runtime, smtp, settings)
    participant_id = participant.id
    tokens.issue(db, "unsubscribe", ttl=dt.timedelta(days=1), participant_id=participant_id)
    sign_in(client, EMAIL)
    assert post_form(client, "/me/data", {}).status_code == 200  # an export, audited
    before = _every_stored_value(db)
    for value in (EMAIL, NAME.lower(), PHONE):
        assert value in before  # the person is really there before erasure

    assert post_form(client, "/me/delete", {"password": PASSWORD}).status_code == 302

    after = _every_stored_value(db)
    for value in (EMAIL, NAME.lower(), PHONE, "reject@"):
        assert value not in after, f"{value!r} survived erasure"
    # The first name as a word: the question catalogue's Danish "drikker" (drinks) is no trace of her.
    assert not re.search(r"\brikke\b", after), "'rikke' survived erasure"
    # Counts survive: the tombstone keeps its invitations, the trail its events.
    assert {(row.study_id, row.response) for row in db.scalars(select(Invitation))} >= {
        (answered, "interested"),
        (refused, None),
    }
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "account.erase")) is not None
