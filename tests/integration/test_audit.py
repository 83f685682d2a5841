"""The audit trail is insert-only in the database and names volunteers only by pseudonym."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, exc, select, text, update
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import Account, AuditEvent, Participant
from panel_service.services.audit import record
from tests.support.volunteers import PASSWORD, make_volunteer, post_form, sign_in


def _one_event(db: Session) -> AuditEvent:
    event = record(db, None, "study.expire", "study", 1, {"cancelled": 0})
    db.flush()
    return event


def test_the_database_refuses_to_update_or_delete_audit_rows(db: Session) -> None:
    event = _one_event(db)
    with pytest.raises(exc.IntegrityError, match="insert-only"), db.begin_nested():
        db.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(actor_label="someone else"))
    with pytest.raises(exc.IntegrityError, match="insert-only"), db.begin_nested():
        db.execute(delete(AuditEvent).where(AuditEvent.id == event.id))
    db.expire_all()
    kept = db.get(AuditEvent, event.id)
    assert kept is not None and kept.actor_label == "system"


@pytest.mark.postgres  # SQLite has no TRUNCATE; the SQLite run deselects this marker
def test_postgresql_refuses_to_truncate_the_trail(db: Session) -> None:
    _one_event(db)
    with pytest.raises(exc.IntegrityError, match="insert-only"), db.begin_nested():
        db.execute(text("TRUNCATE audit_events"))


def test_a_volunteers_export_names_them_by_one_pseudonym_as_actor_and_subject(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    # A staff account first, so that the volunteer's account id and participant id differ.
    db.add(Account(email="reviewer@example.org", role="reviewer"))
    db.flush()
    account, participant = make_volunteer(db, settings)
    assert account.id != participant.id
    sign_in(client, "vera@example.org")
    assert post_form(client, "/me/data", {}).status_code == 200
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "data.export"))
    assert event is not None
    # Actor and subject are the same volunteer (this once read participant:<account id>).
    assert event.actor_label == f"{event.subject_type}:{event.subject_id}"
    db.refresh(participant)
    pseudonym = participant.audit_pseudonym
    assert pseudonym is not None and pseudonym.startswith("v-")
    assert (event.subject_type, event.subject_id) == ("participant", pseudonym)
    assert event.actor_label == f"participant:{pseudonym}"  # the same volunteer, not their account
    assert event.actor_id is None
    # Every event of this volunteer uses the pseudonym; none their ids or address.
    events = db.scalars(select(AuditEvent)).all()
    text_of_trail = json.dumps([[e.actor_label, e.subject_id, e.details] for e in events])
    assert "vera@example.org" not in text_of_trail and "Vera" not in text_of_trail
    assert f'participant:{participant.id}"' not in text_of_trail
    assert f'participant:{account.id}"' not in text_of_trail


def test_erasure_leaves_the_trail_as_it_was_and_breaks_the_pseudonyms_link(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    post_form(client, "/me/data", {})
    db.refresh(participant)
    pseudonym = participant.audit_pseudonym
    before = [
        (e.id, e.actor_id, e.actor_label, e.action, e.subject_type, e.subject_id, e.details)
        for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))
    ]
    assert post_form(client, "/me/delete", {"password": PASSWORD}).status_code == 302
    db.expire_all()
    after = [
        (e.id, e.actor_id, e.actor_label, e.action, e.subject_type, e.subject_id, e.details)
        for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))
    ]
    assert after[: len(before)] == before  # untouched
    assert [event[3] for event in after[len(before) :]] == ["account.erase"]
    assert after[-1][5] == pseudonym
    tombstone = db.get(Participant, participant.id)
    assert tombstone is not None and tombstone.audit_pseudonym is None
    assert db.scalar(select(Participant).where(Participant.audit_pseudonym == pseudonym)) is None
