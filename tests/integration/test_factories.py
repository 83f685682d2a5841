"""The test factories write rows the way the services do: a factory-made study version holds the
content hash the studies service computes for the same content (the old hand-written builder
hashed ``repr(criteria)``, so a test version and a real one with equal content differed)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from panel_service.models import Organisation, StudyVersion
from panel_service.services import accounts, studies
from tests.factories import StudyFactory, StudyVersionFactory, bound_to


def test_a_factory_version_hashes_like_one_the_studies_service_writes(db: Session) -> None:
    coordinator = accounts.create_staff_account(
        db, email="hash-check@example.org", role="coordinator", organisation="Hash Check Clinic"
    )
    fields = studies.StudyFields(
        title="Magnesium for restless legs",
        summary="Does magnesium help?",
        criteria={"field": "age", "op": "ge", "value": 18},
        invitation_text="Please take part.",
        site_region="DK-84",
        target_enrolment=40,
    )
    real = db.get_one(StudyVersion, studies.create_study(db, coordinator, fields).latest_version_id)
    organisation = db.get_one(Organisation, coordinator.organisation_id)
    with bound_to(db):
        made = StudyVersionFactory(
            study=StudyFactory(organisation_id=organisation.id),
            title=fields.title,
            summary=fields.summary,
            criteria=real.criteria,
            invitation_text=fields.invitation_text,
            site_region=fields.site_region,
            target_enrolment=fields.target_enrolment,
        )
    assert made.organisation_name == real.organisation_name == "Hash Check Clinic"
    assert made.content_hash == real.content_hash
