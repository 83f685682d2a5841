"""A study as a FHIR R4 ``ResearchStudy``, its eligibility as a contained ``Group``.

Each top-level criterion (of an ``all``) becomes one ``Group.characteristic``; ``not`` sets
``exclude``; ``not any(...)`` is all of its children excluded. What has no clean FHIR shape
(a nested ``any``, a BMI range) keeps its text form in ``code.text`` with ``valueBoolean: true``,
so nothing is silently dropped; the Group's description carries the whole text form too.
"""

from __future__ import annotations

from typing import Any

from panel_service.domain.criteria import (
    All,
    Condition,
    FieldLeaf,
    Medication,
    Node,
    Not,
    parse_json,
    to_text,
)
from panel_service.domain.criteria import Any as AnyNode
from panel_service.models import Study, StudyVersion
from panel_service.services.questions import catalogue_of

# the product contract §5 status → http://hl7.org/fhir/research-study-status (R4).
FHIR_STATUS = {
    "draft": "in-review",
    "in_review": "in-review",
    "rejected": "disapproved",
    "approved": "approved",
    "recruiting": "active",
    "paused": "temporarily-closed-to-accrual",
    "closed": "closed-to-accrual",
}

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

FIELD_CODES: dict[str, dict[str, str]] = {
    "age": {"system": LOINC, "code": "30525-0", "display": "Age"},
    "sex": {"system": LOINC, "code": "46098-0", "display": "Sex"},
    "bmi": {"system": LOINC, "code": "39156-5", "display": "Body mass index (BMI) [Ratio]"},
    "height_cm": {"system": LOINC, "code": "8302-2", "display": "Body height"},
    "weight_kg": {"system": LOINC, "code": "29463-7", "display": "Body weight"},
    "smoker": {"system": LOINC, "code": "72166-2", "display": "Tobacco smoking status"},
    "pregnant": {"system": LOINC, "code": "82810-3", "display": "Pregnancy status"},
    "region": {"system": SNOMED, "code": "223369002", "display": "Geographic location"},
}
UNITS = {
    "age": ("a", "years"),
    "bmi": ("kg/m2", "kg/m2"),
    "height_cm": ("cm", "cm"),
    "weight_kg": ("kg", "kg"),
}
DIAGNOSIS = {"system": SNOMED, "code": "439401001", "display": "Diagnosis"}
MEDICATION = {"system": SNOMED, "code": "410942007", "display": "Drug or medicament"}


def _quantity(field: str, value: float) -> dict[str, Any]:
    code, unit = UNITS[field]
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _text_only(node: Node, exclude: bool) -> dict[str, Any]:
    return {"code": {"text": to_text(node)}, "valueBoolean": True, "exclude": exclude}


def _field(leaf: FieldLeaf, exclude: bool) -> dict[str, Any]:
    if leaf.field == "distance_to_site_km":
        # FHIR R4's Group has no "distance from the study's sites": the leaf goes in the text.
        return _text_only(leaf, exclude)
    code = {"coding": [FIELD_CODES[leaf.field]], "text": to_text(leaf)}
    value = leaf.value
    if leaf.field in ("smoker", "pregnant") and leaf.op in ("eq", "ne") and isinstance(value, bool):
        wanted = value if leaf.op == "eq" else not value
        return {"code": code, "valueBoolean": wanted, "exclude": exclude}
    if leaf.field == "sex" and leaf.op == "eq":
        concept = {"coding": [{"system": "http://hl7.org/fhir/administrative-gender", "code": str(value)}]}
        return {"code": code, "valueCodeableConcept": concept, "exclude": exclude}
    if leaf.field == "region" and leaf.op == "eq":
        # A country (ISO 3166-1) or a subdivision (ISO 3166-2), matching every region inside it.
        system = "urn:iso:std:iso:3166:-2" if "-" in str(value) else "urn:iso:std:iso:3166"
        concept = {"coding": [{"system": system, "code": str(value)}]}
        return {"code": code, "valueCodeableConcept": concept, "exclude": exclude}
    if leaf.field in UNITS and isinstance(value, tuple) and leaf.op == "between":
        low, high = value
        range_ = {"low": _quantity(leaf.field, float(low)), "high": _quantity(leaf.field, float(high))}
        return {"code": code, "valueRange": range_, "exclude": exclude}
    if leaf.field in UNITS and leaf.op in ("ge", "le") and isinstance(value, int | float):
        side = "low" if leaf.op == "ge" else "high"
        return {"code": code, "valueRange": {side: _quantity(leaf.field, float(value))}, "exclude": exclude}
    return _text_only(leaf, exclude)


