"""The dashboard: invitations with why, answers with what is shared, completeness, and P7."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import AuditEvent, Invitation, Participant
from panel_service.services import dashboard as volunteer_dashboard
from panel_service.services import profiles
from tests.factories import make_invitation, make_recruiting_study
from tests.support.volunteers import (
    make_volunteer,
    post_form,
    recruiting_study,
    sign_in,
)


@pytest.fixture()
def invited(client: FlaskClient, db: Session, settings: Settings) -> tuple[int, int]:
    """Vera, with a restless-legs profile, invited to the demo study; signed in."""
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
    profiles.save_codes(db, participant, system="atc", codes=[])
    version = recruiting_study(db)
    make_invitation(db, version, participant.id)
    sign_in(client, "vera@example.org")
    return participant.id, version.study_id


def test_dashboard_shows_the_invitation_text_and_why_in_plain_words(
    client: FlaskClient, invited: tuple[int, int]
) -> None:
    page = client.get("/me").get_data(as_text=True)
    assert "Magnesium for restless legs" in page
    assert "We are testing whether magnesium eases restless legs." in page
    assert "Why you were invited" in page
    assert "You are 4" in page  # age sentence, e.g. "You are 46, and that is between 18 and 75."
    assert "restless legs" in page.lower()
    assert "Capital Region of Denmark" in page


def test_confirmation_page_names_what_is_shared_with_whom(
    client: FlaskClient, db: Session, invited: tuple[int, int]
) -> None:
    _participant_id, study_id = invited
    page = client.get(f"/me/invitations/{study_id}").get_data(as_text=True)
    assert "Vera Volunteer" in page and "vera@example.org" in page and "none given" in page
    assert "Organisation" in page  # the study's organisation, by name
    assert "do not see your health profile" in page


def test_answer_interested_records_and_audits_the_release(
    client: FlaskClient, db: Session, invited: tuple[int, int]
) -> None:
    participant_id, study_id = invited
    response = post_form(client, f"/me/invitations/{study_id}", {"answer": "interested"})
    assert response.status_code == 302
    invitation = db.get(Invitation, (study_id, participant_id))
    assert invitation is not None and invitation.response == "interested"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "identity.release")) is not None
    again = post_form(client, f"/me/invitations/{study_id}", {"answer": "not_interested"}, token_from="/me")
    assert again.status_code == 302
    db.refresh(invitation)
    assert invitation.response == "interested"


def test_answer_not_interested_releases_nothing(
    client: FlaskClient, db: Session, invited: tuple[int, int]
) -> None:
    participant_id, study_id = invited
    post_form(client, f"/me/invitations/{study_id}", {"answer": "not_interested"})
    invitation = db.get(Invitation, (study_id, participant_id))
    assert invitation is not None and invitation.response == "not_interested"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "identity.release")) is None


def test_after_withdrawing_consent_the_page_says_why_and_releases_nothing(
    client: FlaskClient, db: Session, invited: tuple[int, int]
) -> None:
    participant_id, study_id = invited
    page = client.get(f"/me/invitations/{study_id}").get_data(as_text=True)
    assert "Yes, share my contact details" in page
    assert post_form(client, "/me/consent/withdraw", {}, token_from="/me/contact").status_code == 302
    page = client.get(f"/me/invitations/{study_id}").get_data(as_text=True)
    assert "withdrawn your consent" in page and "Yes, share my contact details" not in page
    response = post_form(client, f"/me/invitations/{study_id}", {"answer": "interested"}, token_from="/me")
    assert response.status_code == 302
    assert "withdrawn your consent" in client.get(response.headers["Location"]).get_data(as_text=True)
    invitation = db.get(Invitation, (study_id, participant_id))
    assert invitation is not None and invitation.response is None
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "identity.release")) is None


def test_volunteer_cannot_read_or_answer_another_volunteers_invitation(
    client: FlaskClient, db: Session, settings: Settings, invited: tuple[int, int]
) -> None:
    vera_id, study_id = invited
    post_form(client, "/logout", {}, token_from="/me")
    make_volunteer(db, settings, "bob@example.org", name="Bob")
    sign_in(client, "bob@example.org")
    assert client.get(f"/me/invitations/{study_id}").status_code == 404
    response = post_form(client, f"/me/invitations/{study_id}", {"answer": "interested"}, token_from="/me")
    assert response.status_code == 404
    assert "Vera" not in client.get("/me").get_data(as_text=True)
    invitation = db.get(Invitation, (study_id, vera_id))
    assert invitation is not None and invitation.response is None


def test_queued_or_cancelled_invitations_are_not_shown(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    make_invitation(db, recruiting_study(db, title="Queued study"), participant.id, status="queued")
    sign_in(client, "vera@example.org")
    assert "Queued study" not in client.get("/me").get_data(as_text=True)


def test_completeness_counts_questions_without_naming_uninvited_studies(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    profiles.save_about(
        db,
        settings,
        participant,
        birth_date=dt.date(1980, 4, 23),
        sex=None,
        region=None,
        height_cm=None,
        weight_kg=None,
        smoker=None,
        pregnant=None,
    )
    recruiting_study(db, title="Secret kidney study")  # needs conditions, pregnancy, medications
    recruiting_study(db, {"field": "smoker", "op": "eq", "value": True}, title="Secret smoking study")
    sign_in(client, "vera@example.org")
    page = client.get("/me").get_data(as_text=True)
    assert "Answering 4 more questions may make you eligible for more studies" in page
    for words in (
        "your health conditions",
        "the medicines you take",
        "whether you smoke",
        "whether you are pregnant",
    ):
        assert words in page
    assert "Secret" not in page and "kidney" not in page.lower() and "magnesium" not in page.lower()
    assert volunteer_dashboard.open_questions(db, settings, participant.id) == [
        "smoker",
        "pregnant",
        "conditions",
        "medications",
    ]


def test_a_study_whose_approval_has_lapsed_prompts_nothing_though_still_marked_recruiting(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    """Until the nightly job stops it, a study past its approval's expiry still says
    "recruiting"; it may not recruit (P5), so neither the profile sections nor the questions'
    count may be prompted for it, as for a study under an approval in force."""
    _account, participant = make_volunteer(db, settings)
    profiles.save_about(
        db, settings, participant, birth_date=dt.date(1980, 4, 23), sex="female", region=None,
        height_cm=None, weight_kg=None, smoker=None, pregnant=False,
    )  # fmt: skip
    today = dt.date.today()
    lapsed = dict(approved_on=today - dt.timedelta(days=400), expires_on=today - dt.timedelta(days=1))
    make_recruiting_study(db, "smoker = true", title="Lapsed smoking study", start_matching=False, **lapsed)
    make_recruiting_study(
        db, "answer willing_mri = true", title="Lapsed scan study", start_matching=False, **lapsed
    )
    sign_in(client, "vera@example.org")
    page = client.get("/me").get_data(as_text=True)
    assert "whether you smoke" not in page
    assert "more question" not in page
    assert volunteer_dashboard.open_questions(db, settings, participant.id) == []

    make_recruiting_study(db, "smoker = true", title="Smoking study", start_matching=False)
    page = client.get("/me").get_data(as_text=True)
    assert "whether you smoke" in page
    assert volunteer_dashboard.open_questions(db, settings, participant.id) == ["smoker"]


def test_invitation_text_keeps_line_breaks_and_is_escaped(
    client: FlaskClient, db: Session, invited: tuple[int, int]
) -> None:
    from panel_service.models import Study, StudyVersion

    _participant_id, study_id = invited
    study = db.get(Study, study_id)
    assert study is not None
    version = db.get(StudyVersion, study.active_version_id)
    assert version is not None
    version.invitation_text = "Line one\nLine two <b>bold</b>\n\nSecond paragraph"
    db.flush()
    page = client.get(f"/me/invitations/{study_id}").get_data(as_text=True)
    assert "<p>Line one<br>Line two &lt;b&gt;bold&lt;/b&gt;</p>" in page
    assert "<p>Second paragraph</p>" in page


def test_an_unanswered_catalogue_question_is_counted_and_linked_without_naming_it(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    profiles.save_about(
        db, settings, participant, birth_date=dt.date(1980, 4, 23), sex="female", region=None,
        height_cm=None, weight_kg=None, smoker=False, pregnant=False,
    )  # fmt: skip
    make_recruiting_study(db, "answer willing_mri = true", title="Secret scan study")
    sign_in(client, "vera@example.org")
    page = client.get("/me").get_data(as_text=True)
    assert "Answering 1 more question could make you eligible for studies." in page
    assert 'href="/me/questions/next"' in page
    assert "Secret" not in page and "MRI" not in page
    # The profile sections list leaves the catalogue's questions to that count.
    assert volunteer_dashboard.open_questions(db, settings, participant.id) == []


def test_a_danish_volunteer_reads_why_in_danish_on_the_dashboard_and_the_invitation_page(
    client: FlaskClient, db: Session, invited: tuple[int, int]
) -> None:
    participant_id, study_id = invited
    participant = db.get(Participant, participant_id)
    assert participant is not None
    participant.language = "da"
    db.commit()
    # The explanation follows the page's language (here the browser's), as the towns beside it do.
    for path in ("/me", f"/me/invitations/{study_id}"):
        page = client.get(path, headers={"Accept-Language": "da"}).get_data(as_text=True)
        assert "Du er 4" in page, path  # "Du er 46 år, og det er mellem 18 og 75."
        assert "du har fortalt os" in page.lower(), path
        assert "You are 4" not in page, path


def test_the_dashboard_says_when_there_is_no_consent_to_contact(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    """The notice follows the consent: shown without one, gone once given, back once withdrawn
    (read with the profile since webpush, no longer as the consent row)."""
    make_volunteer(db, settings, consent=False)
    sign_in(client, "vera@example.org")
    notice = "You have not given consent to be contacted"
    assert notice in client.get("/me").get_data(as_text=True)
    assert (
        post_form(client, "/me/consent/give", {"consent": "y"}, token_from="/me/contact").status_code == 302
    )
    assert notice not in client.get("/me").get_data(as_text=True)
    assert post_form(client, "/me/consent/withdraw", {}, token_from="/me/contact").status_code == 302
    assert notice in client.get("/me").get_data(as_text=True)


def test_the_dashboard_read_with_the_sign_in_check_shows_every_change_at_once_and_refuses_at_once(
    client: FlaskClient, db: Session, settings: Settings, invited: tuple[int, int]
) -> None:
    """``/me`` is read by the sign-in check's own statement (``web.auth.read_with_sign_in``): what
    it shows is read on every request, so a pause, an answer and a new invitation show on the
    very next page (P6), and the check refuses as it always did: a revoked session or a
    disabled account is signed out, an erased volunteer is refused."""
    from sqlalchemy import update

    from panel_service.models import Account, WebSession
    from panel_service.services import volunteers

    participant_id, _study_id = invited
    page = client.get("/me").get_data(as_text=True)
    assert "Answer this invitation" in page and "You have paused contact" not in page
    participant = db.get(Participant, participant_id)
    assert participant is not None
    volunteers.pause_contact(db, settings, participant, dt.date.today() + dt.timedelta(days=30))
    db.flush()
    assert "You have paused contact until" in client.get("/me").get_data(as_text=True)
    invitation = db.scalars(select(Invitation).where(Invitation.participant_id == participant_id)).one()
    invitation.response = "not_interested"
    db.flush()
    page = client.get("/me").get_data(as_text=True)
    assert "You said you are not interested." in page and "Answer this invitation" not in page
    make_invitation(db, recruiting_study(db, title="A second study"), participant_id)
    assert "A second study" in client.get("/me").get_data(as_text=True)
    # An erased volunteer: refused at once.
    participant.erased_at = dt.datetime.now(dt.UTC)
    db.flush()
    assert client.get("/me").status_code == 403
    participant.erased_at = None
    db.flush()
    assert client.get("/me").status_code == 200
    # A disabled account, then a revoked session: signed out at once.
    account_id = participant.account_id
    db.execute(update(Account).where(Account.id == account_id).values(is_active=False))
    assert client.get("/me").status_code == 302
    db.execute(update(Account).where(Account.id == account_id).values(is_active=True))
    assert client.get("/me").status_code == 200
    db.execute(
        update(WebSession)
        .where(WebSession.account_id == account_id)
        .values(revoked_at=dt.datetime.now(dt.UTC))
    )
    response = client.get("/me")
    assert response.status_code == 302 and "/login" in response.location


def test_explanations_and_the_sections_prompt_follow_a_profile_change_on_the_next_page(
    client: FlaskClient, db: Session, settings: Settings, invited: tuple[int, int]
) -> None:
    """What the dashboard works out from the profile (each invitation's "why", the sections'
    prompt) is kept per process under the stored profile as read, the catalogue's stamp, the
    version, the day and the language: the same page twice is worked out once, and a changed
    profile is a new key, shown on the very next page."""
    from tests.support.volunteers import DEMO_CRITERIA

    participant_id, _study_id = invited
    participant = db.get(Participant, participant_id)
    assert participant is not None
    criteria = {"all": [DEMO_CRITERIA, {"field": "smoker", "op": "eq", "value": False}]}
    recruiting_study(db, criteria=criteria, title="A smokers' study")
    first = client.get("/me").get_data(as_text=True)
    assert first == client.get("/me").get_data(as_text=True)
    assert "You are 4" in first

    def answer_smoking(smoker: bool | None) -> None:  # the rest of "about you" as the fixture has it
        profiles.save_about(
            db,
            settings,
            participant,
            birth_date=dt.date(1990, 4, 23),
            sex="female",
            region="DK-84",
            height_cm=170.0,
            weight_kg=65.0,
            smoker=smoker,
            pregnant=False,
        )
        db.flush()

    answer_smoking(None)
    changed = client.get("/me").get_data(as_text=True)
    assert "You are 3" in changed and "You are 4" not in changed
    assert "whether you smoke" in changed and "whether you smoke" not in first
    answer_smoking(True)
    assert "whether you smoke" not in client.get("/me").get_data(as_text=True)
