"""The life cycle of §5 through the API: every legal step works, every illegal one is a 409."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from panel_service.models import Study
from tests.integration.coordinators.conftest import STUDY_BODY, Staff, api, study_in
from tests.integration.coordinators.test_api_studies import approval_body

STATUSES = ("draft", "in_review", "rejected", "approved", "recruiting", "paused", "closed")
LEGAL = {
    "submit": {"draft": "in_review"},
    "approve": {"in_review": "approved"},
    "reject": {"in_review": "rejected"},
    "recruit": {"approved": "recruiting", "paused": "recruiting"},
    "pause": {"recruiting": "paused"},
    "close": {status: "closed" for status in STATUSES if status != "closed"},
    "edit": {
        "draft": "draft",
        "in_review": "draft",
        "rejected": "draft",
        "approved": "approved",
        "recruiting": "recruiting",
        "paused": "paused",
    },
}


def act(client: FlaskClient, action: str, sid: int, coordinator: Staff, reviewer: Staff):  # type: ignore[no-untyped-def]
    if action == "approve":
        return api(client, "POST", f"/studies/{sid}/approval", reviewer, json=approval_body())
    if action == "reject":
        return api(client, "POST", f"/studies/{sid}/reject", reviewer, json={"reason": "Not yet"})
    if action == "edit":
        return api(client, "PUT", f"/studies/{sid}", coordinator, json={**STUDY_BODY, "target_enrolment": 99})
    return api(client, "POST", f"/studies/{sid}/{action}", coordinator)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", sorted(LEGAL))
def test_every_step_from_every_status(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff, status: str, action: str
) -> None:
    sid = study_in(db, coordinator, reviewer, status)
    response = act(client, action, sid, coordinator, reviewer)
    expected = LEGAL[action].get(status)
    if expected is None:
        assert response.status_code == 409, response.get_json()
        error = response.get_json()["error"]
        assert error["message"].startswith("Cannot") or "review" in error["message"]
        db.expire_all()
        assert db.get(Study, sid).status == status  # type: ignore[union-attr]
    else:
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == expected


def test_recruit_refused_when_the_approval_has_expired(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    import datetime as dt

    from panel_service.models import EthicsApproval

    sid = study_in(db, coordinator, reviewer, "approved")
    study = db.get(Study, sid)
    assert study is not None and study.active_version is not None
    approval = db.get(EthicsApproval, study.active_version.approval.id)  # type: ignore[union-attr]
    assert approval is not None
    approval.approved_on = dt.date.today() - dt.timedelta(days=400)
    approval.expires_on = dt.date.today()
    db.flush()
    response = api(client, "POST", f"/studies/{sid}/recruit", coordinator)
    assert response.status_code == 409
    assert "approval" in response.get_json()["error"]["message"]


def test_rejected_pending_version_leaves_the_recruiting_study_alone(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    api(client, "PUT", f"/studies/{sid}", coordinator, json={**STUDY_BODY, "target_enrolment": 99})
    api(client, "POST", f"/studies/{sid}/submit", coordinator)
    rejected = api(client, "POST", f"/studies/{sid}/reject", reviewer, json={"reason": "Wording"}).get_json()
    assert rejected["status"] == "recruiting"
    assert rejected["active_version"]["number"] == 1
    assert rejected["pending_version"]["review_state"] == "rejected"


def test_close_cancels_pending_invitations_with_a_reason(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    from sqlalchemy import select

    from panel_service.models import Invitation
    from tests.integration.coordinators.conftest import make_volunteer
    from tests.integration.coordinators.test_reports import invite

    sid = study_in(db, coordinator, reviewer, "recruiting")
    waiting, sent = make_volunteer(db), make_volunteer(db)
    invite(db, sid, waiting, "queued")
    invite(db, sid, sent, "sent")
    assert api(client, "POST", f"/studies/{sid}/close", coordinator).status_code == 200
    db.expire_all()
    rows = {
        row.participant_id: row for row in db.scalars(select(Invitation).where(Invitation.study_id == sid))
    }
    assert (rows[waiting].status, rows[waiting].reason) == ("cancelled", "study_closed")
    assert rows[sent].status == "sent"


def test_edit_or_close_takes_a_version_out_of_the_review_queue(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    from panel_service.services.studies import review_queue

    edited = study_in(db, coordinator, reviewer, "in_review")
    closed = study_in(db, coordinator, reviewer, "in_review")
    assert {version.study_id for version in review_queue(db)} >= {edited, closed}
    api(client, "PUT", f"/studies/{edited}", coordinator, json={**STUDY_BODY, "target_enrolment": 5})
    api(client, "POST", f"/studies/{closed}/close", coordinator)
    db.expire_all()
    assert not {version.study_id for version in review_queue(db)} & {edited, closed}
