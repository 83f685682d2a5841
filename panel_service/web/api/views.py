"""The JSON API of the product contract §8.

Why APIFlask: the app already is an ``APIFlask`` (so plain Flask blueprints, Flask-Login pages and
this API live in one app), and APIFlask builds the OpenAPI 3 document from the same marshmallow
schemas that validate requests and shape responses, so the document cannot drift from the
code. It also brings bearer-token auth (``HTTPTokenAuth``) that shows up in the document as a
security scheme. flask-smorest would do the schemas equally well but needs its own ``Api``
object and blueprint class beside the app; Flask-RESTX generates Swagger 2 only.

Errors: every failure leaves this blueprint as ``{"error": {"code", "message", "fields"}}``
(see ``error_response``): marshmallow messages become ``field: message`` pairs, criteria
errors keep their JSON path under ``criteria.``, illegal transitions are 409 with the life
cycle's message, another organisation's study is 404 exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from apiflask import APIBlueprint, HTTPTokenAuth
from apiflask.exceptions import HTTPError
from flask import Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from config.logging import get_logger
from panel_service.domain import json_input
from panel_service.domain.criteria import criteria_hash, to_json, to_text
from panel_service.domain.lifecycle import IllegalTransition
from panel_service.extensions import csrf, db_session, settings
from panel_service.models import Account, Study, StudyVersion
from panel_service.services import accounts, fhir, questions, studies, study_reports
from panel_service.services.errors import Forbidden, ServiceError
from panel_service.timeutil import panel_today
from panel_service.web.api import dump, openapi
from panel_service.web.api.plain import PlainPaging, documented
from panel_service.web.api.schemas import (
    ApprovalIn,
    CriteriaIn,
    CriteriaOut,
    DiffOut,
    DiffQuery,
    FeasibilityOut,
    FunnelOut,
    PageQuery,
    QuestionList,
    RejectIn,
    RespondentList,
    RespondentsQuery,
    StudyIn,
    StudyList,
    StudyOut,
    VersionList,
)
from panel_service.web.ratelimits import feasibility_limit
from panel_service.web.transaction import commit_authentication, reads_only

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = get_logger(__name__)

bp = APIBlueprint("api", __name__, url_prefix="/api/v1")
bp.record_once(openapi.describe_errors)
# The API authenticates with a bearer token in a header, which a browser never sends on its own,
# so cross-site request forgery has nothing to ride on; the web pages keep CSRF on every form.
csrf.exempt(bp)
auth = HTTPTokenAuth(scheme="Bearer", description="An API token from `panel tokens create`.")

COORDINATOR = ("coordinator",)
STAFF = ("coordinator", "reviewer", "admin")
# No operation takes more than a few short numbers in its query string.
MAX_QUERY_STRING = 2048
# Longer than any token ``panel tokens create`` makes: refused without a look-up.
MAX_TOKEN = 200


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}}})
    response.status_code = status
    return response


@bp.before_request
def _refuse_unusable_input() -> Response | None:
    """Every API request passes here first, so no operation ever sees a query string past
    ``MAX_QUERY_STRING`` bytes, or a JSON body holding a lone surrogate, a control character,
    NaN/Infinity or a number beyond 64 bits (``domain.json_input``): each answers in the error
    shape naming the path instead of failing deep inside a parser or the database (P8)."""
    if len(request.query_string) > MAX_QUERY_STRING:
        return error_response(
            414, "uri_too_long", f"The query string is longer than {MAX_QUERY_STRING} bytes."
        )
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "_spec", {}).get("body") or not request.is_json:
        return None
    try:
        json_input.loads(request.get_data(cache=True))
    except json_input.JSONInputError as error:
        return error_response(422, "validation_failed", "Some fields are not valid.", error.fields)
    except (ValueError, RecursionError):
        return None  # not JSON at all: the input parser answers 400 as for any malformed body
    return None


@auth.verify_token
def _verify_token(token: str) -> Account | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    account = accounts.account_for_token(db_session(), token)
    if account is not None:
        g.api_account_id = account.id
        g.api_token = token
        # Ends the look-up's transaction, so that a (throttled) last_used_at touch is not
        # held, row lock and all, for the length of the request it authenticated.
        commit_authentication()
    return account


@auth.error_processor
def _auth_error(error: HTTPError) -> Response:
    if error.status_code == 401:
        response = error_response(401, "unauthorized", "A valid bearer token is required.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="panel"'
        return response
    return error_response(403, "forbidden", "This token may not do this.")


def actor(*roles: str) -> Account:
    account = auth.current_user
    if not isinstance(account, Account) or account.role not in roles:
        raise Forbidden("Your role may not do this.")
    return account


def _flatten(messages: Any, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested ``{"json": {"field": ["msg"]}}`` as ``{"field": "msg"}``."""
    flat: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = str(key)
            if not prefix and name in ("json", "query", "form", "files", "headers"):
                flat.update(_flatten(value, ""))
                continue
            if name == "_schema":
                # A nested object's own error belongs to the object's path (``sites[0]``).
                flat.update(_flatten(value, prefix))
                continue
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            flat.update(_flatten(value, path))
    elif isinstance(messages, list) and messages and all(isinstance(item, str) for item in messages):
        flat[prefix or "$"] = "; ".join(messages)
    elif isinstance(messages, list):
        for item in messages:
            flat.update(_flatten(item, prefix))
    else:
        flat[prefix or "$"] = str(messages)
    return flat


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    return error_response(error.status, error.code, error.message, error.fields)


