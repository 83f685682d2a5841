"""Coordinator pages that protect against mistakes and read well (issue 13, items 9 and 10):
closing asks first and says what it cancels; a closed study offers no submit or edit; opening the
feasibility tab spends nothing of the query limit, and the limit page keeps the menu and says when
to try again; every tab carries the study's title; the list shows the recruiting and the pending
version apart; respondents' answer times read as dates."""

from __future__ import annotations

import datetime as dt
import re

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import AuditEvent, Invitation, Study
from panel_service.services import studies
from tests.integration.coordinators.conftest import Staff, make_volunteer, study_fields, study_in
from tests.integration.coordinators.test_reports import invite
from tests.integration.coordinators.test_web_pages import csrf_from, post_form, sign_in


def _queued(db: Session, sid: int, number: int) -> None:
    for _ in range(number):
        invite(db, sid, make_volunteer(db), "queued")


def _status(db: Session, sid: int) -> str:
    db.expire_all()
    study = db.get(Study, sid)
    assert study is not None
    return study.status


def test_closing_asks_first_says_what_it_cancels_and_a_bare_post_closes_nothing(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    _queued(db, sid, 12)
    sign_in(client, db, settings, coordinator)
    overview = client.get(f"/coordinators/studies/{sid}").get_data(as_text=True)
    assert f'href="/coordinators/studies/{sid}/close"' in overview

    confirm = client.get(f"/coordinators/studies/{sid}/close")
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "cancels 12 invitations that have not been sent yet" in page
    assert "Closing cannot be undone." in page
    assert _status(db, sid) == "recruiting"

    # The old one-click button: a POST with its CSRF token but without the confirmation.
    bare = client.post(f"/coordinators/studies/{sid}/close", data={"csrf_token": csrf_from(page)})
    assert bare.status_code == 200 and "Closing cannot be undone." in bare.get_data(as_text=True)
    assert _status(db, sid) == "recruiting"
    # No CSRF token: refused, nothing changes.
    assert client.post(f"/coordinators/studies/{sid}/close", data={"confirm": "yes"}).status_code == 400
    assert _status(db, sid) == "recruiting"

    closed = client.post(
        f"/coordinators/studies/{sid}/close", data={"csrf_token": csrf_from(page), "confirm": "yes"}
    )
    assert closed.status_code == 302
    assert _status(db, sid) == "closed"
    queued = (
        select(func.count())
        .select_from(Invitation)
        .where(Invitation.study_id == sid, Invitation.status == "queued")
    )
    assert db.scalar(queued) == 0


def test_close_confirmation_shows_no_small_count(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    _queued(db, sid, 3)
    sign_in(client, db, settings, coordinator)
    page = client.get(f"/coordinators/studies/{sid}/close").get_data(as_text=True)
    assert "fewer than 11" in page
    assert not re.search(r"cancels \d+ invitation", page)


def test_a_closed_study_offers_no_submit_and_no_edit(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "draft")
    studies.close_study(db, coordinator.account, sid)
    db.flush()
    sign_in(client, db, settings, coordinator)
    page = client.get(f"/coordinators/studies/{sid}").get_data(as_text=True)
    assert "Submit for ethics review" not in page
    assert f"/coordinators/studies/{sid}/edit" not in page
    assert f"/coordinators/studies/{sid}/close" not in page
    assert "This study is closed and cannot" in page
    edit = client.get(f"/coordinators/studies/{sid}/edit")
    assert edit.status_code == 302 and edit.headers["Location"].endswith(f"/coordinators/studies/{sid}")
    assert client.get(f"/coordinators/studies/{sid}/close").status_code == 302


def test_visiting_the_feasibility_tab_does_not_use_up_the_limit(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    limit = int(settings.feasibility_rate_limit.split()[0])
    sid = study_in(db, coordinator, reviewer, "draft")
    sign_in(client, db, settings, coordinator)
    url = f"/coordinators/studies/{sid}/feasibility"
    for _ in range(limit + 2):
        visit = client.get(url)
        assert visit.status_code == 200
        assert 'class="count"' not in visit.get_data(as_text=True)
    queries = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "feasibility.query")
    assert db.scalar(queries) == 0
    ran = post_form(client, url, url, {})
    assert ran.status_code == 200 and 'class="count"' in ran.get_data(as_text=True)
    assert db.scalar(queries) == 1


def test_feasibility_limit_page_keeps_the_menu_and_says_when_to_try_again(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    limit = int(settings.feasibility_rate_limit.split()[0])
    sid = study_in(db, coordinator, reviewer, "draft")
    for _ in range(limit):
        assert (
            client.get(f"/api/v1/studies/{sid}/feasibility", headers=coordinator.headers).status_code == 200
        )
    sign_in(client, db, settings, coordinator)
    url = f"/coordinators/studies/{sid}/feasibility"
    refused = post_form(client, url, url, {})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert 'href="/coordinators/studies/new"' in page  # the coordinator menu
    assert f'href="/coordinators/studies/{sid}/funnel"' in page  # the study's tabs
    found = re.search(
        r"You can run the next query in about (\d+) minutes?, at (\d{1,2} \w+ \d{4}, \d\d:\d\d)", page
    )
    assert found, page
    assert int(refused.headers["Retry-After"]) > 0
    # The tab itself still opens.
    assert client.get(url).status_code == 200


def test_every_tab_carries_the_study_title(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    studies.update_study(db, coordinator.account, sid, study_fields(title="Søvn & <magnesium>"))
    db.flush()
    sign_in(client, db, settings, coordinator)
    shown = "Søvn &amp; &lt;magnesium&gt;"
    base = f"/coordinators/studies/{sid}"
    for path in ("", "/feasibility", "/funnel", "/respondents", "/diff", "/edit", "/close"):
        response = client.get(base + path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        title = re.search(r"<title>(.*?)</title>", page, re.S)
        heading = re.search(r"<h1>(.*?)</h1>", page, re.S)
        assert title and shown in title.group(1), (path, title)
        assert heading and shown in heading.group(1), (path, heading)
        assert "<magnesium>" not in page, path


def test_study_list_shows_the_recruiting_and_the_pending_version_apart(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    studies.update_study(db, coordinator.account, sid, study_fields(title="Magnesium at night"))
    studies.submit_study(db, coordinator.account, sid)
    db.flush()
    sign_in(client, db, settings, coordinator)
    page = client.get("/coordinators/studies").get_data(as_text=True)
    assert "Recruiting: v1 “Magnesium for restless legs”" in page
    assert "Pending review: v2 “Magnesium at night”" in page


def test_respondents_answer_times_are_readable(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    answered = dt.datetime(2026, 12, 2, 13, 5, tzinfo=dt.UTC)
    invite(db, sid, make_volunteer(db), "sent", response="interested", responded_at=answered)
    local = answered.astimezone(settings.zone)
    sign_in(client, db, settings, coordinator)
    url = f"/coordinators/studies/{sid}/respondents"
    page = client.get(url).get_data(as_text=True)
    assert f"{local.day} December 2026, {local:%H:%M}" in page
    assert answered.isoformat()[:16] not in page
    with client.session_transaction() as session:
        session["lang"] = "da"
    danish = client.get(url).get_data(as_text=True)
    assert f"{local.day}. december 2026 kl. {local:%H.%M}" in danish
