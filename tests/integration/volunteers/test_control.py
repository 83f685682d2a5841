"""Control over contact and data: pause, withdraw and give consent, download, erase (P6)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import (
    Account,
    ActionToken,
    AuditEvent,
    Consent,
    Invitation,
    OutboxMessage,
    Participant,
    Profile,
    ProfileAnswer,
    ProfileCondition,
    ProfileMedication,
    WebSession,
)
from panel_service.services import profiles, questions, tokens, volunteers
from panel_service.timeutil import as_utc, panel_today, pause_ends_at, utcnow
from tests.factories import make_invitation
from tests.support.volunteers import (
    PASSWORD,
    make_volunteer,
    post_form,
    recruiting_study,
    row_counts,
    sign_in,
)


@pytest.fixture()
def vera(client: FlaskClient, db: Session, settings: Settings) -> Participant:
    _account, participant = make_volunteer(db, settings)
    profiles.save_about(
        db,
        settings,
        participant,
        birth_date=dt.date(1980, 4, 23),
        sex="female",
        region="DK-84",
        height_cm=170.0,
        weight_kg=65.0,
        smoker=False,
        pregnant=False,
    )
    profiles.save_codes(db, participant, system="icd10", codes=["G2581"])
    profiles.save_codes(db, participant, system="atc", codes=["A12CC05"])
    sign_in(client, "vera@example.org")
    return participant


def _queued(db: Session, participant_id: int) -> Invitation:
    return make_invitation(db, recruiting_study(db), participant_id, status="queued")


def test_pause_holds_pending_invitations_until_it_ends_and_resume_releases_them(
    client: FlaskClient, db: Session, settings: Settings, vera: Participant
) -> None:
    invitation = _queued(db, vera.id)
    until = panel_today(settings) + dt.timedelta(days=30)
    response = post_form(client, "/me/contact/pause", {"until": until.isoformat()}, token_from="/me/contact")
    assert response.status_code == 302
    db.refresh(invitation)
    db.refresh(vera)
    # Held, not cancelled (P6): due again at the start of the day after the pause.
    assert (invitation.status, invitation.reason) == ("queued", None)
    assert invitation.next_attempt_at is not None
    assert as_utc(invitation.next_attempt_at) == pause_ends_at(settings, until)
    assert vera.contact_paused_until == until
    page = client.get("/me/contact").get_data(as_text=True)
    assert "paused until" in page

    dispatches_before = _dispatch_requests(db)
    post_form(client, "/me/contact/resume", {}, token_from="/me/contact")
    db.refresh(vera)
    db.refresh(invitation)
    assert vera.contact_paused_until is None
    # Ended early: what the pause held is due now, and a dispatch is on its way.
    assert invitation.status == "queued"
    assert invitation.next_attempt_at is not None and as_utc(invitation.next_attempt_at) <= utcnow()
    assert _dispatch_requests(db) == dispatches_before + 1


def test_withdrawal_cancels_what_a_pause_holds(
    client: FlaskClient, db: Session, settings: Settings, vera: Participant
) -> None:
    invitation = _queued(db, vera.id)
    until = panel_today(settings) + dt.timedelta(days=10)
    post_form(client, "/me/contact/pause", {"until": until.isoformat()}, token_from="/me/contact")
    assert post_form(client, "/me/consent/withdraw", {}, token_from="/me/contact").status_code == 302
    db.refresh(invitation)
    assert (invitation.status, invitation.reason) == ("cancelled", "consent_withdrawn")


def _dispatch_requests(db: Session) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.task_name == "contact.dispatch_due")
        )
        or 0
    )


@pytest.mark.parametrize(
    ("offset", "message"), [(0, "after today"), (-3, "after today"), (800, "within two years")]
)
def test_pause_date_must_be_in_the_coming_two_years(
    client: FlaskClient, db: Session, settings: Settings, vera: Participant, offset: int, message: str
) -> None:
    invitation = _queued(db, vera.id)
    before = row_counts(db)
    until = panel_today(settings) + dt.timedelta(days=offset)
    response = post_form(client, "/me/contact/pause", {"until": until.isoformat()}, token_from="/me/contact")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True) and 'href="#until"' in response.get_data(as_text=True)
    assert row_counts(db) == before
    db.refresh(invitation)
    assert invitation.status == "queued"


def test_withdraw_cancels_pending_and_consent_can_be_given_again(
    client: FlaskClient, db: Session, vera: Participant
) -> None:
    invitation = _queued(db, vera.id)
    assert post_form(client, "/me/consent/withdraw", {}, token_from="/me/contact").status_code == 302
    db.refresh(invitation)
    assert (invitation.status, invitation.reason) == ("cancelled", "consent_withdrawn")
    assert volunteers.active_consent(db, vera.id) is None
    refused = post_form(client, "/me/consent/give", {}, token_from="/me/contact")
    assert refused.status_code == 422 and "Tick the box" in refused.get_data(as_text=True)
    assert (
        post_form(client, "/me/consent/give", {"consent": "y"}, token_from="/me/contact").status_code == 302
    )
    consents = db.scalars(select(Consent).where(Consent.participant_id == vera.id).order_by(Consent.id)).all()
    assert len(consents) == 2 and consents[0].withdrawn_at is not None and consents[1].withdrawn_at is None
    assert consents[1].text_version == volunteers.CONSENT_TEXT_VERSION
    matches = db.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.task_name == "matching.match_profile")
    )
    assert matches and matches >= 1


def test_download_contains_everything(client: FlaskClient, db: Session, vera: Participant) -> None:
    make_invitation(db, recruiting_study(db), vera.id)
    answer = questions.Answer(frozenset({"da", "en"}), dt.date(2026, 1, 2))
    questions.save_volunteer_answers(db, vera.id, {"languages": answer}, [], questions.load_catalogue(db))
    response = post_form(client, "/me/data", {})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Cache-Control"] == "private, no-store"
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["email"] == "vera@example.org"
    assert data["identity"]["name"] == "Vera Volunteer"
    assert data["consents"][0]["text_version"] == volunteers.CONSENT_TEXT_VERSION
    assert data["profile"]["birth_date"] == "1980-04-23"
    assert data["profile"]["bmi"] == 22.5
    assert data["profile"]["conditions"] == ["G25.81"] and data["profile"]["medications"] == ["A12CC05"]
    assert data["profile"]["answers"] == {"languages": {"value": ["da", "en"], "answered_on": "2026-01-02"}}
    assert data["invitations"][0]["study_title"] == "Magnesium for restless legs"
    assert data["invitations"][0]["status"] == "sent"
    assert data["sign_ins"]
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "data.export")) is not None


def test_the_erasure_page_says_what_happens_to_details_already_shared(
    client: FlaskClient, vera: Participant
) -> None:
    """Issue 13, item 7: a team that already saw or downloaded the details keeps its copy."""
    page = client.get("/me/delete").get_data(as_text=True)
    assert "stop seeing your name, email and phone number in Panel at once" in page
    assert "it keeps its own copy: Panel cannot delete that" in page
    danish = client.get("/me/delete", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "har holdet sin egen kopi" in danish


def test_delete_needs_the_password(client: FlaskClient, db: Session, vera: Participant) -> None:
    before = row_counts(db)
    response = post_form(client, "/me/delete", {"password": "not my password"})
    assert response.status_code == 422 and "not correct" in response.get_data(as_text=True)
    assert row_counts(db) == before


def test_erasure_leaves_no_identity_or_health_data(
    client: FlaskClient, db: Session, vera: Participant
) -> None:
    account_id = vera.account_id
    sent = make_invitation(db, recruiting_study(db), vera.id)
    queued = _queued(db, vera.id)
    tokens.issue(db, "unsubscribe", ttl=dt.timedelta(days=1), participant_id=vera.id)
    catalogue = questions.load_catalogue(db)
    questions.save_volunteer_answers(
        db, vera.id, {"lives_alone": questions.Answer(True, dt.date(2026, 1, 1))}, [], catalogue
    )
    post_form(client, "/me/data", {})  # an export leaves an audit event naming the account
    response = post_form(client, "/me/delete", {"password": PASSWORD})
    assert response.status_code == 302
    db.expire_all()
    tombstone = db.get(Participant, vera.id)
    assert tombstone is not None and tombstone.erased_at is not None
    assert (tombstone.name, tombstone.phone, tombstone.account_id) == (None, None, None)
    assert db.get(Account, account_id) is None
    assert db.get(Profile, vera.id) is None
    for model in (ProfileCondition, ProfileMedication, ProfileAnswer, Consent):
        assert db.scalar(select(func.count()).select_from(model).where(model.participant_id == vera.id)) == 0
    assert (
        db.scalar(
            select(func.count())
            .select_from(ActionToken)
            .where(or_(ActionToken.participant_id == vera.id, ActionToken.account_id == account_id))
        )
        == 0
    )
    assert (
        db.scalar(select(func.count()).select_from(WebSession).where(WebSession.account_id == account_id))
        == 0
    )
    # Invitations stay for anonymous counts; the one not yet sent is cancelled.
    db.refresh(sent)
    db.refresh(queued)
    assert sent.status == "sent" and (queued.status, queued.reason) == ("cancelled", "erased")
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "account.erase")) is not None
    assert (
        db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.actor_id == account_id)) == 0
    )
    everything = json.dumps(
        [list(row) for row in db.execute(select(AuditEvent.actor_label, AuditEvent.details)).all()]
    )
    assert "vera@example.org" not in everything
    assert client.get("/me").status_code == 302  # signed out
    assert post_form(client, "/login", {"email": "vera@example.org", "password": PASSWORD}).status_code == 401


def test_contact_details_are_editable(client: FlaskClient, db: Session, vera: Participant) -> None:
    response = post_form(client, "/me/details", {"name": "  Vera   V. ", "phone": "+45 12 34 56 78"})
    assert response.status_code == 302
    db.refresh(vera)
    assert (vera.name, vera.phone) == ("Vera V.", "+45 12 34 56 78")
    assert "+45 12 34 56 78" in client.get("/me/contact").get_data(as_text=True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "call me maybe", "digits only"),
        ("phone", "12", "digits only"),
        ("name", " ", "Enter your name"),
    ],
)
def test_bad_contact_details_are_refused(
    client: FlaskClient, db: Session, vera: Participant, field: str, value: str, message: str
) -> None:
    before = row_counts(db)
    response = post_form(client, "/me/details", {"name": "Vera", "phone": "", field: value})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'href="#{field}"' in page and message in page
    assert row_counts(db) == before
