"""The criteria builder's endpoints (issue 13 item 8): each step posts the study form and shows it
again with the criteria text changed and nothing saved; the JSON answers carry the text and the
builder redrawn; the text is read with the real parser and its errors come by line and column;
bad input is a 4xx naming the field, never a 500; only the count button runs a feasibility query."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import AuditEvent, Study
from tests.integration.coordinators.conftest import STUDY_BODY, Staff, make_volunteer, study_in
from tests.integration.coordinators.test_web_pages import csrf_from, sign_in

NEW = "/coordinators/studies/new"
STEP = "/coordinators/criteria/builder"
TREE = "/coordinators/criteria/tree"
COUNT = "/coordinators/criteria/builder/count"
JSON = {"Accept": "application/json"}


def _token(client: FlaskClient, url: str = NEW) -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


def step(client: FlaskClient, token: str, criteria: str, **fields: Any) -> Any:
    data = {**STUDY_BODY, "criteria": criteria, "csrf_token": token, **fields}
    return client.post(STEP, data=data, headers=JSON)


def test_add_a_condition_by_name_with_a_qualifier_and_group_without_saving(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff
) -> None:
    sign_in(client, db, settings, coordinator)
    token = _token(client)
    before = db.scalar(select(func.count()).select_from(Study))

    found = step(
        client, token, "age >= 18", b_action="search-condition", b_condition_q="uro i benene"
    ).get_json()
    assert found["text"] == "age >= 18"
    assert "G25.8" in found["html"]

    added = step(
        client,
        token,
        "age >= 18",
        b_action="add-condition",
        b_condition_q="restless legs",
        b_condition_code="G25.8",
        b_condition_current="current",
        b_condition_for="1",
        b_condition_for_unit="Y",
    ).get_json()
    assert added["ok"] and added["text"] == "age >= 18 and has condition G25.8 currently for at least P1Y"
    assert "restless legs" in added["html"]

    medicine = step(
        client,
        token,
        added["text"],
        b_action="add-medication",
        b_medication_code="A12CC",
        b_medication_within="3",
        b_medication_within_unit="M",
    ).get_json()
    assert medicine["text"].endswith("and takes A12CC within P3M")

    grouped = step(
        client, token, medicine["text"], b_action="group", b_selected=["1", "2"], b_group_kind="none"
    ).get_json()
    assert grouped["text"] == (
        "age >= 18 and not (has condition G25.8 currently for at least P1Y or takes A12CC within P3M)"
    )
    removed = step(client, token, grouped["text"], b_action="remove:1.0.0").get_json()
    assert removed["text"] == "age >= 18 and not takes A12CC within P3M"

    field = step(
        client,
        token,
        removed["text"],
        b_action="add-field",
        b_field="sex",
        b_op="in",
        b_value="female, other",
    )
    assert field.get_json()["text"].endswith("and sex in (female, other)")
    assert db.scalar(select(func.count()).select_from(Study)) == before


def test_without_javascript_a_step_shows_the_study_form_again_with_its_fields(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    sign_in(client, db, settings, coordinator)
    token = _token(client)
    data = {**STUDY_BODY, "criteria": "age >= 18", "csrf_token": token, "b_action": "add-field"}
    data.update(b_field="bmi", b_op="between", b_value="18,5", b_value2="30")
    page = client.post(STEP, data=data)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "age &gt;= 18 and bmi between 18.5 and 30" in html
    assert STUDY_BODY["title"] in html and 'action="/coordinators/studies/new"' in html

    sid = study_in(db, coordinator, reviewer, "draft")
    edit = f"/coordinators/studies/{sid}/edit"
    token = _token(client, edit)
    data = {**STUDY_BODY, "criteria": "age >= 18", "csrf_token": token, "b_study": str(sid)}
    data.update(b_action="add-condition", b_condition_q="G25.8")
    html = client.post(STEP, data=data).get_data(as_text=True)
    assert f'action="/coordinators/studies/{sid}/edit"' in html and "has condition G25.8" in html


def test_text_to_tree_and_errors_by_line(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff
) -> None:
    sign_in(client, db, settings, coordinator)
    headers = {"X-CSRFToken": _token(client)}
    ok = client.post(TREE, json={"criteria": "age >= 18 and\n  has condition G25.8"}, headers=headers)
    assert ok.status_code == 200 and ok.get_json()["ok"]
    assert "restless legs" in ok.get_json()["html"]

    bad = client.post(TREE, json={"criteria": "age >= 18 and\n  weight_kg > 5000"}, headers=headers)
    assert bad.status_code == 422
    errors = bad.get_json()["errors"]
    assert errors[0]["line"] == 2 and errors[0]["column"] == 3 and "weight_kg" in errors[0]["message"]
    assert "all[1]" not in bad.get_json()["html"]
    assert "Line 2, column 3" in bad.get_json()["html"]

    syntax = client.post(TREE, json={"criteria": "age >= 18 and\nhas condition"}, headers=headers).get_json()
    assert syntax["errors"][0]["line"] == 2

    # A step on text that does not read changes nothing and says where it fails.
    stuck = step(
        client, headers["X-CSRFToken"], "age >=", b_action="add-field", b_field="age", b_op="le", b_value="70"
    )
    assert stuck.status_code == 422 and stuck.get_json()["text"] == "age >="


def test_bad_input_is_a_4xx_naming_the_field(
    client: FlaskClient,
    db: Session,
    settings: Settings,
    coordinator: Staff,
    other_coordinator: Staff,
    reviewer: Staff,
) -> None:
    sign_in(client, db, settings, coordinator)
    token = _token(client)
    headers = {"X-CSRFToken": token}
    for body in ([1], {"criteria": 3}, {"criteria": "x" * 20001}, {"criteria": "age > 1", "study": "x"}):
        answer = client.post(TREE, json=body, headers=headers)
        assert answer.status_code == 400
        assert set(answer.get_json()["error"]["fields"]) <= {"criteria", "study"}
    assert (
        client.post(TREE, data="{", headers={**headers, "Content-Type": "application/json"}).status_code
        == 400
    )
    no_action = step(client, token, "age > 1")
    assert no_action.status_code == 400 and "b_action" in no_action.get_json()["error"]["fields"]
    bad_study = step(client, token, "age > 1", b_action="sync", b_study="abc")
    assert bad_study.status_code == 400 and "b_study" in bad_study.get_json()["error"]["fields"]
    theirs = study_in(db, other_coordinator, reviewer, "draft")
    assert step(client, token, "age > 1", b_action="sync", b_study=str(theirs)).status_code == 404
    for fields in (
        {"b_action": "add-field", "b_field": "age", "b_op": "ge", "b_value": "old"},
        {"b_action": "add-field", "b_field": "age", "b_op": "ge", "b_value": "900"},
        {"b_action": "add-field", "b_field": "shoe", "b_op": "ge", "b_value": "9"},
        {"b_action": "add-condition", "b_condition_code": "G25.8", "b_condition_within": "x"},
        {"b_action": "add-condition", "b_condition_code": "12"},
        {"b_action": "add-medication"},
        {"b_action": "group", "b_selected": ["0"], "b_group_kind": "any"},
        {"b_action": "group", "b_selected": ["0", "7"], "b_group_kind": "any"},
        {"b_action": "remove:9"},
        {"b_action": "remove:a.b"},
        {"b_action": "explode"},
    ):
        answer = step(client, token, "age > 1 and sex = female", **fields)
        assert answer.status_code == 422, fields
        assert answer.get_json()["ok"] is False and 'id="b-problem"' in answer.get_json()["html"], fields
    no_js = client.post(
        STEP, data={**STUDY_BODY, "criteria": "age > 1", "csrf_token": token, "b_action": "remove:5"}
    )
    assert no_js.status_code == 422 and "b-problem" in no_js.get_data(as_text=True)
    assert client.post(STEP, data={"criteria": "age > 1", "b_action": "sync"}).status_code == 400  # no CSRF


def test_only_the_count_button_runs_a_feasibility_query(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff
) -> None:
    for _ in range(3):
        make_volunteer(db)
    sign_in(client, db, settings, coordinator)
    token = _token(client)

    def queries() -> int:
        return (
            db.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "feasibility.query")
            )
            or 0
        )

    before = queries()
    step(client, token, "age >= 18", b_action="add-condition", b_condition_code="G25.8")
    client.post(TREE, json={"criteria": "age >= 18"}, headers={"X-CSRFToken": token})
    assert queries() == before

    counted = client.post(
        COUNT,
        data={**STUDY_BODY, "criteria": "age >= 18 and has condition G25.8", "csrf_token": token},
        headers=JSON,
    )
    assert counted.status_code == 200, counted.get_data(as_text=True)
    result = counted.get_json()["count"]
    assert result["matching"] == "fewer than 11"
    assert [row["remaining"] for row in result["attrition"]] == ["fewer than 11", "fewer than 11"]
    assert queries() == before + 1
    html = client.post(COUNT, data={**STUDY_BODY, "criteria": "age >= 18", "csrf_token": token}).get_data(
        as_text=True
    )
    assert "fewer than 11" in html and "What each criterion leaves" in html

    limit = int(settings.feasibility_rate_limit.split()[0])
    statuses = [
        client.post(COUNT, data={"criteria": "age >= 18", "csrf_token": token}, headers=JSON).status_code
        for _ in range(limit)
    ]
    assert statuses[-1] == 429 and 500 not in statuses


def test_the_study_form_shows_the_builder_in_danish(
    client: FlaskClient, db: Session, settings: Settings, coordinator: Staff
) -> None:
    sign_in(client, db, settings, coordinator)
    english = client.get(NEW).get_data(as_text=True)
    assert (
        "Build the criteria by name" in english and 'formaction="/coordinators/criteria/builder"' in english
    )
    danish = client.get(NEW, headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "Byg kriterierne ud fra navne" in danish and "Tilføj en sygdom" in danish
