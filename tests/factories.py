"""Small builders for rows that tests need as context (not as the thing under test)."""

from __future__ import annotations

import hashlib
import itertools

from sqlalchemy.orm import Session

from panel_service.models import Organisation, Study, StudyVersion

_counter = itertools.count(1)


def make_organisation(db: Session, name: str | None = None) -> Organisation:
    organisation = Organisation(name=name or f"Organisation {next(_counter)}")
    db.add(organisation)
    db.flush()
    return organisation


def make_study_version(db: Session, criteria: dict | None = None, **study_fields: object) -> StudyVersion:
    organisation = make_organisation(db)
    study = Study(organisation_id=organisation.id)
    db.add(study)
    db.flush()
    body = criteria or {"field": "age", "op": "ge", "value": 18}
    version = StudyVersion(
        study_id=study.id,
        number=1,
        criteria=body,
        title=str(study_fields.get("title", "A study")),
        summary="",
        organisation_name=organisation.name,
        sites=[],
        invitation_text="Please consider taking part.",
        site_region="DK-84",
        target_enrolment=50,
        content_hash=hashlib.sha256(repr(body).encode()).hexdigest(),
    )
    db.add(version)
    db.flush()
    study.latest_version_id = version.id
    db.flush()
    return version
