"""The admin page of one study's invitations: status, reason, attempts, last error with addresses
removed, times; filtered by status, 50 a page; a participant's contact history (consent, pause,
resume) from the audit trail. Bad filters get a clear error, never a 500. Who may open it is in
test_authorization.py."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import Participant, Study
from panel_service.services import consent, volunteers
from tests.factories import make_invitation
from tests.integration.coordinators.conftest import make_staff
from tests.integration.coordinators.test_web_pages import sign_in
from tests.support.volunteers import make_volunteer, recruiting_study


def test_an_admin_sees_a_studys_invitations_by_id_with_addresses_removed(
    app: Flask, db: Session, settings: Settings
) -> None:
    version = recruiting_study(db)
    _, vera = make_volunteer(db, settings, "vera@example.org", name="Vera Volunteer")
    _, olga = make_volunteer(db, settings, "olga@example.org", name="Olga Other")
    make_invitation(db, version, vera.id, status="sent")
    stuck = make_invitation(db, version, olga.id, status="ambiguous")
    stuck.attempts = 2
    stuck.last_error = "550 5.1.1 <olga@example.org>: Recipient address rejected"
    db.flush()
    volunteers.pause_contact(db, settings, olga, dt.date.today() + dt.timedelta(days=10))
    volunteers.resume_contact(db, settings, olga)
    consent.withdraw_contact_consent(db, olga.id, via=consent.VIA_VOLUNTEER_PAGE)
    db.flush()
    url = f"/admin/studies/{version.study_id}/invitations"
    with app.test_client() as client:
        sign_in(client, db, settings, make_staff(db, "admin"))
        every = client.get(url)
        assert every.status_code == 200
        page = every.get_data(as_text=True)
        assert f">{vera.id}</a>" in page and f">{olga.id}</a>" in page
        study = db.get(Study, version.study_id)
        assert study is not None and f"Invitations of study {study.id}: {study.latest_title}</h1>" in page
        assert "Recipient address rejected" in page and "[address]" in page
        for identity in ("olga@example.org", "vera@example.org", "Olga Other", "Vera Volunteer"):
            assert identity not in page

        ambiguous = client.get(f"{url}?status=ambiguous").get_data(as_text=True)
        assert f">{olga.id}</a>" in ambiguous and f">{vera.id}</a>" not in ambiguous

        history = client.get(f"{url}?participant={olga.id}").get_data(as_text=True)
        assert f"Contact history of participant {olga.id}" in history
        actions = [a for a in ("consent.give", "contact.pause", "contact.resume", "consent.withdraw")]
        positions = [history.index(f"<td>{action}</td>") for action in actions]
        assert positions == sorted(positions)  # in the order they happened, each with its time


def test_bad_filters_get_a_clear_error_and_unknown_studies_a_404(
    app: Flask, db: Session, settings: Settings
) -> None:
    version = recruiting_study(db)
    url = f"/admin/studies/{version.study_id}/invitations"
    with app.test_client() as client:
        sign_in(client, db, settings, make_staff(db, "admin"))
        bad_status = client.get(f"{url}?status=lost")
        assert bad_status.status_code == 400
        text = bad_status.get_data(as_text=True)
        assert "Unknown status" in text and "queued, claimed, sent, cancelled, ambiguous, failed" in text
        for query in ("page=0", "page=two", "participant=-3"):
            response = client.get(f"{url}?{query}")
            assert response.status_code == 400, query
            assert "must be a whole number from 1" in response.get_data(as_text=True)
        assert client.get(f"/admin/studies/{version.study_id + 999}/invitations").status_code == 404


def test_the_invitations_page_is_paginated(app: Flask, db: Session, settings: Settings) -> None:
    version = recruiting_study(db)
    people = [Participant(name=f"Person {n}") for n in range(53)]
    db.add_all(people)
    db.flush()
    for person in people:
        make_invitation(db, version, person.id, status="queued")
    url = f"/admin/studies/{version.study_id}/invitations"
    ids = sorted(person.id for person in people)
    with app.test_client() as client:
        sign_in(client, db, settings, make_staff(db, "admin"))
        first = client.get(url).get_data(as_text=True)
        second = client.get(f"{url}?page=2").get_data(as_text=True)
    assert "53 invitations." in first and "Page 1 of 2" in first and 'rel="next"' in first
    assert f">{ids[49]}</a>" in first and f">{ids[50]}</a>" not in first
    assert "Page 2 of 2" in second and all(f">{pid}</a>" in second for pid in ids[50:])
    assert f">{ids[0]}</a>" not in second
