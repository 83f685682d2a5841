"""The FHIR R4 export of studies, validated with fhir.resources (its R4B package: fhir.resources 8
ships R5 at the top level plus R4B and STU3; R4B's ResearchStudy and Group are R4's)."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.researchstudy import ResearchStudy

from panel_service.domain.criteria import parse_any, to_json
from panel_service.models import Study, StudyVersion
from panel_service.services.fhir import FHIR_STATUS, research_study


def build(criteria: str, status: str = "recruiting") -> dict[str, object]:
    study = Study(id=7, organisation_id=1, status=status)
    version = StudyVersion(
        number=2,
        title="Magnesium",
        summary="",
        organisation_name="Aarhus Sleep Clinic",
        sites=[],
        criteria=to_json(parse_any(criteria)),
        invitation_text="Hi",
        site_region="DK-84",
        target_enrolment=40,
    )
    return research_study(study, version, "https://panel.example.org")


@pytest.mark.parametrize(
    "criteria",
    [
        "age between 18 and 75 and has condition G25.8 and not (has condition N17-N19 or has condition D66"
        " or pregnant) and not takes A12CC",
        "sex = female and smoker and bmi >= 30 and region = DK-84",
        "age >= 18 and (has condition E11 or takes A10BA02)",
        "not (age < 18 and smoker)",
        "height_cm between 150 and 200 or weight_kg <= 120",
        "region in (DK-84, DK-85) and sex != male",
    ],
)
def test_every_shape_validates(criteria: str) -> None:
    resource = ResearchStudy.model_validate(build(criteria))
    group = resource.contained[0]
    assert group.characteristic, criteria
    for characteristic in group.characteristic:
        assert characteristic.code is not None and characteristic.exclude is not None


@pytest.mark.parametrize("status", sorted(FHIR_STATUS))
def test_every_status_maps_to_a_valid_research_study_status(status: str) -> None:
    resource = ResearchStudy.model_validate(build("age >= 18", status))
    assert resource.status == FHIR_STATUS[status]


def test_a_qualified_code_is_exported_in_text_not_as_the_bare_code() -> None:
    resource = ResearchStudy.model_validate(build("age >= 18 and not takes A12CC within P3M"))
    qualified = resource.contained[0].characteristic[1]
    assert qualified.exclude is True
    assert qualified.code.text == "takes A12CC within P3M"
    assert qualified.valueBoolean is True


def test_distance_is_exported_in_text_and_a_country_as_iso_3166_1() -> None:
    resource = ResearchStudy.model_validate(
        build("distance_to_site_km <= 50 and region = DK and region = GB-ENG")
    )
    distance, country, nation = resource.contained[0].characteristic
    assert (distance.code.text, distance.valueBoolean) == ("distance_to_site_km <= 50", True)
    assert distance.code.coding is None
    assert (country.valueCodeableConcept.coding[0].system, country.valueCodeableConcept.coding[0].code) == (
        "urn:iso:std:iso:3166",
        "DK",
    )
    assert nation.valueCodeableConcept.coding[0].system == "urn:iso:std:iso:3166:-2"


def test_every_new_leaf_kind_is_kept_in_text_and_validates() -> None:
    """Question leaves, every qualifier and the stored catalogue's questions: FHIR R4's Group
    has no relative time window (``timeFromEvent`` is R5) and no questionnaire answer, so each
    goes whole into ``code.text`` with ``valueBoolean`` and an exclusion keeps ``exclude``."""
    text = (
        "has condition G25.8 for at least P1Y and not has condition F10 formerly within P6M"
        " and takes N04BC currently and answer smoking_status = former answered within P12M"
        " and not answer phq9 >= 20"
    )
    resource = ResearchStudy.model_validate(build(text))
    found = [(c.code.text, c.valueBoolean, bool(c.exclude)) for c in resource.contained[0].characteristic]
    assert found == [
        ("has condition G25.8 for at least P1Y", True, False),
        ("has condition F10 formerly within P6M", True, True),
        ("takes N04BC currently", True, False),
        ("answer smoking_status = former answered within P12M", True, False),
        ("answer phq9 >= 20", True, True),
    ]
