"""Who may call what (P7), for every route of the coordinator, review, admin and API areas.

The table below has one row per (endpoint, method). ``test_every_route_has_a_row`` enumerates
``app.url_map`` and fails when a route of these areas has no row, so a new route cannot ship
without deciding who may use it. Roles: anonymous, participant, coordinator of the owning
organisation, coordinator of another organisation, reviewer, admin.

Outcomes: ``ok`` = let through (any answer but 401/403/404, and never a 5xx), ``401``, ``403``,
``404`` (another organisation's study looks missing), ``login`` (a page redirects to sign in).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.models import Study
from panel_service.services import studies
from tests.integration.coordinators.conftest import (
    LETTER,
    STUDY_BODY,
    Staff,
    approval_fields,
    make_staff,
    study_in,
)
from tests.integration.coordinators.test_api_studies import approval_body
from tests.integration.coordinators.test_web_pages import sign_in

# The public study page reads study data too: it must not show a study that is not recruiting.
AREAS = ("api.", "coordinators.", "review.", "admin.", "public.study", "questions.admin")
ROLES = ("anonymous", "participant", "own", "other", "reviewer", "admin")

# Shorthand rows: outcome per role in ROLES order.
API_READ = ("401", "403", "ok", "404", "ok", "ok")
API_OWNER = ("401", "403", "ok", "404", "403", "403")
API_REVIEW = ("401", "403", "403", "404", "ok", "ok")
API_LIST = ("401", "403", "ok", "ok", "ok", "ok")
API_CREATE = ("401", "403", "ok", "ok", "403", "403")
WEB_OWNER = ("login", "403", "ok", "404", "403", "403")
WEB_COORDINATOR = ("login", "403", "ok", "ok", "403", "403")
WEB_REVIEW = ("login", "403", "403", "403", "ok", "ok")
WEB_ADMIN = ("login", "403", "403", "403", "403", "ok")

S = "{sid}"
TABLE: dict[tuple[str, str], tuple[str, dict[str, Any], tuple[str, ...]]] = {
    ("api.list_studies", "GET"): ("/api/v1/studies", {}, API_LIST),
    ("api.create_study", "POST"): ("/api/v1/studies", {"json": STUDY_BODY}, API_CREATE),
    ("api.get_study", "GET"): (f"/api/v1/studies/{S}", {}, API_READ),
    ("api.update_study", "PUT"): (f"/api/v1/studies/{S}", {"json": STUDY_BODY}, API_OWNER),
    ("api.list_versions", "GET"): (f"/api/v1/studies/{S}/versions", {}, API_READ),
    ("api.diff_versions", "GET"): (f"/api/v1/studies/{S}/diff?from=1&to=1", {}, API_READ),
    ("api.fhir_study", "GET"): (f"/api/v1/studies/{S}/fhir", {}, API_READ),
    ("api.submit_study", "POST"): (f"/api/v1/studies/{S}/submit", {}, API_OWNER),
    ("api.recruit_study", "POST"): (f"/api/v1/studies/{S}/recruit", {}, API_OWNER),
    ("api.pause_study", "POST"): (f"/api/v1/studies/{S}/pause", {}, API_OWNER),
    ("api.close_study", "POST"): (f"/api/v1/studies/{S}/close", {}, API_OWNER),
    ("api.approve_study", "POST"): (f"/api/v1/studies/{S}/approval", {"json": approval_body()}, API_REVIEW),
    ("api.reject_study", "POST"): (f"/api/v1/studies/{S}/reject", {"json": {"reason": "No"}}, API_REVIEW),
    ("api.feasibility", "GET"): (f"/api/v1/studies/{S}/feasibility", {}, API_OWNER),
    ("api.funnel", "GET"): (f"/api/v1/studies/{S}/funnel", {}, API_OWNER),
    ("api.respondents", "GET"): (f"/api/v1/studies/{S}/respondents", {}, API_OWNER),
    ("api.fhir_subjects", "GET"): (f"/api/v1/studies/{S}/fhir/subjects", {}, API_OWNER),
    ("api.check_criteria", "POST"): ("/api/v1/criteria/check", {"json": {"criteria": "smoker"}}, API_LIST),
    ("api.revoke_current_token", "DELETE"): (
        "/api/v1/tokens/current",
        {},
        ("401", "ok", "ok", "ok", "ok", "ok"),
    ),
    ("coordinators.studies", "GET"): ("/coordinators/studies", {}, WEB_COORDINATOR),
    ("coordinators.study_new", "GET"): ("/coordinators/studies/new", {}, WEB_COORDINATOR),
    ("coordinators.study_new", "POST"): ("/coordinators/studies/new", {"data": STUDY_BODY}, WEB_COORDINATOR),
    ("coordinators.criteria_check", "POST"): (
        "/coordinators/criteria/check",
        {"json": {"criteria": "age >= 18"}},
        WEB_COORDINATOR,
    ),
    ("coordinators.criteria_builder_step", "POST"): (
        "/coordinators/criteria/builder",
        {"data": {**STUDY_BODY, "b_action": "sync"}},
        WEB_COORDINATOR,
    ),
    ("coordinators.criteria_tree", "POST"): (
        "/coordinators/criteria/tree",
        {"json": {"criteria": "age >= 18"}},
        WEB_COORDINATOR,
    ),
    ("coordinators.criteria_builder_count", "POST"): (
        "/coordinators/criteria/builder/count",
        {"data": {"criteria": "age >= 18"}},
        WEB_COORDINATOR,
    ),
    ("coordinators.study", "GET"): (f"/coordinators/studies/{S}", {}, WEB_OWNER),
    ("coordinators.study_edit", "GET"): (f"/coordinators/studies/{S}/edit", {}, WEB_OWNER),
    ("coordinators.study_edit", "POST"): (f"/coordinators/studies/{S}/edit", {"data": STUDY_BODY}, WEB_OWNER),
    ("coordinators.study_action", "POST"): (f"/coordinators/studies/{S}/pause", {}, WEB_OWNER),
    ("coordinators.study_diff", "GET"): (f"/coordinators/studies/{S}/diff?from=1&to=1", {}, WEB_OWNER),
    ("coordinators.study_feasibility", "GET"): (f"/coordinators/studies/{S}/feasibility", {}, WEB_OWNER),
    ("coordinators.study_feasibility_run", "POST"): (f"/coordinators/studies/{S}/feasibility", {}, WEB_OWNER),
    ("coordinators.study_close", "GET"): (f"/coordinators/studies/{S}/close", {}, WEB_OWNER),
    ("coordinators.study_close", "POST"): (f"/coordinators/studies/{S}/close", {}, WEB_OWNER),
    ("coordinators.study_funnel", "GET"): (f"/coordinators/studies/{S}/funnel", {}, WEB_OWNER),
    ("coordinators.study_respondents", "GET"): (f"/coordinators/studies/{S}/respondents", {}, WEB_OWNER),
    ("coordinators.study_respondents_csv", "GET"): (
        f"/coordinators/studies/{S}/respondents.csv",
        {},
        WEB_OWNER,
    ),
    ("coordinators.study_respondents_fhir", "GET"): (
        f"/coordinators/studies/{S}/respondents.fhir.json",
        {},
        WEB_OWNER,
    ),
    # No such respondent: the owner learns only that, everyone else no more than before.
    ("coordinators.study_respondent_outcome", "POST"): (
        f"/coordinators/studies/{S}/respondents/999999/outcome",
        {"data": {"outcome": "enrolled"}},
        ("login", "403", "404", "404", "403", "403"),
    ),
    ("review.queue", "GET"): ("/review/", {}, WEB_REVIEW),
    ("review.study", "GET"): (f"/review/studies/{S}", {}, WEB_REVIEW),
    ("review.approve", "POST"): (f"/review/studies/{S}/approve", {"data": {"committee": "X"}}, WEB_REVIEW),
    ("review.reject", "POST"): (f"/review/studies/{S}/reject", {"data": {"reject-reason": "No"}}, WEB_REVIEW),
    ("review.letter", "GET"): (f"/review/studies/{S}/versions/1/letter", {}, WEB_REVIEW),
    ("admin.staff", "GET"): ("/admin/staff", {}, WEB_ADMIN),
    # The study is in review: not public, so it looks missing to everyone, its owner included.
    ("public.study", "GET"): (f"/studies/{S}", {}, ("404",) * 6),
    ("admin.staff", "POST"): ("/admin/staff", {"data": {"email": "x"}}, WEB_ADMIN),
    ("admin.study_invitations", "GET"): (f"/admin/studies/{S}/invitations", {}, WEB_ADMIN),
    ("api.list_questions", "GET"): ("/api/v1/questions", {}, API_LIST),
    ("questions.admin_list", "GET"): ("/admin/questions", {}, WEB_ADMIN),
    ("questions.admin_list", "POST"): ("/admin/questions", {"data": {"key": "x"}}, WEB_ADMIN),
    ("questions.admin_edit", "GET"): ("/admin/questions/lives_alone", {}, WEB_ADMIN),
    ("questions.admin_edit", "POST"): (
        "/admin/questions/lives_alone",
        {"data": {"wording_en": ""}},
        WEB_ADMIN,
    ),
}


def test_every_route_has_a_row(app: Flask) -> None:
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(AREAS)
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    missing = routes - set(TABLE)
    assert not missing, f"routes without an authorization row: {sorted(missing)}"
    assert not set(TABLE) - routes, "rows for routes that no longer exist"


@pytest.fixture()
def no_csrf(app: Flask) -> Any:
    # The table is about roles; CSRF is tested on its own (test_web_pages).
    app.config["WTF_CSRF_ENABLED"] = False
    yield
    app.config["WTF_CSRF_ENABLED"] = True


def outcome(response: Any, web: bool) -> str:
    status = response.status_code
    assert status < 500, response.get_data(as_text=True)[:500]
    if web and status == 302 and "/login" in response.headers.get("Location", ""):
        return "login"
    return str(status) if status in (401, 403, 404) else "ok"


@pytest.mark.parametrize("row", sorted(TABLE), ids=lambda row: f"{row[0]}:{row[1]}")
def test_route_authorization(
    app: Flask, db: Session, settings: Settings, no_csrf: Any, row: tuple[str, str]
) -> None:
    endpoint, method = row
    path, kwargs, expected = TABLE[row]
    owner = make_staff(db, "coordinator", "Owning Org")
    people: dict[str, Staff | None] = {
        "anonymous": None,
        "participant": make_staff(db, "participant"),
        "own": owner,
        "other": make_staff(db, "coordinator", "Other Org"),
        "reviewer": make_staff(db, "reviewer"),
        "admin": make_staff(db, "admin"),
    }
    sid = study_in(db, owner, people["reviewer"], "in_review")  # type: ignore[arg-type]
    study = db.get(Study, sid)
    assert study is not None
    web = not endpoint.startswith("api.")
    if endpoint == "review.letter":
        studies.approve_study(
            db,
            people["reviewer"].account,
            sid,
            approval_fields(letter=LETTER, letter_sha256=None),  # type: ignore[union-attr]
            today=dt.date.today(),
        )
    url = path.replace(S, str(sid))
    results = {}
    for role, who in zip(ROLES, (people[name] for name in ROLES), strict=True):
        with app.test_client() as client:
            headers = {}
            if who is not None and web:
                if role == "participant":
                    who.account.password_hash = None
                sign_in(client, db, settings, who)
            elif who is not None:
                headers = who.headers
            response = client.open(url, method=method, headers=headers, **kwargs)
            results[role] = outcome(response, web)
    assert results == dict(zip(ROLES, expected, strict=True))
