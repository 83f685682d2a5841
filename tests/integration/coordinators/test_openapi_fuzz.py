"""Schemathesis drives every operation of ``/api/v1/openapi.json`` against the app (P8, §8).

Each operation gets schema-valid and schema-invalid requests (a bounded, derandomized budget) with
a real bearer token, sometimes aimed at studies that exist; every answer must be no 5xx, a status
code the document lists, a content type it lists, and a body its schema describes.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from panel_service.services import accounts
from tests.integration.coordinators.conftest import Staff, study_in

pytestmark = pytest.mark.postgres  # once per suite: the PostgreSQL run

EXAMPLES_PER_MODE = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
REVIEWER_PATHS = ("/approval", "/reject")


def test_every_operation_answers_as_documented(
    app: Flask, client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    existing = [
        study_in(db, coordinator, reviewer, status) for status in ("draft", "in_review", "recruiting")
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [operation.label for operation in operations]
    for operation in operations:
        who = reviewer if operation.path.endswith(REVIEWER_PATHS) else coordinator
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            _fuzz(operation, mode, who, db, existing)


def _fuzz(operation: Any, mode: Any, who: Staff, db: Session, existing: list[int]) -> None:
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        if "study_id" in (case.path_parameters or {}):
            case.path_parameters["study_id"] = data.draw(
                st.sampled_from([*existing, case.path_parameters["study_id"]]), label="study_id"
            )
        token = who.token
        if operation.path == "/api/v1/tokens/current":
            token = accounts.create_api_token(db, who.account)  # revoking it leaves the others working
            db.flush()
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    run()
