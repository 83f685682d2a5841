"""The invitation's one foreign key to its study's version (migration 0006_invitation_lean): an
invitation names a study and a version *of that study*, and a version with invitations stays."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panel_service.models import Invitation, StudyVersion
from tests.factories import make_invitation, make_recruiting_study, make_volunteer

TODAY = dt.date.today()


def test_an_invitation_to_another_studys_version_is_refused(db: Session) -> None:
    first = make_recruiting_study(db, "age >= 18", start_matching=False)
    second = make_recruiting_study(db, "age >= 18", start_matching=False)
    volunteer = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40))
    db.flush()
    with pytest.raises(IntegrityError), db.begin_nested():
        db.add(
            Invitation(
                study_id=first.id,
                participant_id=volunteer.participant_id,
                study_version_id=second.active_version_id,
            )
        )
        db.flush()
    db.add(
        Invitation(
            study_id=first.id,
            participant_id=volunteer.participant_id,
            study_version_id=first.active_version_id,
        )
    )
    db.flush()


def test_a_version_with_invitations_cannot_be_deleted(db: Session) -> None:
    study = make_recruiting_study(db, "age >= 18", start_matching=False)
    volunteer = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40))
    version = db.get(StudyVersion, study.active_version_id)
    assert version is not None
    make_invitation(db, version, volunteer.participant_id, status="queued")
    db.flush()
    with pytest.raises(IntegrityError), db.begin_nested():
        db.execute(delete(StudyVersion).where(StudyVersion.id == version.id))
