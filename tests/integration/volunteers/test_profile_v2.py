"""Profile version 2 pages for volunteers (issue 13): the history page ("still have it? since
when?"), and the data download as a readable page beside the JSON."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import AuditEvent, OutboxMessage, Participant, ProfileCondition, ProfileMedication
from panel_service.services import profiles
from panel_service.timeutil import panel_today
from tests.factories import make_invitation
from tests.support.volunteers import make_volunteer, post_form, recruiting_study, row_counts, sign_in


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


def _history(db: Session, participant_id: int) -> tuple[tuple[object, ...], tuple[object, ...]]:
    db.expire_all()
    condition = db.get(ProfileCondition, (participant_id, "G2581"))
    medication = db.get(ProfileMedication, (participant_id, "A12CC05"))
    assert condition is not None and medication is not None
    return (
        (condition.status, condition.since, condition.until, condition.since_lo, condition.since_hi),
        (medication.status, medication.since, medication.until, medication.since_lo, medication.since_hi),
    )


def test_history_page_asks_for_each_entry_and_stores_year_or_month_and_year(
    client: FlaskClient, db: Session, vera: Participant
) -> None:
    page = client.get("/me/profile/history").get_data(as_text=True)
    assert "Do you still have it?" in page and "Do you still take it?" in page
    assert 'name="year-c-G2581"' in page and 'name="month-m-A12CC05"' in page
    assert "<script" not in page.split("<main", 1)[1].split("</main>", 1)[0]  # a plain form
    before = db.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1)) or 0
    response = post_form(
        client,
        "/me/profile/history",
        {
            "status-c-G2581": "current",
            "month-c-G2581": "3",
            "year-c-G2581": "2019",
            "status-m-A12CC05": "past",
            "month-m-A12CC05": "",
            "year-m-A12CC05": "2021",
        },
    )
    assert response.status_code == 302 and response.location.endswith("/me/profile")
    assert _history(db, vera.id) == (
        ("current", "2019-03", None, dt.date(2019, 3, 1), dt.date(2019, 3, 31)),
        ("past", "2021", None, dt.date(2021, 1, 1), dt.date(2021, 12, 31)),
    )
    rematch = db.scalars(
        select(OutboxMessage.payload).where(
            OutboxMessage.task_name == "matching.match_profile", OutboxMessage.id > before
        )
    ).all()
    assert {"participant_id": vera.id} in rematch
    # Shown again as given, and "not sure" with no year clears the answer.
    again = client.get("/me/profile/history").get_data(as_text=True)
    assert 'value="2019"' in again and 'value="3" selected' in again
    post_form(client, "/me/profile/history", {"status-c-G2581": "", "year-c-G2581": ""})
    assert _history(db, vera.id)[0] == (None, None, None, None, None)


@pytest.mark.parametrize(
    ("month", "year", "message"),
    [
        ("3", "", "Enter the year as well as the month"),
        ("", "19", "Enter the year as 4 digits"),
        ("", "1850", "Enter a year after 1900"),
        ("13", "2019", "Choose a month from the list"),
        ("", "next", "Enter the year as 4 digits"),
    ],
)
def test_history_errors_are_shown_at_the_entry_and_nothing_is_written(
    client: FlaskClient, db: Session, vera: Participant, month: str, year: str, message: str
) -> None:
    before = row_counts(db)
    response = post_form(
        client,
        "/me/profile/history",
        {"status-c-G2581": "current", "month-c-G2581": month, "year-c-G2581": year, "year-m-A12CC05": "2020"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page and "There is a problem" in page and 'href="#year-c-G2581"' in page
    assert row_counts(db) == before
    assert _history(db, vera.id)[1][1] is None  # the valid row was not saved either


def test_a_future_since_is_refused(client: FlaskClient, settings: Settings, vera: Participant) -> None:
    next_year = str(panel_today(settings).year + 1)
    response = post_form(client, "/me/profile/history", {"year-m-A12CC05": next_year})
    assert response.status_code == 422 and "The date must be in the past." in response.get_data(as_text=True)


def test_a_since_after_a_stored_end_is_refused_in_words(
    client: FlaskClient, db: Session, vera: Participant
) -> None:
    row = db.get(ProfileCondition, (vera.id, "G2581"))
    assert row is not None
    row.status, row.until, row.until_lo, row.until_hi = (
        "past",
        "2015",
        dt.date(2015, 1, 1),
        dt.date(2015, 12, 31),
    )
    db.flush()
    response = post_form(client, "/me/profile/history", {"status-c-G2581": "past", "year-c-G2581": "2018"})
    assert response.status_code == 422
    assert "The date must be before it ended" in response.get_data(as_text=True)
    ok = post_form(client, "/me/profile/history", {"status-c-G2581": "past", "year-c-G2581": "2010"})
    assert ok.status_code == 302
    assert _history(db, vera.id)[0][:3] == ("past", "2010", "2015")


def test_history_page_in_danish(client: FlaskClient, vera: Participant) -> None:
    page = client.get("/me/profile/history", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "Har du det stadig?" in page and "Tager du den stadig?" in page and ">marts<" in page


def test_data_as_a_readable_page_lists_the_studies_said_yes_to(
    client: FlaskClient, db: Session, vera: Participant
) -> None:
    version = recruiting_study(db)
    invitation = make_invitation(db, version, vera.id)
    invitation.response, invitation.responded_at = (
        "interested",
        dt.datetime(2026, 4, 23, 10, 0, tzinfo=dt.UTC),
    )
    db.flush()
    assert "Show my data as a page" in client.get("/me/data").get_data(as_text=True)
    response = post_form(client, "/me/data/page", {}, token_from="/me/data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, no-store"
    said_yes = page.split("Studies you said yes to", 1)[1].split("<h2", 1)[0]
    assert "Magnesium for restless legs" in said_yes and "23 April 2026" in said_yes
    assert "vera@example.org" in page and "23 April 1980" in page
    # Conditions and medicines by name, with their codes (not bare codes).
    assert 'restless legs <span class="meta">(G25.81)</span>' in page and "(A12CC05)" in page
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "data.export")) is not None
    # Without the form's token: back to the page, nothing shown.
    refused = client.post("/me/data/page", data={})
    assert refused.status_code in (302, 400) and "vera@example.org" not in refused.get_data(as_text=True)
