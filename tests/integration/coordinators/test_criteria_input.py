"""Odd and hostile criteria never cause a 5xx: created (201) or refused by path (422), and a study
that was created answers its feasibility, FHIR and diff pages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.integration.coordinators.conftest import STUDY_BODY, Staff, api

CASES = [
    "not " * 5000 + "smoker",
    "(" * 3000 + "smoker" + ")" * 3000,
    " and ".join(["smoker"] * 5000),
    "age in (" + ", ".join(str(i) for i in range(1000)) + ")",
    "age >= 99999999999999999999999999999",
    "bmi >= 1e400",
    "age >= -5",
    "has condition " + "A" * 300,
    "\x00\x01",
    "smoker" + "\u202e" * 10,
]
JSONS = [
    {"not": {"not": {"not": None}}},
    {"all": [json.loads('{"not": ' * 400 + '{"field": "smoker", "op": "eq", "value": true}' + "}" * 400)]},
    {"field": "age", "op": "between", "value": [1e308, 1e309]},
    {"field": "age", "op": "eq", "value": 10**40},
    {"condition": ["G25"]},
]


@pytest.mark.parametrize("criteria", CASES + JSONS)
def test_odd_criteria_never_fail_the_server(client: FlaskClient, coordinator: Staff, criteria: Any) -> None:
    response = api(client, "POST", "/studies", coordinator, json={**STUDY_BODY, "criteria": criteria})
    assert response.status_code in (201, 422), (response.status_code, response.get_data(as_text=True)[:300])
    if response.status_code == 422:
        assert all(path.startswith("criteria") for path in response.get_json()["error"]["fields"])
        return
    sid = response.get_json()["id"]
    for path in ("feasibility", "fhir", "versions", "diff?from=1&to=1"):
        answer = api(client, "GET", f"/studies/{sid}/{path}", coordinator)
        assert answer.status_code == 200, (path, answer.get_data(as_text=True)[:300])
