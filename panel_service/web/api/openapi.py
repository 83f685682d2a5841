"""The OpenAPI document: the one error shape and what APIFlask cannot say from the decorators."""

from typing import Any

from flask.blueprints import BlueprintSetupState

# The one error shape of the product contract §8, as the OpenAPI document describes every 4xx answer.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "Field path (e.g. criteria.all[1].value) to what is wrong with it.",
                    "additionalProperties": {"type": "string"},
                },
            },
        }
    },
}


# Path ids beyond a 32-bit integer column answer 404 (see ``BoundedIntConverter``).
MAX_PATH_ID = 2**31 - 1
FHIR_PATH = "/api/v1/studies/{study_id}/fhir"
FHIR_SUBJECTS_PATH = "/api/v1/studies/{study_id}/fhir/subjects"


def describe_errors(state: BlueprintSetupState) -> None:
    state.app.config["HTTP_ERROR_SCHEMA"] = ERROR_SCHEMA
    state.app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_SCHEMA
    state.app.spec_callback = honest_spec  # type: ignore[attr-defined]


def honest_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """What APIFlask cannot say from the decorators alone, said for every operation at once:
    a body is required wherever one is read; path ids have the bounds the router enforces;
    every operation may answer 414 (``MAX_QUERY_STRING``); the FHIR exports answer 200 with
    ``application/fhir+json`` (a ResearchStudy, a Bundle of ResearchSubject) rather than APIFlask's
    generic JSON."""
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("schema", {}).get("type") == "integer":
                    parameter["schema"].update({"minimum": 0, "maximum": MAX_PATH_ID})
            operation["responses"]["414"] = {
                "description": "Query string too long",
                "content": {"application/json": {"schema": ERROR_SCHEMA}},
            }
            if path == FHIR_PATH:
                operation["responses"]["200"] = {
                    "description": "The study as a FHIR R4 ResearchStudy with a contained eligibility Group",
                    "content": {
                        "application/fhir+json": {
                            "schema": {
                                "type": "object",
                                "required": ["resourceType"],
                                "properties": {"resourceType": {"type": "string", "enum": ["ResearchStudy"]}},
                            }
                        }
                    },
                }
            if path == FHIR_SUBJECTS_PATH:
                operation["responses"]["200"] = {
                    "description": "The respondents as a FHIR R4 Bundle (collection) of ResearchSubject",
                    "content": {
                        "application/fhir+json": {
                            "schema": {
                                "type": "object",
                                "required": ["resourceType", "type", "entry"],
                                "properties": {
                                    "resourceType": {"type": "string", "enum": ["Bundle"]},
                                    "type": {"type": "string", "enum": ["collection"]},
                                    "entry": {"type": "array"},
                                },
                            }
                        }
                    },
                }
    return spec
