"""Taking back an "interested" answer (issue 13 item 7): the volunteer leaves the respondents
list at once, the withdrawal is audited, and the study team is told over real SMTP."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.vocab import Role
from panel_service.models import Account, AuditEvent, Invitation, Study
from panel_service.runtime import Runtime
from panel_service.services import invitations, study_reports
from panel_service.services.errors import NotFound
from tests.factories import AccountFactory, bound_to, make_invitation
from tests.support.services import SmtpRecorder
from tests.support.volunteers import make_volunteer, post_form, recruiting_study, sign_in


def _body(message: object) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined, no-any-return]


def test_taking_back_interest_tells_the_team_and_leaves_the_list(
    mail_runtime: tuple[Runtime, SmtpRecorder], client: FlaskClient, settings: Settings
) -> None:
    runtime, smtp = mail_runtime
    with runtime.database.session_scope() as session:
        _account, participant = make_volunteer(session, settings, "tess@example.org", name="Tess Taker")
        version = recruiting_study(session)
        study_id = version.study_id
        invitation = make_invitation(session, version, participant.id)
        invitation.response, invitation.responded_at = "interested", dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
        with bound_to(session):
            organisation_id = version.study.organisation_id
            team = AccountFactory(
                email="team@example.org", role=Role.COORDINATOR, organisation_id=organisation_id
            )
        participant_id, team_id = participant.id, team.id
        assert study_reports.respondents(session, team, version.study)[1] == 1
    sign_in(client, "tess@example.org")
    page = client.get(f"/me/invitations/{study_id}").get_data(as_text=True)
    assert "Take back my answer" in page
    response = post_form(
        client, f"/me/invitations/{study_id}/withdraw", {}, token_from=f"/me/invitations/{study_id}"
    )
    assert response.status_code == 302
    assert "You have taken back your answer" in client.get(response.location).get_data(as_text=True)
    runtime.relay.drain()  # type: ignore[attr-defined]
    message = smtp.wait_for(1, timeout=10)[0]
    assert smtp.to_addresses() == ["team@example.org"]
    assert message["Subject"] == "A volunteer has taken back their interest in “Magnesium for restless legs”"
    assert "Tess Taker (tess@example.org)" in _body(message)
    with runtime.database.session_scope() as session:
        row = session.scalar(select(Invitation).where(Invitation.participant_id == participant_id))
        assert row is not None and row.response == "not_interested"
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "identity.release_withdrawn"))
        team_account = session.get_one(Account, team_id)
        assert study_reports.respondents(session, team_account, session.get_one(Study, study_id)) == ([], 0)
    # A second time: nothing to take back, a 404, and no second email.
    again = post_form(
        client, f"/me/invitations/{study_id}/withdraw", {}, token_from=f"/me/invitations/{study_id}"
    )
    assert again.status_code == 404


def test_only_an_interested_answer_can_be_taken_back(db: Session, settings: Settings) -> None:
    _account, participant = make_volunteer(db, settings)
    version = recruiting_study(db)
    make_invitation(db, version, participant.id)
    with pytest.raises(NotFound):
        invitations.withdraw_interest(db, study_id=version.study_id, participant_id=participant.id)
