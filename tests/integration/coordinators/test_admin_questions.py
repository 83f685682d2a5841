"""Criteria over a question an admin added (ARCHITECTURE §4a): accepted when the study is saved
and checked, shown as text, exported to FHIR, counted by feasibility and matched (bulk and
incremental), because every one of those paths validates against the stored catalogue
(``services.questions.load_catalogue``), not only the shipped seed."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel_service.domain.questions import Answer
from panel_service.models import Invitation, Study
from panel_service.runtime import Runtime
from panel_service.services import fhir, matching, studies, study_reports
from panel_service.services import questions as catalogue_service
from tests.factories import make_volunteer
from tests.integration.coordinators.conftest import Staff, api, approval_fields, study_fields

TODAY = dt.date.today()
CRITERIA = "age >= 18 and answer owns_dog = true"


def add_dog_question(db: Session) -> None:
    catalogue_service.add_question(
        db,
        {
            "key": "owns_dog",
            "type": "boolean",
            "section": "daily_life",
            "wording": {"en": "Do you have a dog?", "da": "Har du en hund?"},
        },
    )


def dog_owner(db: Session, owns: bool) -> int:
    made = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40))
    catalogue_service.replace_answers(
        db, made.participant_id, {"owns_dog": Answer(owns, TODAY)}, catalogue_service.load_catalogue(db)
    )
    return made.participant_id


def test_an_admin_question_is_refused_only_while_it_does_not_exist(
    client: FlaskClient, db: Session, coordinator: Staff
) -> None:
    response = api(client, "post", "/criteria/check", coordinator, json={"criteria": CRITERIA})
    assert response.status_code == 422
    assert "unknown question" in response.get_data(as_text=True)
    add_dog_question(db)
    db.commit()
    response = api(client, "post", "/criteria/check", coordinator, json={"criteria": CRITERIA})
    assert response.status_code == 200, response.get_json()
    assert "owns_dog" in response.get_json()["criteria_text"]


def test_study_fhir_feasibility_and_matching_use_the_stored_catalogue(
    db: Session, runtime: Runtime, coordinator: Staff, reviewer: Staff
) -> None:
    add_dog_question(db)
    owner, other = dog_owner(db, True), dog_owner(db, False)
    study = studies.create_study(db, coordinator.account, study_fields(criteria=CRITERIA))
    version = study.latest_version
    assert version is not None
    assert "answer owns_dog = true" in studies.criteria_text(version)
    exported = fhir.research_study(study, version, "https://panel.example")
    assert "owns_dog" in str(exported)
    counted = study_reports.feasibility(db, coordinator.account, study, today=TODAY, threshold=0)
    assert counted.matching == 1
    studies.submit_study(db, coordinator.account, study.id)
    studies.approve_study(db, reviewer.account, study.id, approval_fields(TODAY), today=TODAY)
    studies.recruit_study(db, coordinator.account, study.id, today=TODAY)
    db.commit()
    runtime.relay.drain()  # type: ignore[attr-defined]  # the bulk match
    db.expire_all()
    invited = set(db.scalars(select(Invitation.participant_id).where(Invitation.study_id == study.id)))
    assert invited == {owner}
    # The incremental match reads the same criteria (a fresh version cache: parsed again here).
    later = dog_owner(db, True)
    db.commit()
    assert matching.match_profile(runtime, later) == 1
    assert other not in set(db.scalars(select(Invitation.participant_id)))
    assert db.get(Study, study.id) is not None
