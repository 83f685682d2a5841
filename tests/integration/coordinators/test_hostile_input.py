"""P8 for hostile input: control characters (NUL first), lone surrogates, numbers of hundreds or
thousands of digits, 1e400, NaN and deep nesting, driven by Hypothesis through every web form (with
the CSRF token taken from its page) and every API operation that reads a body. Each is answered
with a field error or a 4xx naming the field, never a 500, and writes nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.extensions import limiter
from panel_service.services import account_mail, tokens
from tests.integration.coordinators.conftest import STUDY_BODY, Staff, api, make_staff, study_in
from tests.integration.coordinators.test_api_studies import approval_body, assert_error
from tests.integration.coordinators.test_web_pages import csrf_from
from tests.integration.coordinators.test_web_pages import sign_in as staff_sign_in
from tests.support.volunteers import make_volunteer, row_counts
from tests.support.volunteers import sign_in as volunteer_sign_in

REFUSED = "contains a character that cannot be used"
HYPOTHESIS = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CONTROL = st.sampled_from([chr(code) for code in range(0x20) if code not in (9, 10, 13)] + ["\x7f"])
WORD = st.text(alphabet=string.ascii_letters + " ", max_size=8)
# A C0 control character (NUL most often) somewhere in otherwise ordinary text.
CONTROL_TEXT = st.tuples(WORD, st.one_of(st.just("\x00"), CONTROL), WORD).map("".join)


# --- web forms -------------------------------------------------------------------------------


@dataclass
class FormCase:
    page: str
    fields: dict[str, Any]
    post: str = ""
    files: dict[str, Callable[[], Any]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.post or self.page


def _anonymous(name: str, db: Session, settings: Settings, client: FlaskClient) -> FormCase:
    if name == "login":
        return FormCase(
            "/login", {"email": "vera@example.org", "password": "a long passphrase", "next": "/me"}
        )
    if name == "forgot":
        return FormCase("/password/forgot", {"email": "vera@example.org"})
    if name == "signup":
        return FormCase(
            "/signup",
            {"name": "Vera", "email": "new@example.org", "password": "a long passphrase", "consent": "y"},
        )
    account, _participant = make_volunteer(db, settings)
    if name == "reset":
        token = tokens.issue(db, "reset_password", ttl=account_mail.RESET_TTL, account_id=account.id)
        return FormCase(f"/password/reset/{token}", {"password": "a brand new passphrase"})
    volunteer_sign_in(client, "vera@example.org")
    if name == "details":
        return FormCase("/me/details", {"name": "Vera", "phone": "+45 12 34 56 78"})
    if name == "about":
        return FormCase(
            "/me/profile/about",
            {
                "birth_date": "1980-04-23",
                "sex": "female",
                "region": "DK-84",
                "height_cm": "172",
                "weight_kg": "70",
            },
        )
    if name == "pause":
        until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        return FormCase("/me/contact", {"until": until}, post="/me/contact/pause")
    if name == "conditions":
        return FormCase("/me/profile/conditions", {"q": "legs", "codes": "G25.81"})
    assert name == "delete"
    return FormCase("/me/delete", {"password": "a long passphrase"})


def _staff(name: str, db: Session, settings: Settings, client: FlaskClient) -> FormCase:
    coordinator = make_staff(db, "coordinator", "Aarhus Sleep Clinic")
    reviewer = make_staff(db, "reviewer")
    study_fields = {key: str(value) for key, value in STUDY_BODY.items()}
    if name in ("study_new", "study_edit"):
        staff_sign_in(client, db, settings, coordinator)
        if name == "study_new":
            return FormCase("/coordinators/studies/new", study_fields)
        sid = study_in(db, coordinator, reviewer, "draft")
        return FormCase(f"/coordinators/studies/{sid}/edit", study_fields)
    if name in ("approve", "reject"):
        sid = study_in(db, coordinator, reviewer, "in_review")
        staff_sign_in(client, db, settings, reviewer)
        if name == "reject":
            return FormCase(
                f"/review/studies/{sid}",
                {"reject-reason": "Consent form missing"},
                f"/review/studies/{sid}/reject",
            )
        today = dt.date.today()
        return FormCase(
            f"/review/studies/{sid}",
            {
                "committee": "Region Midtjylland IEC",
                "kind": "IEC",
                "reference": "1-10-72",
                "approved_on": (today - dt.timedelta(days=1)).isoformat(),
                "expires_on": (today + dt.timedelta(days=300)).isoformat(),
            },
            f"/review/studies/{sid}/approve",
            files={"letter": lambda: (io.BytesIO(b"%PDF-1.4 approved"), "approval.pdf")},
        )
    assert name == "admin_staff"
    staff_sign_in(client, db, settings, make_staff(db, "admin"))
    return FormCase(
        "/admin/staff", {"email": "new.coordinator@example.org", "role": "coordinator", "organisation": "X"}
    )


FORMS = {
    **dict.fromkeys(
        ["login", "forgot", "signup", "reset", "details", "about", "pause", "conditions", "delete"],
        _anonymous,
    ),
    **dict.fromkeys(["study_new", "study_edit", "approve", "reject", "admin_staff"], _staff),
}


@pytest.mark.parametrize("form_name", list(FORMS))
def test_every_form_refuses_control_characters_in_every_field(
    app: Flask, client: FlaskClient, db: Session, settings: Settings, form_name: str
) -> None:
    case = FORMS[form_name](form_name, db, settings, client)
    token = csrf_from(client.get(case.page).get_data(as_text=True))

    @HYPOTHESIS
    @given(name=st.sampled_from(sorted(case.fields)), value=CONTROL_TEXT)
    def post_hostile(name: str, value: str) -> None:
        with app.app_context():
            limiter.reset()
        before = row_counts(db)
        files = {key: make() for key, make in case.files.items()}
        data = {**case.fields, **files, name: value, "csrf_token": token}
        response = client.post(case.url, data=data, content_type="multipart/form-data" if files else None)
        page = response.get_data(as_text=True)
        assert response.status_code in (200, 400, 422), (name, response.status_code, page[:300])
        assert REFUSED in page, (name, page[:2000])
        assert "\x00" not in page
        assert row_counts(db) == before

    post_hostile()


@pytest.mark.parametrize(
    "criteria",
    ["bmi < 1e400", "age > " + "9" * 500, "weight_kg >= " + "1" * 5000, "age between 18 and 1e999"],
)
def test_the_study_form_refuses_absurd_numbers_in_criteria_by_place(
    client: FlaskClient, db: Session, settings: Settings, criteria: str
) -> None:
    case = _staff("study_new", db, settings, client)
    before = row_counts(db)
    token = csrf_from(client.get(case.page).get_data(as_text=True))
    response = client.post(case.url, data={**case.fields, "criteria": criteria, "csrf_token": token})
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    assert "number out of range" in response.get_data(as_text=True)
    assert row_counts(db) == before


def test_the_criteria_editor_check_answers_absurd_input(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _staff("study_new", db, settings, client)
    token = csrf_from(client.get("/coordinators/studies/new").get_data(as_text=True))
    headers = {"X-CSRFToken": token, "Content-Type": "application/json"}
    for raw in (
        '{"criteria": "bmi < 1e400"}',
        '{"criteria": {"field": "age", "op": "gt", "value": ' + "9" * 5000 + "}}",
        '{"criteria": "smoker\\ud800"}',
    ):
        response = client.post("/coordinators/criteria/check", data=raw, headers=headers)
        assert response.status_code < 500 and response.get_json()["ok"] is False, raw[:80]


# --- the JSON API ----------------------------------------------------------------------------


def _json_string(text: str) -> str:
    """``text`` as a JSON string literal; lone surrogates as \\u escapes (no encoder would write them)."""
    return json.dumps(text, ensure_ascii=True)


DIGITS = st.integers(min_value=20, max_value=6000).map(lambda n: "9" * n)
HOSTILE_JSON = st.one_of(
    CONTROL_TEXT.map(_json_string),
    st.tuples(WORD, st.sampled_from(["\\ud800", "\\udfff", "\\udc00x"]), WORD).map(
        lambda parts: f'"{parts[0]}{parts[1]}{parts[2]}"'
    ),
    DIGITS,
    DIGITS.map(lambda digits: "-" + digits),
    st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" + "0" * 80 + ".5"]),
)
DEEP = st.integers(min_value=70, max_value=5000).map(lambda n: "[" * n + "]" * n)


def _criteria_leaf(value: str) -> str:
    return '{"field": "bmi", "op": "lt", "value": ' + value + "}"


@dataclass
class Operation:
    method: str
    path: str
    body: dict[str, Any]
    who: str


def _operations(db: Session, coordinator: Staff, reviewer: Staff) -> list[Operation]:
    draft = study_in(db, coordinator, reviewer, "draft")
    in_review = study_in(db, coordinator, reviewer, "in_review")
    return [
        Operation("POST", "/studies", dict(STUDY_BODY), "coordinator"),
        Operation("PUT", f"/studies/{draft}", dict(STUDY_BODY), "coordinator"),
        Operation("POST", "/criteria/check", {"criteria": STUDY_BODY["criteria"]}, "coordinator"),
        Operation("POST", f"/studies/{in_review}/approval", approval_body(), "reviewer"),
        Operation("POST", f"/studies/{in_review}/reject", {"reason": "Consent form missing"}, "reviewer"),
    ]


def _with_raw(body: dict[str, Any], key: str, raw: str) -> str:
    """``body`` as JSON text with ``key``'s value replaced by the raw JSON text ``raw``."""
    marker = "__RAW_VALUE__"
    return json.dumps({**body, key: marker}).replace(json.dumps(marker), raw)


