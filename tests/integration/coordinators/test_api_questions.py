"""GET /api/v1/questions: the catalogue (§4a), paged like the other lists, in the OpenAPI document."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.integration.coordinators.conftest import Staff, api


def test_questions_are_listed_with_types_options_wording_and_ops(
    client: FlaskClient, coordinator: Staff
) -> None:
    first = api(client, "GET", "/questions?per_page=100", coordinator)
    assert first.status_code == 200, first.json
    body = first.json
    by_key = {item["key"]: item for item in body["items"]}
    assert body["total"] >= 38 and body["page"] == 1 and body["per_page"] == 100
    status = by_key["smoking_status"]
    assert status["type"] == "choice" and status["ops"] == ["eq", "ne", "in"]
    assert [option["key"] for option in status["options"]] == ["never", "former", "current"]
    assert status["wording"]["da"] == "Ryger du, eller har du nogensinde røget?"
    assert by_key["breastfeeding"]["applies_to"] == {"sex": ["female", "other"]}
    assert by_key["breastfeeding"]["value_for_others"] is False
    assert by_key["phq9"]["items"] == [f"phq9_{n}" for n in range(1, 10)]
    assert by_key["languages"]["ops"] == ["has"]
    second = api(client, "GET", "/questions?per_page=5&page=2", coordinator).json
    assert [item["key"] for item in second["items"]] == [item["key"] for item in body["items"][5:10]]


def test_questions_need_a_staff_token_and_a_valid_page(client: FlaskClient, coordinator: Staff) -> None:
    assert api(client, "GET", "/questions").status_code == 401
    response = api(client, "GET", "/questions?per_page=1000", coordinator)
    assert response.status_code == 422 and "per_page" in str(response.json)


def test_questions_are_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/questions"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"page", "per_page"}
