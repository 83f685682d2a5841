"""Ask only what matters (issue 13 item 1): the service over real recruiting studies, the
``/me/questions/next`` pages (answer, "still true", skip, in English and Danish), and what the
volunteer is never told (a study's name, a per-study count)."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.questions import Answer
from panel_service.extensions import limiter
from panel_service.models import Participant, ProfileAnswer, QuestionReminder, QuestionSkip
from panel_service.services import asking, profiles, question_reminders
from panel_service.services.questions import load_catalogue, replace_answers
from panel_service.timeutil import panel_today
from tests.factories import make_invitation, make_recruiting_study
from tests.integration.test_query_guards import assert_flat
from tests.support.volunteers import PASSWORD, make_volunteer, post_form, sign_in

NEXT = "/me/questions/next"


@pytest.fixture()
def vera(db: Session, settings: Settings) -> int:
    """A signed-up woman with a basic profile and no catalogue answers; returns her participant id."""
    _account, participant = make_volunteer(db, settings)
    profiles.save_about(
        db, settings, participant, birth_date=dt.date(1980, 4, 23), sex="female", region="DK-84",
        height_cm=170.0, weight_kg=65.0, smoker=None, pregnant=False,
    )  # fmt: skip
    return participant.id


def keys(db: Session, settings: Settings, participant_id: int) -> list[tuple[str, int, bool]]:
    return [(a.key, a.studies, a.stale) for a in asking.all_that_matter(db, settings, participant_id)]


def test_only_questions_that_could_decide_a_recruiting_study_in_order(
    db: Session, settings: Settings, vera: int
) -> None:
    make_recruiting_study(db, "answer willing_mri = true and answer lives_alone = false", title="Scan study")
    make_recruiting_study(db, "answer willing_mri = true", title="Second scan study")
    make_recruiting_study(db, "age < 30 and answer drug_study_3m = false", title="Young only")  # FALSE
    make_recruiting_study(db, "answer rls_nights_week >= 2", title="Paused", status="paused")
    assert keys(db, settings, vera) == [("willing_mri", 2, False), ("lives_alone", 1, False)]
    assert asking.count_to_ask(db, settings, vera) == 2


def test_an_invited_study_and_an_answered_question_ask_nothing_more(
    db: Session, settings: Settings, vera: int
) -> None:
    study = make_recruiting_study(db, "answer willing_mri = true")
    assert keys(db, settings, vera) == [("willing_mri", 1, False)]
    version = study.active_version
    assert version is not None
    make_invitation(db, version, vera)
    assert keys(db, settings, vera) == []


def test_a_stale_answer_is_offered_for_a_refresh_and_still_true_makes_it_fresh(
    db: Session, settings: Settings, vera: int
) -> None:
    today = panel_today(settings)
    replace_answers(
        db, vera, {"smoking_status": Answer("never", today - dt.timedelta(days=500))}, load_catalogue(db)
    )
    make_recruiting_study(db, "answer smoking_status = never answered within P12M")
    [ask] = asking.all_that_matter(db, settings, vera)
    assert (ask.key, ask.stale) == ("smoking_status", True)
    assert asking.confirm_stale(db, settings, vera, ask, load_catalogue(db))
    stored = db.scalar(select(ProfileAnswer).where(ProfileAnswer.participant_id == vera))
    assert stored is not None and stored.answered_on == today and stored.value == "never"
    assert asking.all_that_matter(db, settings, vera) == []


def test_a_skipped_question_is_not_counted_and_stays_aside(
    db: Session, settings: Settings, vera: int
) -> None:
    make_recruiting_study(db, "answer willing_mri = true and answer lives_alone = false")
    assert asking.skip(db, settings, vera, "q:willing_mri", "rather_not")
    assert not asking.skip(db, settings, vera, "q:pack_years", "later")  # not among what matters
    assert not asking.skip(db, settings, vera, "q:lives_alone", "forever")  # no such reason
    assert asking.count_to_ask(db, settings, vera) == 1
    asked = asking.what_to_ask(db, settings, vera)
    assert [a.key for a in asked.asks] == ["lives_alone"] and asked.skipped == 1
    assert [a.key for a in asking.what_to_ask(db, settings, vera, with_skipped=True).asks] == [
        "lives_alone",  # one study each: catalogue order
        "willing_mri",
    ]


def test_the_page_asks_answers_and_skips_without_naming_a_study(
    client: FlaskClient, db: Session, settings: Settings, vera: int
) -> None:
    make_recruiting_study(db, "answer willing_mri = true and answer lives_alone = false", title="Secret scan")
    make_recruiting_study(db, "answer willing_mri = true", title="Secret second")
    sign_in(client, "vera@example.org")
    page = client.get(NEXT).get_data(as_text=True)
    assert "Answering 2 more questions could make you eligible" in page
    assert page.index("Would you be willing to have an MRI scan?") < page.index("Do you live alone?")
    assert "Secret" not in page and "2 studies" not in page
    # Saving with nothing chosen: the error, at the top and at the question; nothing written.
    empty = post_form(client, NEXT, {"ask": "q:willing_mri", "action": "save"})
    text = empty.get_data(as_text=True)
    assert empty.status_code == 422 and "There is a problem" in text
    assert "Choose an answer, or use “Skip for now”." in text
    assert db.scalar(select(ProfileAnswer).where(ProfileAnswer.participant_id == vera)) is None
    saved = post_form(client, NEXT, {"ask": "q:willing_mri", "action": "save", "q-willing_mri": "yes"})
    assert saved.status_code == 302
    db.expire_all()
    answer = db.scalar(select(ProfileAnswer).where(ProfileAnswer.participant_id == vera))
    assert answer is not None and answer.key == "willing_mri" and answer.value is True
    skipped = post_form(client, NEXT, {"ask": "q:lives_alone", "action": "later"})
    assert skipped.status_code == 302
    assert db.scalar(select(QuestionSkip.reason).where(QuestionSkip.participant_id == vera)) == "later"
    page = client.get(NEXT).get_data(as_text=True)
    assert "There is nothing more to ask you for now" in page and "See the 1 question you skipped" in page
    assert "Do you live alone?" in client.get(f"{NEXT}?skipped=1").get_data(as_text=True)
    # A key that does not matter (or a forged one) changes nothing.
    other = post_form(client, NEXT, {"ask": "q:pack_years", "action": "save", "q-pack_years": "3"})
    assert other.status_code == 302
    db.expire_all()
    assert {a.key for a in db.scalars(select(ProfileAnswer))} == {"willing_mri"}


def test_a_stale_answer_shows_its_value_and_still_true_in_danish(
    client: FlaskClient, db: Session, settings: Settings, vera: int
) -> None:
    participant = db.get(Participant, vera)
    assert participant is not None
    participant.language = "da"
    today = panel_today(settings)
    replace_answers(db, vera, {"lives_alone": Answer(False, dt.date(2024, 3, 5))}, load_catalogue(db))
    make_recruiting_study(db, "answer lives_alone = false answered within P6M")
    sign_in(client, "vera@example.org")
    page = client.get(NEXT, headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "Bor du alene?" in page
    assert "Du fortalte os “Nej” den 5. marts 2024." in page
    assert "Det passer stadig" in page
    done = post_form(client, NEXT, {"ask": "q:lives_alone", "action": "confirm"})
    assert done.status_code == 302
    db.expire_all()
    stored = db.scalar(select(ProfileAnswer).where(ProfileAnswer.participant_id == vera))
    assert stored is not None and stored.answered_on == today


def test_a_history_that_would_decide_links_to_the_since_when_page(
    client: FlaskClient, db: Session, settings: Settings, vera: int
) -> None:
    participant = db.get(Participant, vera)
    assert participant is not None
    profiles.save_codes(db, participant, system="icd10", codes=["G258"])
    make_recruiting_study(db, "has condition G25.8 for at least P1Y")
    assert keys(db, settings, vera) == [("G258", 1, False)]
    sign_in(client, "vera@example.org")
    page = client.get(NEXT).get_data(as_text=True)
    assert "Since when have you had restless legs?" in page
    assert "/me/profile/history#title-c-G258" in page


def test_the_pages_read_a_flat_number_of_statements_and_write_nothing(
    client: FlaskClient, db: Session, engine: Engine, settings: Settings, vera: int, app: Flask
) -> None:
    """More recruiting studies cost no more statements on the dashboard and the questions page
    (each study is evaluated in memory), and a GET writes nothing."""
    with app.app_context():
        limiter.reset()
    sign_in(client, "vera@example.org")

    def add(count: int) -> None:
        for number in range(count):
            make_recruiting_study(
                db, f"answer willing_mri = true and age > {20 + number}", start_matching=False
            )

    assert_flat(client, engine, NEXT, add, bound=16)
    assert_flat(client, engine, "/me", add, bound=20)


def test_the_history_that_would_decide_is_counted_once_on_the_dashboard(
    client: FlaskClient, db: Session, settings: Settings, vera: int
) -> None:
    participant = db.get(Participant, vera)
    assert participant is not None
    profiles.save_codes(db, participant, system="icd10", codes=["G258"])
    profiles.save_codes(db, participant, system="atc", codes=[])
    make_recruiting_study(db, "has condition G25.8 for at least P1Y")
    sign_in(client, "vera@example.org")
    page = client.get("/me").get_data(as_text=True)
    assert "Answering 1 more question could make you eligible for studies." in page
    assert "your health conditions" not in page  # not sent to the list page as well


def test_skips_and_reminder_choices_are_in_the_download_and_go_with_erasure(
    client: FlaskClient, db: Session, settings: Settings, vera: int
) -> None:
    make_recruiting_study(db, "answer willing_mri = true")
    assert asking.skip(db, settings, vera, "q:willing_mri", "rather_not")
    question_reminders.set_reminders(db, vera, False)
    sign_in(client, "vera@example.org")
    export = post_form(client, "/me/data", {}).get_json()
    assert export["skipped_questions"] == [
        {"question": "q:willing_mri", "reason": "rather_not", "skipped_on": panel_today(settings).isoformat()}
    ]
    assert export["question_reminders"]["opted_out_at"] is not None
    deleted = post_form(client, "/me/delete", {"password": PASSWORD})
    assert deleted.status_code in (200, 302), deleted.get_data(as_text=True)[:300]
    db.expire_all()
    assert db.scalar(select(QuestionSkip).where(QuestionSkip.participant_id == vera)) is None
    assert db.get(QuestionReminder, vera) is None


@pytest.mark.postgres
def test_the_dashboard_reads_no_catalogue_once_built_and_a_retired_question_shows_at_once(
    client: FlaskClient, db: Session, engine: Engine, settings: Settings, vera: int, app: Flask
) -> None:
    """The dashboard's one statement about the volunteer carries the catalogue's stamp: once this
    process has built the catalogue of those rows, no statement reads the questions; a change to
    them (here a retirement) changes the stamp, so the very next page reads them again and
    shows what follows from the change."""
    from panel_service.services.questions import retire_question
    from tests.support.queries import statements

    with app.app_context():
        limiter.reset()
    make_recruiting_study(db, "answer willing_mri = true", start_matching=False)
    sign_in(client, "vera@example.org")
    assert client.get("/me").status_code == 200  # builds the catalogue of these rows
    with statements(engine) as warm:
        page = client.get("/me").get_data(as_text=True)
    assert "Answering 1 more question could make you eligible for studies." in page
    assert [sql for sql in warm.sql if sql.startswith("SELECT questions.")] == [], str(warm)
    # The sign-in check, which also reads the participant, the profile, the contact state, the
    # studies, the invitations and the stamp; the volunteer's skips (read only when there is
    # something to ask).
    assert warm.count == 2, str(warm)
    retire_question(db, "willing_mri")
    with statements(engine) as changed:
        page = client.get("/me").get_data(as_text=True)
    assert len([sql for sql in changed.sql if sql.startswith("SELECT questions.")]) == 1, str(changed)
    assert "more question could make you eligible" not in page
    # Back in use: a second change to the same row (here in the same transaction, as the test
    # harness runs everything in one) is seen at once as well.
    assert client.get("/me").status_code == 200  # the retired catalogue, built and kept
    retire_question(db, "willing_mri", retired=False)
    with statements(engine) as again:
        page = client.get("/me").get_data(as_text=True)
    assert len([sql for sql in again.sql if sql.startswith("SELECT questions.")]) == 1, str(again)
    assert "Answering 1 more question could make you eligible for studies." in page


def test_the_dashboards_count_follows_a_skip_an_answer_and_an_invitation_on_the_next_page(
    client: FlaskClient, db: Session, settings: Settings, vera: int, app: Flask
) -> None:
    """The asks behind the dashboard's count are kept per process under everything they are
    worked out from (``services.kept``); the skips are read on every page. A skip, an answer
    and an invitation each change the count on the very next page."""
    with app.app_context():
        limiter.reset()
    make_recruiting_study(db, "answer willing_mri = true and answer lives_alone = false", title="Scan study")
    second = make_recruiting_study(db, "answer drug_study_3m = false", title="Drug study")
    sign_in(client, "vera@example.org")

    def count() -> str:
        page = client.get("/me").get_data(as_text=True)
        for number in (3, 2, 1):
            if f"Answering {number} more question" in page:
                return str(number)
        return "none"

    assert count() == count() == "3"
    assert asking.skip(db, settings, vera, "q:lives_alone", "later")
    assert count() == "2"
    replace_answers(db, vera, {"willing_mri": Answer(True, panel_today(settings))}, load_catalogue(db))
    assert count() == "1"
    version = second.active_version
    assert version is not None
    make_invitation(db, version, vera)
    assert count() == "none"
