"""The outcome a coordinator records per respondent (screened, enrolled, not enrolled): saved from
the respondents page, audited, counted on the funnel against the target through the one
suppression function (P4), and exported as FHIR ResearchSubject status."""

from __future__ import annotations

import datetime as dt
import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import AuditEvent, RespondentOutcome
from tests.integration.coordinators.conftest import Staff, api, make_volunteer, study_in
from tests.integration.coordinators.test_reports import invite
from tests.integration.coordinators.test_web_pages import csrf_from, sign_in

COUNT = re.compile(r'<span class="count">([^<]*)</span>')


def _respondents(db: Session, sid: int, number: int) -> list[int]:
    people = []
    for index in range(number):
        person = make_volunteer(db)
        invite(
            db,
            sid,
            person,
            "sent",
            response="interested",
            responded_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=index),
        )
        people.append(person)
    return people


def _record(client: FlaskClient, sid: int, person: int, outcome: str) -> int:
    page = client.get(f"/coordinators/studies/{sid}/respondents").get_data(as_text=True)
    response = client.post(
        f"/coordinators/studies/{sid}/respondents/{person}/outcome",
        data={"csrf_token": csrf_from(page), "outcome": outcome},
    )
    return response.status_code


def test_outcomes_are_recorded_audited_and_exported_as_research_subjects(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    first, second, third = _respondents(db, sid, 3)
    uninterested = make_volunteer(db)
    invite(db, sid, uninterested, "sent", response="not_interested", responded_at=dt.datetime.now(dt.UTC))
    sign_in(client, db, settings, coordinator)
    assert _record(client, sid, first, "screened") == 302
    assert _record(client, sid, first, "enrolled") == 302
    assert _record(client, sid, second, "not_enrolled") == 302
    assert _record(client, sid, uninterested, "enrolled") == 404  # not a respondent
    assert _record(client, sid, third, "cured") == 400  # not an outcome
    page = client.get(f"/coordinators/studies/{sid}/respondents").get_data(as_text=True)
    assert '<option value="enrolled" selected>enrolled</option>' in page
    assert '<option value="not_enrolled" selected>not enrolled</option>' in page
    stored = {row.participant_id: row.outcome for row in db.scalars(select(RespondentOutcome))}
    assert stored == {first: "enrolled", second: "not_enrolled"}
    audited = [
        event.details
        for event in db.scalars(select(AuditEvent).where(AuditEvent.action == "respondent.outcome"))
    ]
    assert {"participant": first, "from": "screened", "to": "enrolled"} in audited and len(audited) == 3
    # Clearing is recorded too.
    assert _record(client, sid, second, "") == 302
    assert db.get(RespondentOutcome, (sid, second)) is None

    download = client.get(f"/coordinators/studies/{sid}/respondents.fhir.json")
    assert download.mimetype == "application/fhir+json"
    bundle = download.get_json()
    assert bundle["resourceType"] == "Bundle" and bundle["total"] == 3
    status = {
        entry["resource"]["identifier"][0]["value"]: entry["resource"]["status"] for entry in bundle["entry"]
    }
    assert status == {str(first): "on-study", str(second): "candidate", str(third): "candidate"}
    subject = bundle["entry"][0]["resource"]
    assert subject["resourceType"] == "ResearchSubject"
    assert subject["study"] == {"reference": f"ResearchStudy/study-{sid}"}
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "respondents.export")) is not None
    # The same through the API, for the owning coordinator only.
    api_bundle = api(client, "GET", f"/studies/{sid}/fhir/subjects", coordinator)
    assert api_bundle.status_code == 200 and api_bundle.get_json()["total"] == 3
    assert api(client, "GET", f"/studies/{sid}/fhir/subjects", reviewer).status_code == 403


def test_the_funnel_counts_outcomes_against_the_target_never_from_1_to_10(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    people = _respondents(db, sid, 14)
    sign_in(client, db, settings, coordinator)
    for person in people[:3]:
        _record(client, sid, person, "enrolled")
    html = client.get(f"/coordinators/studies/{sid}/funnel").get_data(as_text=True)
    assert "Against your target" in html and "Waiting to be sent" in html and "Could not be sent" in html
    counts = COUNT.findall(html)
    assert counts and all(value == "fewer than 11" or int(value) >= 11 for value in counts), counts
    for small in range(1, 11):
        assert f'<span class="count">{small}</span>' not in html
    for person in people[3:12]:
        _record(client, sid, person, "enrolled")
    html = client.get(f"/coordinators/studies/{sid}/funnel").get_data(as_text=True)
    assert re.search(r'Enrolled</th><td><span class="count">12</span>', html), html