@bp.errorhandler(IllegalTransition)
def _illegal(error: IllegalTransition) -> Response:
    return error_response(409, "illegal_transition", error.message)


@bp.errorhandler(HTTPError)
def _http_error(error: HTTPError) -> Response:
    fields = _flatten(error.detail) if error.detail else {}
    if error.status_code == 400 or "Invalid JSON body." in fields.values():
        return error_response(400, "bad_request", "The request body is not valid JSON.", fields)
    if error.status_code == 422:
        return error_response(422, "validation_failed", "Some fields are not valid.", fields)
    return error_response(error.status_code, "error", error.message or "Error")


@bp.errorhandler(HTTPException)
def _werkzeug_error(error: HTTPException) -> Response:
    code = {429: "rate_limited", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
        error.code or 400, "bad_request"
    )
    message = error.description or error.name
    if error.code == 429:
        message = f"Too many requests: the limit is {error.description}. Try again later."
    response = error_response(error.code or 400, code, message)
    if error.code == 429:
        response.headers["Retry-After"] = "60"
    return response


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _unrouted(error: HTTPException) -> Response | HTTPException:
    """A path under /api/v1/ that matches no route still answers in the API's error shape;
    every other path keeps the app's own error page."""
    if not request.path.startswith(bp.url_prefix or "/api/v1"):
        return error
    code = "not_found" if error.code == 404 else "method_not_allowed"
    response = error_response(error.code or 404, code, error.description or error.name)
    if error.code == 405:
        response.headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
    return response


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    """A bug still answers in the API's shape (and is logged with the request id); the tests
    assert that no input reaches this."""
    log.exception("api.unexpected_error", error=type(error).__name__)
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


@bp.errorhandler(RecursionError)
def _too_deep(_error: RecursionError) -> Response:
    return error_response(
        400, "bad_request", "The request body is nested too deeply.", {"$": "nested too deeply"}
    )


def _fields(data: dict[str, Any]) -> studies.StudyFields:
    return studies.StudyFields(
        title=data["title"],
        summary=data.get("summary", ""),
        criteria=data["criteria"],
        invitation_text=data["invitation_text"],
        site_region=data["site_region"],
        target_enrolment=data["target_enrolment"],
        sites=data.get("sites"),
    )


