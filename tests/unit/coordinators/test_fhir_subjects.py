"""Respondents as FHIR R4 ResearchSubjects (validated with fhir.resources' R4B models, whose
Bundle and ResearchSubject are R4's): the recorded outcome is the subject's status."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle

from panel_service.models import Study
from panel_service.services.fhir import SUBJECT_STATUS, research_subjects


def test_every_outcome_maps_to_a_valid_research_subject_status() -> None:
    respondents = [
        {
            "respondent": number,
            "name": f"Person {number}",
            "answered_at": "2026-12-01T10:00:00+00:00",
            "outcome": outcome,
        }
        for number, outcome in enumerate([None, "screened", "enrolled", "not_enrolled"], start=1)
    ]
    body = research_subjects(
        Study(id=7, organisation_id=1, status="recruiting"), respondents, "https://panel.example.org/"
    )
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection" and len(bundle.entry) == 4
    assert [entry["resource"]["status"] for entry in body["entry"]] == [
        "candidate",
        "screening",
        "on-study",
        "not-registered",
    ]
    subject = body["entry"][2]["resource"]
    assert subject["study"] == {"reference": "ResearchStudy/study-7"}
    assert subject["individual"]["identifier"] == {
        "system": "https://panel.example.org/studies/7/respondents",
        "value": "3",
    }
    assert subject["period"] == {"start": "2026-12-01T10:00:00+00:00"}
    assert set(SUBJECT_STATUS) == {None, "screened", "enrolled", "not_enrolled"}


def test_no_respondents_is_an_empty_collection() -> None:
    body = research_subjects(Study(id=7, organisation_id=1, status="closed"), [], "https://panel.example.org")
    assert Bundle.model_validate(body).total == 0
