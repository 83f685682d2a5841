"""Contract tests of the studies API (product contract §8): valid and invalid bodies, one error shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel_service.models import AuditEvent, OutboxMessage, Study
from tests.integration.coordinators.conftest import LETTER_SHA, STUDY_BODY, Staff, api, study_in


def assert_error(response: Any, status: int, *fields: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    for field in fields:
        assert field in body["error"]["fields"], body
    return dict(body["error"])


def approval_body(**overrides: Any) -> dict[str, Any]:
    today = dt.date.today()
    body = {
        "committee": "Region Midtjylland IEC",
        "kind": "IEC",
        "reference": "1-10-72-1-26",
        "approved_on": (today - dt.timedelta(days=2)).isoformat(),
        "expires_on": (today + dt.timedelta(days=300)).isoformat(),
        "letter_sha256": LETTER_SHA,
    }
    body.update(overrides)
    return body


def test_create_answers_201_with_the_study(client: FlaskClient, coordinator: Staff) -> None:
    response = api(client, "POST", "/studies", coordinator, json=STUDY_BODY)
    assert response.status_code == 201, response.get_json()
    study = response.get_json()
    assert study["status"] == "draft"
    assert isinstance(study["id"], int)
    for key in ("title", "summary", "invitation_text", "site_region", "target_enrolment"):
        assert study[key] == STUDY_BODY[key]
    assert study["criteria"]["all"][0] == {"field": "age", "op": "between", "value": [18, 75]}
    assert study["criteria_text"] == STUDY_BODY["criteria"]
    assert study["version"] == 1
    assert study["active_version"] is None
    assert study["pending_version"]["review_state"] == "draft"


def test_create_accepts_criteria_as_json(client: FlaskClient, coordinator: Staff) -> None:
    body = {
        **STUDY_BODY,
        "criteria": {"all": [{"field": "age", "op": "ge", "value": 18}, {"condition": "G25.8"}]},
    }
    response = api(client, "POST", "/studies", coordinator, json=body)
    assert response.status_code == 201
    assert response.get_json()["criteria_text"] == "age >= 18 and has condition G25.8"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "recruiting"}, "status"),
        ({"id": 5}, "id"),
        ({"organisation_id": 1}, "organisation_id"),
        ({"title": ""}, "title"),
        ({"title": 42}, "title"),
        ({"target_enrolment": "12"}, "target_enrolment"),
        ({"target_enrolment": 0}, "target_enrolment"),
        ({"target_enrolment": 10**30}, "target_enrolment"),
        ({"target_enrolment": 1.5}, "target_enrolment"),
        ({"site_region": "Denmark"}, "site_region"),
        ({"invitation_text": None}, "invitation_text"),
        ({"criteria": 7}, "criteria"),
        ({"criteria": "age >= 18 and foo"}, "criteria"),
        ({"criteria": {"all": []}}, "criteria.all"),
    ],
)
def test_create_refuses_bad_fields_by_name(
    client: FlaskClient, db: Session, coordinator: Staff, change: dict[str, Any], field: str
) -> None:
    before = db.query(Study).count()
    response = api(client, "POST", "/studies", coordinator, json={**STUDY_BODY, **change})
    assert_error(response, 422, field)
    assert db.query(Study).count() == before


def test_criteria_errors_carry_their_json_path(client: FlaskClient, coordinator: Staff) -> None:
    criteria = {
        "all": [
            {"field": "age", "op": "ge", "value": 18},
            {"field": "age", "op": "between", "value": [80, 20]},
        ]
    }
    response = api(client, "POST", "/studies", coordinator, json={**STUDY_BODY, "criteria": criteria})
    error = assert_error(response, 422, "criteria.all[1].value")
    assert "80" in error["fields"]["criteria.all[1].value"]


def test_missing_fields_are_named(client: FlaskClient, coordinator: Staff) -> None:
    error = assert_error(api(client, "POST", "/studies", coordinator, json={}), 422)
    assert {"title", "criteria", "invitation_text", "site_region", "target_enrolment"} <= set(error["fields"])


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2]", b'"text"', b"null", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"]
)
def test_malformed_bodies_get_4xx_json_never_500(client: FlaskClient, coordinator: Staff, raw: bytes) -> None:
    response = api(client, "POST", "/studies", coordinator, data=raw, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert set(response.get_json()["error"]) == {"code", "message", "fields"}


def test_no_or_bad_token_is_401_json(client: FlaskClient) -> None:
    assert_error(api(client, "GET", "/studies"), 401)
    assert_error(api(client, "GET", "/studies", headers={"Authorization": "Bearer nope"}), 401)
    assert_error(api(client, "GET", "/studies", headers={"Authorization": "Basic abc"}), 401)


def test_participant_token_is_403(client: FlaskClient, participant: Staff) -> None:
    assert_error(api(client, "GET", "/studies", participant), 403)
    assert_error(api(client, "POST", "/studies", participant, json=STUDY_BODY), 403)


def test_list_is_paginated_and_scoped_to_the_organisation(
    client: FlaskClient, db: Session, coordinator: Staff, other_coordinator: Staff, reviewer: Staff
) -> None:
    for _ in range(3):
        study_in(db, coordinator, reviewer, "draft")
    foreign = study_in(db, other_coordinator, reviewer, "draft")
    page = api(client, "GET", "/studies?per_page=2&page=1", coordinator).get_json()
    assert page["total"] == 3 and page["page"] == 1 and page["per_page"] == 2
    assert len(page["items"]) == 2
    second = api(client, "GET", "/studies?per_page=2&page=2", coordinator).get_json()
    assert len(second["items"]) == 1
    ids = {item["id"] for item in page["items"] + second["items"]}
    assert foreign not in ids
    assert_error(api(client, "GET", "/studies?per_page=1000", coordinator), 422, "per_page")
    assert_error(api(client, "GET", "/studies?page=x", coordinator), 422, "page")


def test_another_organisations_study_is_404_like_a_missing_one(
    client: FlaskClient, db: Session, coordinator: Staff, other_coordinator: Staff, reviewer: Staff
) -> None:
    foreign = study_in(db, other_coordinator, reviewer, "draft")
    hidden = assert_error(api(client, "GET", f"/studies/{foreign}", coordinator), 404)
    missing = assert_error(api(client, "GET", "/studies/999999999", coordinator), 404)
    assert hidden["code"] == missing["code"]
    for path in ("submit", "recruit", "pause", "close", "feasibility", "funnel", "respondents", "fhir"):
        method = "GET" if path in ("feasibility", "funnel", "respondents", "fhir") else "POST"
        assert_error(api(client, method, f"/studies/{foreign}/{path}", coordinator), 404)
    assert_error(api(client, "PUT", f"/studies/{foreign}", coordinator, json=STUDY_BODY), 404)
    assert_error(api(client, "GET", f"/studies/{2**70}", coordinator), 404)


def test_full_life_cycle_through_the_api(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    study = api(client, "POST", "/studies", coordinator, json=STUDY_BODY).get_json()
    sid = study["id"]
    assert_error(api(client, "POST", f"/studies/{sid}/recruit", coordinator), 409)
    assert api(client, "POST", f"/studies/{sid}/submit", coordinator).get_json()["status"] == "in_review"
    # coordinators cannot approve their own study
    assert_error(api(client, "POST", f"/studies/{sid}/approval", coordinator, json=approval_body()), 403)
    approved = api(client, "POST", f"/studies/{sid}/approval", reviewer, json=approval_body())
    assert approved.status_code == 200, approved.get_json()
    body = approved.get_json()
    assert body["status"] == "approved"
    assert body["active_version"]["approval"]["letter_sha256"] == LETTER_SHA
    assert body["active_version"]["review_state"] == "approved"
    recruiting = api(client, "POST", f"/studies/{sid}/recruit", coordinator).get_json()
    assert recruiting["status"] == "recruiting"
    jobs = db.scalars(select(OutboxMessage).where(OutboxMessage.task_name == "matching.start_study")).all()
    assert [job.payload for job in jobs] == [{"study_id": sid}]
    assert api(client, "POST", f"/studies/{sid}/pause", coordinator).get_json()["status"] == "paused"
    assert api(client, "POST", f"/studies/{sid}/recruit", coordinator).get_json()["status"] == "recruiting"
    assert (
        len(db.scalars(select(OutboxMessage).where(OutboxMessage.task_name == "matching.start_study")).all())
        == 2
    )
    assert api(client, "POST", f"/studies/{sid}/close", coordinator).get_json()["status"] == "closed"
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == str(sid))))
    assert {
        "study.create",
        "study.submit",
        "study.approve",
        "study.recruit",
        "study.pause",
        "study.close",
    } <= actions


def test_edit_of_a_recruiting_study_makes_a_pending_version(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    body = {**STUDY_BODY, "invitation_text": "New wording."}
    edited = api(client, "PUT", f"/studies/{sid}", coordinator, json=body).get_json()
    assert edited["status"] == "recruiting"
    assert edited["active_version"]["number"] == 1
    assert edited["pending_version"]["number"] == 2
    assert edited["pending_version"]["review_state"] == "draft"
    # the same content again makes no version
    again = api(client, "PUT", f"/studies/{sid}", coordinator, json=body).get_json()
    assert again["version"] == 2
    assert api(client, "POST", f"/studies/{sid}/submit", coordinator).get_json()["status"] == "recruiting"
    approved = api(client, "POST", f"/studies/{sid}/approval", reviewer, json=approval_body()).get_json()
    assert approved["status"] == "recruiting"
    assert approved["active_version"]["number"] == 2
    assert approved["pending_version"] is None
    versions = api(client, "GET", f"/studies/{sid}/versions", coordinator).get_json()
    assert [(v["number"], v["review_state"]) for v in versions["items"]] == [
        (2, "approved"),
        (1, "superseded"),
    ]
    diff = api(client, "GET", f"/studies/{sid}/diff?from=1&to=2", coordinator).get_json()
    assert "-invitation_text: We are looking for adults with restless legs." in diff["diff"]
    assert "+invitation_text: New wording." in diff["diff"]
    assert_error(api(client, "GET", f"/studies/{sid}/diff?from=1&to=9", coordinator), 404)
    assert_error(api(client, "GET", f"/studies/{sid}/diff?from=1", coordinator), 422, "to")


def test_edit_in_review_goes_back_to_draft(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "in_review")
    edited = api(client, "PUT", f"/studies/{sid}", coordinator, json={**STUDY_BODY, "target_enrolment": 80})
    assert edited.get_json()["status"] == "draft"
    assert_error(api(client, "POST", f"/studies/{sid}/approval", reviewer, json=approval_body()), 409)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "XYZ"}, "kind"),
        ({"letter_sha256": "abc"}, "letter_sha256"),
        ({"approved_on": "yesterday"}, "approved_on"),
        ({"expires_on": (dt.date.today() - dt.timedelta(days=1)).isoformat()}, "expires_on"),
        ({"approved_on": "2020-01-01", "expires_on": "2019-01-01"}, "expires_on"),
        ({"approved_on": (dt.date.today() + dt.timedelta(days=3)).isoformat()}, "approved_on"),
        ({"committee": ""}, "committee"),
        ({"status": "approved"}, "status"),
    ],
)
def test_approval_refuses_bad_fields(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff, change: dict[str, Any], field: str
) -> None:
    sid = study_in(db, coordinator, reviewer, "in_review")
    assert_error(
        api(client, "POST", f"/studies/{sid}/approval", reviewer, json=approval_body(**change)), 422, field
    )
    assert db.get(Study, sid).status == "in_review"  # type: ignore[union-attr]


def test_reject_needs_a_reason_and_is_audited(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "in_review")
    assert_error(api(client, "POST", f"/studies/{sid}/reject", reviewer, json={}), 422, "reason")
    assert_error(api(client, "POST", f"/studies/{sid}/reject", reviewer, json={"reason": ""}), 422, "reason")
    rejected = api(client, "POST", f"/studies/{sid}/reject", reviewer, json={"reason": "No consent form"})
    assert rejected.get_json()["status"] == "rejected"
    assert rejected.get_json()["pending_version"]["rejection_reason"] == "No consent form"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "study.reject"))
    assert event is not None and event.details["reason"] == "No consent form"


def test_revoking_the_current_token(client: FlaskClient, coordinator: Staff) -> None:
    assert api(client, "DELETE", "/tokens/current", coordinator).status_code == 204
    assert_error(api(client, "GET", "/studies", coordinator), 401)


def test_fhir_export_validates_as_research_study(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    from fhir.resources.R4B.researchstudy import ResearchStudy

    sid = study_in(db, coordinator, reviewer, "recruiting")
    response = api(client, "GET", f"/studies/{sid}/fhir", coordinator)
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    resource = ResearchStudy.model_validate(response.get_json())
    assert resource.status == "active"
    group = resource.contained[0]
    assert group.get_resource_type() == "Group"
    characteristics = group.characteristic
    codes = [
        (c.valueCodeableConcept.coding[0].code, c.exclude) for c in characteristics if c.valueCodeableConcept
    ]
    assert ("G25.8", False) in codes
    assert ("N17-N19", True) in codes and ("D66", True) in codes and ("A12CC", True) in codes
    age = next(c for c in characteristics if c.valueRange is not None)
    assert (age.valueRange.low.value, age.valueRange.high.value) == (18, 75)


def test_openapi_document_validates(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    paths = document["paths"]
    for path in (
        "/api/v1/studies",
        "/api/v1/studies/{study_id}",
        "/api/v1/studies/{study_id}/submit",
        "/api/v1/studies/{study_id}/approval",
        "/api/v1/studies/{study_id}/reject",
        "/api/v1/studies/{study_id}/recruit",
        "/api/v1/studies/{study_id}/pause",
        "/api/v1/studies/{study_id}/close",
        "/api/v1/studies/{study_id}/feasibility",
        "/api/v1/studies/{study_id}/funnel",
        "/api/v1/studies/{study_id}/respondents",
    ):
        assert path in paths
    create = document["components"]["schemas"]["StudyIn"]["properties"]
    assert {
        "title",
        "summary",
        "criteria",
        "invitation_text",
        "site_region",
        "target_enrolment",
        "sites",
    } == set(create)
    site = document["components"]["schemas"]["SiteIn"]
    assert set(site["properties"]) == {"name", "lat", "lon"} and set(site["required"]) == {
        "name",
        "lat",
        "lon",
    }
    assert site["properties"]["lat"]["minimum"] == -90 and site["properties"]["lon"]["maximum"] == 180


def test_approval_names_the_version_read(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "in_review")
    # the coordinator edits and re-submits while the reviewer reads version 1
    api(client, "PUT", f"/studies/{sid}", coordinator, json={**STUDY_BODY, "target_enrolment": 77})
    api(client, "POST", f"/studies/{sid}/submit", coordinator)
    stale = api(client, "POST", f"/studies/{sid}/approval", reviewer, json=approval_body(version=1))
    assert_error(stale, 409, "version")
    fresh = api(client, "POST", f"/studies/{sid}/approval", reviewer, json=approval_body(version=2))
    assert fresh.get_json()["active_version"]["number"] == 2


def test_unknown_api_paths_and_methods_answer_json(client: FlaskClient, coordinator: Staff) -> None:
    assert_error(api(client, "GET", "/nothing-here", coordinator), 404)
    assert_error(api(client, "DELETE", "/studies", coordinator), 405)
    assert client.get("/no-such-page").mimetype != "application/json"


def test_openapi_error_responses_use_the_error_shape(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    response = document["paths"]["/api/v1/studies"]["post"]["responses"]["422"]
    schema = response["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert schema["properties"]["error"]["required"] == ["code", "message", "fields"]


def test_editing_back_to_the_approved_content_withdraws_the_pending_version(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    api(client, "PUT", f"/studies/{sid}", coordinator, json={**STUDY_BODY, "target_enrolment": 99})
    back = api(client, "PUT", f"/studies/{sid}", coordinator, json=STUDY_BODY).get_json()
    assert back["pending_version"] is None and back["version"] == 1
    again = api(client, "PUT", f"/studies/{sid}", coordinator, json={**STUDY_BODY, "target_enrolment": 98})
    assert again.get_json()["version"] == 3  # numbers are never reused


def test_criteria_check(client: FlaskClient, coordinator: Staff) -> None:
    ok = api(client, "POST", "/criteria/check", coordinator, json={"criteria": "age >= 18 and smoker"})
    assert ok.status_code == 200
    assert ok.get_json()["criteria"] == {
        "all": [{"field": "age", "op": "ge", "value": 18}, {"field": "smoker", "op": "eq", "value": True}]
    }
    bad = api(client, "POST", "/criteria/check", coordinator, json={"criteria": {"any": [{"field": "bmi"}]}})
    fields = assert_error(bad, 422)["fields"]
    assert all(path.startswith("criteria.any[0]") for path in fields), fields


def test_a_bug_still_answers_in_the_error_shape(
    client: FlaskClient, coordinator: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    from panel_service.services import studies

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    # Both ways the list reads a page: plain paging (token and page in one statement), and
    # paging the schema reads (a leading zero), through the token check and webargs.
    monkeypatch.setattr(studies, "token_study_page", broken)
    monkeypatch.setattr(studies, "study_page_keys", broken)
    for path in ("/studies", "/studies?page=01"):
        error = assert_error(api(client, "GET", path, coordinator), 500)
        assert error["code"] == "internal_error" and "boom" not in error["message"]