def version_json(version: StudyVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    approval = version.approval
    return {
        "number": version.number,
        "review_state": version.review_state,
        "title": version.title,
        "summary": version.summary,
        "organisation_name": version.organisation_name,
        "sites": version.sites,
        "criteria": version.criteria,
        "criteria_text": studies.criteria_text(version),
        "invitation_text": version.invitation_text,
        "site_region": version.site_region,
        "target_enrolment": version.target_enrolment,
        "content_hash": version.content_hash,
        "created_at": version.created_at,
        "submitted_at": version.submitted_at,
        "rejected_at": version.rejected_at,
        "rejection_reason": version.rejection_reason,
        "approval": None
        if approval is None
        else {
            "committee": approval.committee,
            "kind": approval.kind,
            "reference": approval.reference,
            "approved_on": approval.approved_on,
            "expires_on": approval.expires_on,
            "letter_sha256": approval.letter_sha256,
            "letter_filename": approval.letter_filename,
        },
    }


def study_json(study: Study) -> dict[str, Any]:
    latest = study.latest_version
    assert latest is not None
    return {
        "id": study.id,
        "organisation_id": study.organisation_id,
        "title": latest.title,
        "summary": latest.summary,
        "organisation_name": latest.organisation_name,
        "sites": latest.sites,
        "status": study.status,
        "criteria": latest.criteria,
        "criteria_text": studies.criteria_text(latest),
        "invitation_text": latest.invitation_text,
        "site_region": latest.site_region,
        "target_enrolment": latest.target_enrolment,
        "version": latest.number,
        "active_version": version_json(study.active_version),
        "pending_version": version_json(studies.pending_version(study)),
        "created_at": study.created_at,
        "updated_at": study.updated_at,
    }


def _saved(study: Study) -> dict[str, Any]:
    """The study as the commit at the end of the request will store it: flushed, then read
    back for the values the database sets (``updated_at``)."""
    session = db_session()
    session.flush()
    session.refresh(study)
    return study_json(study)


def _doc(*extra: int) -> dict[str, Any]:
    responses: dict[int, Any] = {
        401: "Missing or invalid token",
        403: "Role not allowed",
        404: "No such study",
    }
    messages = {409: "Illegal transition", 422: "Invalid body", 429: "Rate limited", 400: "Malformed body"}
    for status in extra:
        responses[status] = messages[status]
    return {"responses": responses}


@bp.post("/studies")
@bp.auth_required(auth)
@bp.input(StudyIn, arg_name="body")
@bp.output(StudyOut, status_code=201)
@bp.doc(summary="Create a study (draft, version 1)", **_doc(400, 422))
def create_study(body: dict[str, Any]) -> dict[str, Any]:
    study = studies.create_study(db_session(), actor(*COORDINATOR), _fields(body))
    return _saved(study)


@bp.get("/studies/<int:study_id>")
@bp.auth_required(auth)
@bp.output(StudyOut)
@bp.doc(summary="One study with its active and pending versions", **_doc())
def get_study(study_id: int) -> dict[str, Any]:
    study = studies.get_study(db_session(), actor(*STAFF), study_id)
    return study_json(study)


plain_paging = PlainPaging(PageQuery)


@bp.get("/studies")
@reads_only
@documented(
    bp.auth_required(auth),
    bp.input(PageQuery, location="query", arg_name="paging"),
    bp.output(StudyList),
    bp.doc(summary="List the studies you may see", **_doc()),
)
def list_studies() -> Response:
    # The API's most frequent read, in one round trip: the token, its account and the page are
    # one statement (``studies.token_study_page``), the paging read without webargs when it is
    # plain (``plain_paging``). Anything else (no or a malformed Authorization header, paging
    # that is not two plain numbers in range) takes ``_list_studies_checked``: the decorators
    # every other operation uses, so every refusal (401, 403, 422 naming the field) is theirs.
    paging = plain_paging(request)
    credentials = auth.get_auth()
    token = getattr(credentials, "token", None)
    if paging is None or not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        return _list_studies_checked()
    page, per_page = paging
    session = db_session()
    found = studies.token_study_page(session, token, page=page, per_page=per_page)
    if found is None:
        return cast(Response, auth.auth_error_callback(401))
    holder, keys, total = found
    # What a passed ``auth_required`` leaves behind (``_verify_token``; ``auth.current_user``).
    g.api_account_id = holder.account_id
    g.api_token = token
    g.flask_httpauth_user = holder
    commit_authentication()  # the token's throttled touch, when it wrote one
    if holder.role not in STAFF:
        raise Forbidden("Your role may not do this.")
    return _study_page_response(session, keys, total, page, per_page)


def _checked_page(paging: dict[str, int]) -> Response:
    account = actor(*STAFF)
    session = db_session()
    keys, total = studies.study_page_keys(session, account, page=paging["page"], per_page=paging["per_page"])
    return _study_page_response(session, keys, total, paging["page"], paging["per_page"])


# The study list through ``auth_required`` and webargs: two round trips, every answer exactly as
# for the other operations (not routed; ``list_studies`` calls it).
_list_studies_checked = cast(
    Callable[[], Response],
    bp.auth_required(auth)(bp.input(PageQuery, location="query", arg_name="paging")(_checked_page)),
)


def _study_page_response(
    session: Session, keys: list[tuple[Any, ...]], total: int, page: int, per_page: int
) -> Response:
    def load(study_ids: list[int]) -> dict[int, tuple[tuple[Any, ...], dict[str, Any]]]:
        found = studies.studies_by_id(session, study_ids)
        return {study_id: (studies.page_key(study), study_json(study)) for study_id, study in found.items()}

    # The StudyList dump built directly, each study's item kept under its page key (api/dump.py,
    # held equal to marshmallow's dump and to jsonify's bytes by tests).
    text = dump.study_page(keys, total, page, per_page, load)
    return current_app.response_class(text, mimetype="application/json")


@bp.put("/studies/<int:study_id>")
@bp.auth_required(auth)
@bp.input(StudyIn, arg_name="body")
@bp.output(StudyOut)
@bp.doc(summary="Edit a study; changed content makes a new version (§5)", **_doc(400, 409, 422))
def update_study(study_id: int, body: dict[str, Any]) -> dict[str, Any]:
    study = studies.update_study(db_session(), actor(*COORDINATOR), study_id, _fields(body))
    return _saved(study)


@bp.get("/studies/<int:study_id>/versions")
@bp.auth_required(auth)
@bp.input(PageQuery, location="query", arg_name="paging")
@bp.output(VersionList)
@bp.doc(summary="Version history, newest first", **_doc(422))
def list_versions(study_id: int, paging: dict[str, int]) -> dict[str, Any]:
    session = db_session()
    study = studies.get_study(session, actor(*STAFF), study_id)
    versions = studies.versions_of(session, study)
    start = (paging["page"] - 1) * paging["per_page"]
    shown = versions[start : start + paging["per_page"]]
    return {"items": [version_json(version) for version in shown], "total": len(versions), **paging}


@bp.get("/studies/<int:study_id>/diff")
@bp.auth_required(auth)
@bp.input(DiffQuery, location="query", arg_name="query")
@bp.output(DiffOut)
@bp.doc(summary="Unified diff of two versions, criteria in the text form", **_doc(422))
def diff_versions(study_id: int, query: dict[str, int]) -> dict[str, Any]:
    session = db_session()
    study = studies.get_study(session, actor(*STAFF), study_id)
    lines = studies.diff_versions(session, study, query["from_version"], query["to_version"])
    return {"from_version": query["from_version"], "to_version": query["to_version"], "diff": lines}


def _transition(name: str, study_id: int) -> dict[str, Any]:
    session = db_session()
    account = actor(*COORDINATOR)
    today = panel_today(settings())
    if name == "submit":
        study = studies.submit_study(session, account, study_id)
    elif name == "recruit":
        study = studies.recruit_study(session, account, study_id, today=today)
    elif name == "pause":
        study = studies.pause_study(session, account, study_id)
    else:
        study = studies.close_study(session, account, study_id)
    return _saved(study)


@bp.post("/studies/<int:study_id>/submit")
@bp.auth_required(auth)
@bp.output(StudyOut)
@bp.doc(summary="Submit the newest version for ethics review", **_doc(409))
def submit_study(study_id: int) -> dict[str, Any]:
    return _transition("submit", study_id)


@bp.post("/studies/<int:study_id>/recruit")
@bp.auth_required(auth)
@bp.output(StudyOut)
@bp.doc(summary="Start or resume recruiting (needs an approval in force)", **_doc(409))
def recruit_study(study_id: int) -> dict[str, Any]:
    return _transition("recruit", study_id)


@bp.post("/studies/<int:study_id>/pause")
@bp.auth_required(auth)
@bp.output(StudyOut)
@bp.doc(summary="Pause recruiting; pending invitations are cancelled", **_doc(409))
def pause_study(study_id: int) -> dict[str, Any]:
    return _transition("pause", study_id)


@bp.post("/studies/<int:study_id>/close")
@bp.auth_required(auth)
@bp.output(StudyOut)
@bp.doc(summary="Close the study; pending invitations are cancelled", **_doc(409))
def close_study(study_id: int) -> dict[str, Any]:
    return _transition("close", study_id)


@bp.post("/studies/<int:study_id>/approval")
@bp.auth_required(auth)
@bp.input(ApprovalIn, arg_name="body")
@bp.output(StudyOut)
@bp.doc(summary="Record the ethics approval of the submitted version (reviewers)", **_doc(400, 409, 422))
def approve_study(study_id: int, body: dict[str, Any]) -> dict[str, Any]:
    fields = studies.ApprovalFields(
        committee=body["committee"],
        kind=body["kind"],
        reference=body["reference"],
        approved_on=body["approved_on"],
        expires_on=body["expires_on"],
        letter_sha256=body["letter_sha256"],
        version=body.get("version"),
    )
    study = studies.approve_study(
        db_session(), actor(*STAFF), study_id, fields, today=panel_today(settings())
    )
    return _saved(study)


@bp.post("/studies/<int:study_id>/reject")
@bp.auth_required(auth)
@bp.input(RejectIn, arg_name="body")
@bp.output(StudyOut)
@bp.doc(summary="Reject the submitted version, with a reason (reviewers)", **_doc(400, 409, 422))
def reject_study(study_id: int, body: dict[str, Any]) -> dict[str, Any]:
    study = studies.reject_study(
        db_session(), actor(*STAFF), study_id, body["reason"], version=body.get("version")
    )
    return _saved(study)


@bp.get("/studies/<int:study_id>/feasibility")
@bp.auth_required(auth)
@feasibility_limit()
@bp.output(FeasibilityOut)
@bp.doc(summary="How many volunteers would be invited now, with per-criterion attrition", **_doc(429))
def feasibility(study_id: int) -> dict[str, Any]:
    session = db_session()
    account = actor(*COORDINATOR)
    study = studies.get_study(session, account, study_id)
    result = study_reports.feasibility(
        session, account, study, today=panel_today(settings()), threshold=settings().small_cell_threshold
    )
    return result.as_dict()


@bp.get("/studies/<int:study_id>/funnel")
@bp.auth_required(auth)
@bp.output(FunnelOut)
@bp.doc(summary="Invitations per status and reason, matching progress, answers per day", **_doc())
def funnel(study_id: int) -> dict[str, Any]:
    session = db_session()
    study = studies.get_study(session, actor(*COORDINATOR), study_id)
    result = study_reports.funnel(
        session, study, threshold=settings().small_cell_threshold, zone=settings().zone
    )
    return result


@bp.get("/studies/<int:study_id>/respondents")
@bp.auth_required(auth)
@bp.input(RespondentsQuery, location="query", arg_name="paging")
@bp.output(RespondentList)
@bp.doc(summary="Contact details of the volunteers who answered interested (audited)", **_doc(422))
def respondents(study_id: int, paging: dict[str, int]) -> dict[str, Any]:
    session = db_session()
    account = actor(*COORDINATOR)
    study = studies.get_study(session, account, study_id)
    items, total = study_reports.respondents(
        session, account, study, page=paging["page"], per_page=paging["per_page"]
    )
    return {"items": items, "total": total, **paging}


@bp.get("/studies/<int:study_id>/fhir")
@bp.auth_required(auth)
@bp.doc(summary="The study as a FHIR R4 ResearchStudy with a contained eligibility Group", **_doc())
def fhir_study(study_id: int) -> Response:
    session = db_session()
    study = studies.get_study(session, actor(*STAFF), study_id)
    version = study.active_version or study.latest_version
    assert version is not None
    body = fhir.research_study(study, version, settings().base_url)
    response = jsonify(body)
    response.mimetype = "application/fhir+json"
    return response


@bp.get("/studies/<int:study_id>/fhir/subjects")
@bp.auth_required(auth)
@bp.doc(
    summary="The respondents as a FHIR R4 Bundle of ResearchSubject, status from the recorded outcome "
    "(owning coordinators; audited as an export)",
    **_doc(),
)
def fhir_subjects(study_id: int) -> Response:
    session = db_session()
    account = actor(*COORDINATOR)
    study = studies.get_study(session, account, study_id)
    items, _total = study_reports.respondents(session, account, study, export=True)
    body = fhir.research_subjects(study, items, settings().base_url)
    response = jsonify(body)
    response.mimetype = "application/fhir+json"
    return response


@bp.post("/criteria/check")
@bp.auth_required(auth)
@bp.input(CriteriaIn, arg_name="body")
@bp.output(CriteriaOut)
@bp.doc(
    summary="Check criteria without saving: the normal form, or 422 with each error's path", **_doc(400, 422)
)
def check_criteria(body: dict[str, Any]) -> dict[str, Any]:
    actor(*STAFF)
    node = studies.parse_criteria(body["criteria"], questions.load_catalogue(db_session()))
    return {"criteria": to_json(node), "criteria_text": to_text(node), "criteria_hash": criteria_hash(node)}


@bp.get("/questions")
@bp.auth_required(auth)
@bp.input(PageQuery, location="query", arg_name="paging")
@bp.output(QuestionList)
@bp.doc(
    summary="The question catalogue: keys, types, options, wording in English and Danish, and the ops "
    "each type takes in a question criterion (§4a); retired questions included and marked",
    responses={401: "Missing or invalid token", 403: "Role not allowed", 422: "Invalid query"},
)
def list_questions(paging: dict[str, int]) -> dict[str, Any]:
    actor(*STAFF)
    catalogue = questions.load_catalogue(db_session())
    everything = list(catalogue.values())
    start = (paging["page"] - 1) * paging["per_page"]
    shown = everything[start : start + paging["per_page"]]
    return {
        "items": [questions.question_json(question, catalogue) for question in shown],
        "total": len(everything),
        **paging,
    }


@bp.delete("/tokens/current")
@bp.auth_required(auth)
@bp.output({}, status_code=204)
@bp.doc(summary="Revoke the token this request is made with", responses={401: "Missing or invalid token"})
def revoke_current_token() -> tuple[str, int]:
    session = db_session()
    accounts.revoke_api_token(session, actor(*STAFF, "participant"), g.api_token)
    return "", 204