def test_every_api_body_refuses_hostile_values_by_path(
    app: Flask, client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    operations = _operations(db, coordinator, reviewer)
    staff = {"coordinator": coordinator, "reviewer": reviewer}

    @HYPOTHESIS
    @given(data=st.data(), raw=HOSTILE_JSON)
    def send(data: st.DataObject, raw: str) -> None:
        operation = data.draw(st.sampled_from(operations), label="operation")
        key = data.draw(st.sampled_from(sorted(operation.body)), label="field")
        in_criteria = key == "criteria" and data.draw(st.booleans(), label="inside criteria")
        body = _with_raw(operation.body, key, _criteria_leaf(raw) if in_criteria else raw)
        before = row_counts(db)
        response = api(
            client,
            operation.method,
            operation.path,
            staff[operation.who],
            data=body,
            content_type="application/json",
        )
        error = assert_error(response, 422)
        assert any(path == key or path.startswith(f"{key}.") for path in error["fields"]), error
        assert row_counts(db) == before

    send()


def test_deep_nesting_and_unknown_fields_with_hostile_names_are_refused(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    operations = _operations(db, coordinator, reviewer)
    staff = {"coordinator": coordinator, "reviewer": reviewer}

    @HYPOTHESIS
    @given(data=st.data(), deep=DEEP)
    def send(data: st.DataObject, deep: str) -> None:
        operation = data.draw(st.sampled_from(operations), label="operation")
        key = data.draw(st.sampled_from(sorted(operation.body)), label="field")
        before = row_counts(db)
        response = api(
            client,
            operation.method,
            operation.path,
            staff[operation.who],
            data=_with_raw(operation.body, key, deep),
            content_type="application/json",
        )
        assert_error(response, response.status_code)
        assert response.status_code in (400, 422)
        assert row_counts(db) == before

    send()
    hostile_key = '{"title\\u0000": 1, "\\ud800": 2}'
    response = api(client, "POST", "/studies", coordinator, data=hostile_key, content_type="application/json")
    fields = assert_error(response, 422)["fields"]
    assert all("\x00" not in path and "\ud800" not in path for path in fields), fields


def test_query_strings_and_path_ids_out_of_range(client: FlaskClient, coordinator: Staff) -> None:
    assert_error(api(client, "GET", "/studies?page=" + "9" * 300, coordinator), 422, "page")
    assert_error(api(client, "GET", "/studies?page=1%00", coordinator), 422, "page")
    assert_error(api(client, "GET", "/studies?per_page=" + "1" * 3000, coordinator), 414)
    for path in ("/studies/" + "9" * 30, "/studies/" + "9" * 5000 + "/funnel", "/studies/2147483648"):
        assert_error(api(client, "GET", path, coordinator), 404)


def test_openapi_servers_come_from_the_base_url_not_the_host_header(
    client: FlaskClient, settings: Settings
) -> None:
    first = client.get("/api/v1/openapi.json", headers={"Host": "attacker.example"}).get_json()
    second = client.get("/api/v1/openapi.json").get_json()
    expected = [{"url": settings.base_url.rstrip("/")}]
    assert first["servers"] == second["servers"] == expected


def test_openapi_describes_bodies_and_fields_as_validated(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    for operations in document["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation:
                assert operation["requestBody"]["required"] is True
            assert "414" in operation["responses"]
    study_in_schema = document["components"]["schemas"]["StudyIn"]["properties"]
    assert study_in_schema["site_region"]["pattern"]
    assert study_in_schema["target_enrolment"]["type"] == "integer"
    assert {"type": "string"} in study_in_schema["criteria"]["oneOf"]
    fhir = document["paths"]["/api/v1/studies/{study_id}/fhir"]["get"]["responses"]["200"]
    assert "application/fhir+json" in fhir["content"]