def characteristics(node: Node, exclude: bool = False) -> list[dict[str, Any]]:
    if isinstance(node, Not):
        child = node.child
        if isinstance(child, AnyNode) and not exclude:
            # not (A or B) = not A and not B: each child is an exclusion.
            return [item for grandchild in child.children for item in characteristics(grandchild, True)]
        return characteristics(child, not exclude)
    if isinstance(node, All) and not exclude:
        return [item for child in node.children for item in characteristics(child)]
    if isinstance(node, Condition | Medication) and node.qualified:
        # FHIR's Group has no place for "within 3 months" on a coded value: the whole leaf goes
        # in the text, so a reader of the coding alone cannot take it for the unqualified code.
        return [_text_only(node, exclude)]
    if isinstance(node, Condition):
        concept = {"coding": [{"system": ICD10, "code": node.display}], "text": to_text(node)}
        return [{"code": {"coding": [DIAGNOSIS]}, "valueCodeableConcept": concept, "exclude": exclude}]
    if isinstance(node, Medication):
        concept = {"coding": [{"system": ATC, "code": node.display}], "text": to_text(node)}
        return [{"code": {"coding": [MEDICATION]}, "valueCodeableConcept": concept, "exclude": exclude}]
    if isinstance(node, FieldLeaf):
        return [_field(node, exclude)]
    return [_text_only(node, exclude)]


def research_study(study: Study, version: StudyVersion, base_url: str) -> dict[str, Any]:
    """The FHIR R4 JSON of ``study`` with the eligibility of ``version``."""
    node = parse_json(version.criteria, catalogue_of(version))
    group = {
        "resourceType": "Group",
        "id": "eligibility",
        "type": "person",
        "actual": False,
        "name": f"Eligibility of version {version.number}",
        "characteristic": characteristics(node),
    }
    resource: dict[str, Any] = {
        "resourceType": "ResearchStudy",
        "id": f"study-{study.id}",
        "identifier": [{"system": f"{base_url.rstrip('/')}/studies", "value": str(study.id)}],
        "title": version.title,
        "status": FHIR_STATUS[study.status],
        "description": version.summary or version.title,
        "contained": [group],
        "enrollment": [{"reference": "#eligibility", "display": to_text(node)}],
        "location": [{"coding": [{"system": "urn:iso:std:iso:3166:-2", "code": version.site_region}]}],
        "extension": [
            {
                "url": f"{base_url.rstrip('/')}/fhir/StructureDefinition/target-enrolment",
                "valueInteger": version.target_enrolment,
            }
        ],
    }
    return resource


# A respondent's recorded outcome → http://hl7.org/fhir/research-subject-status (R4). A respondent
# with no outcome yet answered "interested" and waits to be contacted: a candidate.
SUBJECT_STATUS = {
    None: "candidate",
    "screened": "screening",
    "enrolled": "on-study",
    "not_enrolled": "not-registered",
}


def research_subjects(study: Study, respondents: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    """The study's respondents as a FHIR R4 ``Bundle`` (collection) of ``ResearchSubject``, each
    with the status its recorded outcome maps to, the study as ``ResearchStudy/study-N``, the day
    they answered as the period's start and the person by name and a per-study identifier."""
    base = base_url.rstrip("/")
    entries = []
    for item in respondents:
        subject_id = f"study-{study.id}-respondent-{item['respondent']}"
        resource: dict[str, Any] = {
            "resourceType": "ResearchSubject",
            "id": subject_id,
            "identifier": [
                {"system": f"{base}/studies/{study.id}/respondents", "value": str(item["respondent"])}
            ],
            "status": SUBJECT_STATUS[item.get("outcome")],
            "study": {"reference": f"ResearchStudy/study-{study.id}"},
            "individual": {
                "identifier": {
                    "system": f"{base}/studies/{study.id}/respondents",
                    "value": str(item["respondent"]),
                },
                "display": item.get("name") or "",
            },
        }
        if item.get("answered_at"):
            resource["period"] = {"start": item["answered_at"]}
        entries.append({"fullUrl": f"{base}/fhir/ResearchSubject/{subject_id}", "resource": resource})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "total": len(entries),
        "entry": entries,
    }
