"""P5: an approval pins everything a volunteer sees (title, summary, organisation name, sites,
invitation text). An edit of any of them, through the API or the web form, makes a new version
that awaits review while volunteers keep seeing the approved one: in the email a real dispatch
sends, on the public home page, on the answer page and on their own invitation pages."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import AuditEvent, Organisation, Study, StudyVersion
from panel_service.runtime import Runtime
from panel_service.services import dashboard as volunteer_dashboard
from tests.integration.coordinators.conftest import STUDY_BODY, Staff, api, make_volunteer, study_in
from tests.integration.coordinators.test_api_studies import approval_body
from tests.integration.coordinators.test_web_pages import form_body, post_form, sign_in
from tests.support.services import SmtpRecorder
from tests.support.volunteers import row_counts
from tests.support.worker import wait_until

APPROVED_TITLE = STUDY_BODY["title"]
NEW_TITLE = "Magnesium and sleep quality"
SITE = {"name": "Aarhus University Hospital", "lat": 56.19, "lon": 10.17}
ANSWER_LINK = re.compile(r"/invitations/answer/([A-Za-z0-9_\-.]+)\?answer=interested")


def edits(db: Session, sid: int) -> list[dict[str, Any]]:
    return list(
        db.scalars(
            select(AuditEvent.details)
            .where(AuditEvent.action == "study.edit", AuditEvent.subject_id == str(sid))
            .order_by(AuditEvent.id)
        )
    )


def versions(db: Session, sid: int) -> int:
    return int(
        db.scalar(select(func.count()).select_from(StudyVersion).where(StudyVersion.study_id == sid)) or 0
    )


def invitations(smtp: SmtpRecorder, count: int) -> list[EmailMessage]:
    """The invitations received, once there are ``count``; the coordinators' review-decision
    emails, which go out through the same relay, are left aside."""
    found: list[EmailMessage] = []

    def arrived() -> bool:
        with smtp.lock:
            found[:] = [m for m in smtp.messages if m["Subject"].startswith("Invitation to a research study")]
        return len(found) >= count

    wait_until(arrived, 10, f"{count} invitations")
    return found


def plain(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", NEW_TITLE),
        ("summary", "A new summary that volunteers would read."),
        ("invitation_text", "A new invitation text."),
        ("sites", [SITE]),
    ],
)
def test_api_edit_of_what_volunteers_see_makes_a_pending_version_and_an_audit_event(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff, field: str, value: Any
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    response = api(client, "PUT", f"/studies/{sid}", coordinator, json={**STUDY_BODY, field: value})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "recruiting" and body["version"] == 2
    assert body["pending_version"][field] == value and body["pending_version"]["review_state"] == "draft"
    active = body["active_version"]
    assert active["number"] == 1 and active["title"] == APPROVED_TITLE and active["sites"] == []
    assert active["organisation_name"] == "Aarhus Sleep Clinic"
    assert body["pending_version"]["content_hash"] != active["content_hash"]
    assert edits(db, sid) == [{"version": 2, "changed": [field]}]
    # The same body again changes nothing: no version, no event.
    again = api(client, "PUT", f"/studies/{sid}", coordinator, json={**STUDY_BODY, field: value})
    assert again.status_code == 200 and again.get_json()["version"] == 2
    assert versions(db, sid) == 2 and len(edits(db, sid)) == 1


def test_put_without_sites_keeps_them_and_an_in_review_title_edit_goes_back_to_draft(
    client: FlaskClient, db: Session, coordinator: Staff
) -> None:
    created = api(client, "POST", "/studies", coordinator, json={**STUDY_BODY, "sites": [SITE]})
    assert created.status_code == 201 and created.get_json()["sites"] == [SITE]
    sid = created.get_json()["id"]
    assert api(client, "POST", f"/studies/{sid}/submit", coordinator).status_code == 200
    same = api(client, "PUT", f"/studies/{sid}", coordinator, json=STUDY_BODY)  # no "sites" key
    assert same.get_json()["status"] == "in_review" and versions(db, sid) == 1
    edited = api(client, "PUT", f"/studies/{sid}", coordinator, json={**STUDY_BODY, "title": NEW_TITLE})
    assert edited.get_json()["status"] == "draft" and edited.get_json()["title"] == NEW_TITLE
    assert edited.get_json()["sites"] == [SITE] and versions(db, sid) == 2


def test_web_form_edit_of_title_and_sites_makes_a_pending_version(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    sign_in(client, db, settings, coordinator)
    edit_url = f"/coordinators/studies/{sid}/edit"
    sites = "Aarhus University Hospital; 56.19; 10.17\n\nOdense University Hospital; 55,38; 10,37\n"
    response = post_form(client, edit_url, edit_url, form_body(title=NEW_TITLE, sites=sites))
    assert response.status_code == 302, response.get_data(as_text=True)
    db.expire_all()
    study = db.get(Study, sid)
    assert study is not None and study.status == "recruiting"
    assert study.active_version is not None and study.active_version.title == APPROVED_TITLE
    pending = study.latest_version
    assert pending is not None and pending.number == 2 and pending.review_state == "draft"
    assert pending.title == NEW_TITLE
    assert pending.sites == [
        {"name": "Aarhus University Hospital", "lat": 56.19, "lon": 10.17},
        {"name": "Odense University Hospital", "lat": 55.38, "lon": 10.37},
    ]
    assert edits(db, sid) == [{"version": 2, "changed": ["title", "sites"]}]
    page = client.get(f"/coordinators/studies/{sid}").get_data(as_text=True)
    assert "Pending: version 2" in page and "Odense University Hospital (55.38, 10.37)" in page
    assert f"titled “{APPROVED_TITLE}”" in page
    # The edit form shows the sites back one a line.
    assert "Odense University Hospital; 55.38; 10.37" in client.get(edit_url).get_data(as_text=True)


@pytest.mark.parametrize(
    ("sites", "path"),
    [
        ([SITE, {"name": "B", "lat": 91, "lon": 0}], "sites[1].lat"),
        ([{"name": "B", "lat": 10, "lon": -180.5}], "sites[0].lon"),
        ([{"name": "B", "lat": "north", "lon": 0}], "sites[0].lat"),
        ([{"name": "B", "lat": True, "lon": 0}], "sites[0].lat"),
        ([{"name": "Clinic\u0000", "lat": 1, "lon": 2}], "sites[0].name"),
        ([{"name": "Clinic\nB", "lat": 1, "lon": 2}], "sites[0].name"),
        ([{"name": "", "lat": 1, "lon": 2}], "sites[0].name"),
        ([{"name": "x" * 201, "lat": 1, "lon": 2}], "sites[0].name"),
        ([{"name": "B", "lat": 1}], "sites[0].lon"),
        ([{"name": "B", "lat": 1, "lon": 2, "city": "Aarhus"}], "sites[0].city"),
        ([SITE] * 51, "sites"),
        ({"name": "B"}, "sites"),
        (["Aarhus"], "sites[0]"),
    ],
)
def test_bad_sites_are_refused_naming_the_path_and_nothing_is_written(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff, sites: Any, path: str
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    before = row_counts(db)
    for method, url in (("POST", "/studies"), ("PUT", f"/studies/{sid}")):
        response = api(client, method, url, coordinator, json={**STUDY_BODY, "sites": sites})
        assert response.status_code == 422, response.get_json()
        assert path in response.get_json()["error"]["fields"], response.get_json()
    assert row_counts(db) == before


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400, "NaN", "Infinity"])
def test_huge_and_special_numbers_in_sites_are_refused(
    client: FlaskClient, db: Session, coordinator: Staff, number: str
) -> None:
    before = row_counts(db)
    site = '{"name": "B", "lat": %s, "lon": 0}' % number  # noqa: UP031 - JSON text, not a Python value
    text = json.dumps({**STUDY_BODY, "sites": ["SITE"]}).replace('"SITE"', site)
    response = api(client, "POST", "/studies", coordinator, data=text, content_type="application/json")
    assert response.status_code in (400, 422), response.get_json()
    assert response.get_json()["error"]["fields"], response.get_json()
    assert row_counts(db) == before


def test_web_form_refuses_bad_site_lines_at_their_line(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    sign_in(client, db, settings, coordinator)
    before = row_counts(db)
    edit_url = f"/coordinators/studies/{sid}/edit"
    sites = "Aarhus University Hospital; 95; 10.17\nOdense, no coordinates\n"
    response = post_form(client, edit_url, edit_url, form_body(title="", sites=sites))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="sites-error"' in page and 'id="title-error"' in page
    assert "Line 1: latitude must be between -90 and 90" in page
    assert "Line 2: write one site a line as: Name; latitude; longitude" in page
    assert row_counts(db) == before


def test_volunteers_see_the_approved_version_until_the_edit_is_approved(
    client: FlaskClient,
    db: Session,
    runtime: Runtime,
    smtp: SmtpRecorder,
    coordinator: Staff,
    reviewer: Staff,
) -> None:
    first = make_volunteer(db)
    sid = study_in(db, coordinator, reviewer, "recruiting")  # matching is queued, not yet run
    edited = api(
        client,
        "PUT",
        f"/studies/{sid}",
        coordinator,
        json={**STUDY_BODY, "title": NEW_TITLE, "sites": [SITE], "invitation_text": "Unapproved words."},
    )
    assert edited.status_code == 200
    db.commit()
    runtime.relay.drain()  # type: ignore[attr-defined]

    [message] = invitations(smtp, 1)
    text = plain(message)
    assert APPROVED_TITLE in message["Subject"] and NEW_TITLE not in message["Subject"]
    assert APPROVED_TITLE in text and STUDY_BODY["invitation_text"] in text
    assert NEW_TITLE not in text and "Unapproved words." not in text and SITE["name"] not in text
    home = client.get("/").get_data(as_text=True)
    assert APPROVED_TITLE in home and NEW_TITLE not in home
    token = ANSWER_LINK.search(text)
    assert token is not None
    answer_page = client.get(f"/invitations/answer/{token.group(1)}").get_data(as_text=True)
    assert APPROVED_TITLE in answer_page and NEW_TITLE not in answer_page
    [seen] = volunteer_dashboard.visible_invitations(db, runtime.settings, first)
    assert seen.title == APPROVED_TITLE and seen.invitation_text == STUDY_BODY["invitation_text"]

    # The new version is submitted and approved: from now on volunteers see it.
    assert api(client, "POST", f"/studies/{sid}/submit", coordinator).status_code == 200
    approved = api(client, "POST", f"/studies/{sid}/approval", reviewer, json=approval_body(version=2))
    assert approved.status_code == 200, approved.get_json()
    second = make_volunteer(db)
    db.commit()
    runtime.relay.drain()  # type: ignore[attr-defined]
    messages = invitations(smtp, 2)
    assert len(messages) == 2
    newer = plain(messages[1])
    assert NEW_TITLE in messages[1]["Subject"] and "Unapproved words." in newer and SITE["name"] in newer
    home = client.get("/").get_data(as_text=True)
    assert NEW_TITLE in home and APPROVED_TITLE not in home and SITE["name"] in home
    [seen] = volunteer_dashboard.visible_invitations(db, runtime.settings, second)
    assert seen.title == NEW_TITLE and seen.sites == (SITE["name"],)


def test_an_organisation_renamed_after_approval_is_not_what_volunteers_see(
    client: FlaskClient,
    db: Session,
    runtime: Runtime,
    smtp: SmtpRecorder,
    coordinator: Staff,
    reviewer: Staff,
) -> None:
    volunteer = make_volunteer(db)
    sid = study_in(db, coordinator, reviewer, "recruiting")
    organisation = db.get(Organisation, coordinator.account.organisation_id)
    assert organisation is not None and organisation.name == "Aarhus Sleep Clinic"
    organisation.name = "Renamed Commercial Sponsor"
    db.commit()
    runtime.relay.drain()  # type: ignore[attr-defined]

    [message] = invitations(smtp, 1)
    text = plain(message)
    assert "Aarhus Sleep Clinic" in text and "Renamed" not in text
    home = client.get("/").get_data(as_text=True)
    assert "Aarhus Sleep Clinic" in home and "Renamed" not in home
    token = ANSWER_LINK.search(text)
    assert token is not None
    answer_page = client.get(f"/invitations/answer/{token.group(1)}").get_data(as_text=True)
    assert "Aarhus Sleep Clinic" in answer_page and "Renamed" not in answer_page
    [seen] = volunteer_dashboard.visible_invitations(db, runtime.settings, volunteer)
    assert seen.organisation == "Aarhus Sleep Clinic"
    # The next edit takes the new name into a new version, which needs its own approval.
    edited = api(client, "PUT", f"/studies/{sid}", coordinator, json=STUDY_BODY).get_json()
    assert edited["pending_version"]["organisation_name"] == "Renamed Commercial Sponsor"
    assert edited["active_version"]["organisation_name"] == "Aarhus Sleep Clinic"
    assert edits(db, sid)[-1] == {"version": 2, "changed": ["organisation_name"]}


def test_the_reviewer_sees_everything_volunteers_will_see(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    body = {**STUDY_BODY, "summary": "Summary for volunteers.", "sites": [SITE]}
    sid = api(client, "POST", "/studies", coordinator, json=body).get_json()["id"]
    api(client, "POST", f"/studies/{sid}/submit", coordinator)
    sign_in(client, db, settings, reviewer)
    page = client.get(f"/review/studies/{sid}").get_data(as_text=True)
    for shown in (
        STUDY_BODY["title"],
        "Summary for volunteers.",
        "Aarhus Sleep Clinic",
        STUDY_BODY["invitation_text"],
        "Aarhus University Hospital (56.19, 10.17)",
        "has condition G25.8",
    ):
        assert shown in page
    queue = client.get("/review/").get_data(as_text=True)
    assert "Summary for volunteers." in queue and "Aarhus University Hospital" in queue
