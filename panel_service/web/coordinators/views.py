"""Coordinator pages: studies, versions, diff, feasibility, funnel, respondents (server-rendered).

Every form posts with a CSRF token; nothing needs JavaScript. ``static/js/criteria-editor.js``
only adds checking the criteria as you type, through ``criteria_check``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response as BaseResponse

from panel_service.domain.criteria import CriteriaError, CriteriaSyntaxError, parse_any, to_json, to_text
from panel_service.domain.criteria.builder import is_json, parse_located
from panel_service.domain.lifecycle import IllegalTransition, offered_actions
from panel_service.domain.sites import clean_site, parse_lines, to_lines
from panel_service.extensions import db_session, limiter, settings
from panel_service.services import fhir, questions, studies, study_reports
from panel_service.services.errors import Conflict, NotFound, ServiceError, ValidationFailed
from panel_service.timeutil import panel_today
from panel_service.web.auth import current, role_required
from panel_service.web.coordinators.forms import (
    OUTCOME_NAMES,
    ActionForm,
    CloseForm,
    OutcomeForm,
    StudyForm,
)
from panel_service.web.ratelimits import feasibility_limit
from panel_service.web.service_words import in_words
from panel_service.web.transaction import discard

if TYPE_CHECKING:
    from panel_service.models import Account, Study

bp = Blueprint("coordinators", __name__, url_prefix="/coordinators")

PER_PAGE = 20


def _account() -> Account:
    return current().account()


def _study(study_id: int) -> Study:
    try:
        return studies.get_study(db_session(), _account(), study_id)
    except ServiceError:
        abort(404)


@bp.errorhandler(CSRFError)
def _csrf(_error: CSRFError) -> tuple[str, int]:
    return render_template(
        "coordinators/problem.html", message=_("The form expired. Go back and try again.")
    ), 400


@bp.errorhandler(429)
def _too_many(_error: Exception) -> tuple[str, int, dict[str, str]]:
    """Only feasibility queries are limited here: the page keeps the menu and the study's tabs
    and says when the next query is allowed (the limiter's reset time, panel time zone)."""
    current = limiter.current_limit
    reset_at = current.reset_at if current is not None else int(time.time()) + 60
    study_id = (request.view_args or {}).get("study_id")
    found = _study(study_id) if isinstance(study_id, int) else None
    page = render_template(
        "coordinators/feasibility_limited.html",
        study=found,
        retry_at=dt.datetime.fromtimestamp(reset_at, dt.UTC),
        minutes=max(1, -(-(reset_at - int(time.time())) // 60)),
    )
    return page, 429, {"Retry-After": str(max(1, reset_at - int(time.time())))}


@bp.get("/studies", endpoint="studies")
@role_required("coordinator")
def studies_list() -> str:
    page = request.args.get("page", 1, type=int) or 1
    page = max(1, min(page, 100_000))
    rows, total = studies.list_studies(db_session(), _account(), page=page, per_page=PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    return render_template(
        "coordinators/studies.html",
        studies=[(row, studies.pending_version(row)) for row in rows],
        page=page,
        pages=pages,
        total=total,
    )


def _offered(study: Study) -> frozenset[str]:
    pending = studies.pending_version(study)
    return offered_actions(
        study.status,
        pending_state=pending.review_state if pending is not None else None,
        has_active=study.active_version_id is not None,
    )


SITE_PATH = re.compile(r"^sites\[(\d+)\](?:\.(name|lat|lon))?$")
SITE_PARTS = {"name": _l("name"), "lat": _l("latitude"), "lon": _l("longitude")}


def _criteria_lines(form: StudyForm) -> list[str]:
    """The criteria text's errors at their line and column, in words (the text form; JSON
    criteria keep their paths). Empty when the text reads."""
    located = parse_located(form.criteria.data or "", questions.load_catalogue(db_session()))[1]
    if not located or any(place.line is None for place in located):
        return []
    return [
        _("Line %(line)d, column %(column)d:", line=p.line, column=p.column) + f" {in_words(p.message)}"
        for p in located
    ]


def _apply_errors(form: StudyForm, error: ValidationFailed) -> None:
    lines = _criteria_lines(form) if any(_field_name(path) == "criteria" for path in error.fields) else []
    if lines:
        form.criteria.errors = [*list(form.criteria.errors), *lines]
    for path, message in error.fields.items():
        name = _field_name(path)
        if name == "criteria" and lines:
            continue
        field = getattr(form, name, None)
        if field is None:
            form.form_errors.append(f"{path}: {message}")
            continue
        site = SITE_PATH.match(path)
        if site is not None:
            # The form has one site a line: point at the line, not at a JSON path.
            part = str(SITE_PARTS.get(site.group(2) or "", ""))
            said = f"{part} {in_words(message)}" if part else in_words(message)
            shown = _("Line %(number)d: %(message)s", number=int(site.group(1)) + 1, message=said)
        else:
            words = in_words(message)
            shown = words if path == name else f"{path.removeprefix('criteria.')}: {words}"
        field.errors = [*list(field.errors), shown]


def _also_check(form: StudyForm) -> None:
    """When the form itself failed, still show what the service would say about the other
    fields (the criteria above all), so one submit shows every problem."""
    try:
        studies.clean_fields(_fields(form))
    except ValidationFailed as error:
        already = {name for name, errors in form.errors.items() if errors}
        _apply_errors(
            form,
            ValidationFailed(
                error.message,
                {path: message for path, message in error.fields.items() if _field_name(path) not in already},
            ),
        )


def _field_name(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _fields(form: StudyForm) -> studies.StudyFields:
    """The form as the service takes it. Lines of sites that cannot even be split into
    name, latitude and longitude are refused here, with the rest checked by the service."""
    sites, problems = parse_lines(form.sites.data or "")
    fields = studies.StudyFields(
        title=form.title.data or "",
        summary=form.summary.data or "",
        criteria=form.criteria.data or "",
        invitation_text=form.invitation_text.data or "",
        site_region=form.site_region.data or "",
        target_enrolment=form.target_enrolment.data or 0,
        sites=sites,
    )
    if problems:
        # Still check the well-formed lines and every other field, so one submit shows it all.
        for index, site in enumerate(sites):
            if f"sites[{index}]" not in problems:
                problems.update(clean_site(site, f"sites[{index}]")[1])
        try:
            studies.clean_fields(replace(fields, sites=None))
        except ValidationFailed as error:
            problems = {**error.fields, **problems}
        raise ValidationFailed("Some fields are not valid.", problems)
    return fields


@bp.route("/studies/new", methods=["GET", "POST"])
@role_required("coordinator")
def study_new() -> Any:
    form = StudyForm()
    if form.validate_on_submit():
        session = db_session()
        try:
            study = studies.create_study(session, _account(), _fields(form))
        except ValidationFailed as error:
            discard()
            _apply_errors(form, error)
        else:
            flash(_("Study created as a draft."))
            return redirect(url_for("coordinators.study", study_id=study.id))
    elif form.is_submitted():
        _also_check(form)
    return render_template("coordinators/study_form.html", form=form, study=None), 422 if form.errors else 200


@bp.route("/studies/<int:study_id>/edit", methods=["GET", "POST"])
@role_required("coordinator")
def study_edit(study_id: int) -> Any:
    study = _study(study_id)
    if "edit" not in _offered(study):
        flash(_("A closed study cannot be edited."))
        return redirect(url_for("coordinators.study", study_id=study.id))
    latest = study.latest_version
    assert latest is not None
    form = StudyForm()
    if request.method == "GET":
        form.title.data = latest.title
        form.summary.data = latest.summary
        form.sites.data = to_lines(latest.sites)
        form.criteria.data = studies.criteria_text(latest)
        form.invitation_text.data = latest.invitation_text
        form.site_region.data = latest.site_region
        form.target_enrolment.data = latest.target_enrolment
    elif form.validate_on_submit():
        session = db_session()
        try:
            studies.update_study(session, _account(), study.id, _fields(form))
        except ValidationFailed as error:
            discard()
            _apply_errors(form, error)
        except (Conflict, IllegalTransition) as error:
            discard()
            form.form_errors.append(str(getattr(error, "message", error)))
        else:
            flash(_("Study saved."))
            return redirect(url_for("coordinators.study", study_id=study.id))
    else:
        _also_check(form)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("coordinators/study_form.html", form=form, study=study), status


@bp.get("/studies/<int:study_id>")
@role_required("coordinator")
def study(study_id: int) -> str:
    found = _study(study_id)
    versions = studies.versions_of(db_session(), found)
    return render_template(
        "coordinators/study.html",
        study=found,
        versions=versions,
        pending=studies.pending_version(found),
        offered=_offered(found),
        criteria_text=studies.criteria_text,
        action_form=ActionForm(),
        today=panel_today(settings()),
    )


@bp.post("/studies/<int:study_id>/<any(submit, recruit, pause):action>")
@role_required("coordinator")
def study_action(study_id: int, action: str) -> BaseResponse:
    form = ActionForm()
    _study(study_id)
    if not form.validate_on_submit():
        abort(400)
    session = db_session()
    account = _account()
    try:
        if action == "submit":
            studies.submit_study(session, account, study_id)
        elif action == "recruit":
            studies.recruit_study(session, account, study_id, today=panel_today(settings()))
        else:
            studies.pause_study(session, account, study_id)
    except (ServiceError, IllegalTransition) as error:
        discard()
        flash(in_words(str(getattr(error, "message", error))))
    else:
        flash(
            {
                "submit": _("Submitted for ethics review."),
                "recruit": _("Recruiting."),
                "pause": _("Paused."),
            }[action]
        )
    return redirect(url_for("coordinators.study", study_id=study_id))


@bp.route("/studies/<int:study_id>/close", methods=["GET", "POST"])
@role_required("coordinator")
def study_close(study_id: int) -> Any:
    """Closing cannot be undone, so it takes two steps: this page says what closing cancels, and
    only its form (with ``confirm``) closes. A bare POST (the old one-click button) only shows
    the page."""
    found = _study(study_id)
    if "close" not in _offered(found):
        flash(_("This study is already closed."))
        return redirect(url_for("coordinators.study", study_id=study_id))
    form = CloseForm()
    if request.method == "POST" and not form.validate_on_submit():
        abort(400)
    if request.method == "POST" and form.confirm.data == "yes":
        session = db_session()
        try:
            studies.close_study(session, _account(), study_id)
        except (ServiceError, IllegalTransition) as error:
            discard()
            flash(in_words(str(getattr(error, "message", error))))
        else:
            flash(_("The study is closed."))
        return redirect(url_for("coordinators.study", study_id=study_id))
    threshold = settings().small_cell_threshold
    pending = study_reports.pending_invitations(
        db_session(), found, threshold=threshold, zone=settings().zone
    )
    return render_template(
        "coordinators/close.html",
        study=found,
        form=form,
        pending=pending,
        threshold=threshold,
        in_review=found.latest_version is not None and found.latest_version.review_state == "in_review",
    )


@bp.get("/studies/<int:study_id>/diff")
@role_required("coordinator")
def study_diff(study_id: int) -> Any:
    found = _study(study_id)
    latest = found.latest_version
    assert latest is not None
    new = request.args.get("to", latest.number, type=int) or latest.number
    old = request.args.get("from", max(1, new - 1), type=int) or 1
    try:
        fields = studies.compare_versions(db_session(), found, old, new)
    except ServiceError:
        abort(404)
    return render_template("coordinators/diff.html", study=found, fields=fields, old=old, new=new)


@bp.get("/studies/<int:study_id>/feasibility")
@role_required("coordinator")
def study_feasibility(study_id: int) -> str:
    """The tab: what a feasibility query tells and a button to run one. Visiting it runs no
    query and so takes nothing from the coordinator's feasibility budget."""
    return render_template(
        "coordinators/feasibility.html", study=_study(study_id), result=None, action_form=ActionForm()
    )


@bp.post("/studies/<int:study_id>/feasibility", endpoint="study_feasibility_run")
@role_required("coordinator")
@feasibility_limit()
def study_feasibility_run(study_id: int) -> str:
    found = _study(study_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    session = db_session()
    result = study_reports.feasibility(
        session, _account(), found, today=panel_today(settings()), threshold=settings().small_cell_threshold
    )
    return render_template(
        "coordinators/feasibility.html", study=found, result=result, action_form=ActionForm()
    )


@bp.get("/studies/<int:study_id>/funnel")
@role_required("coordinator")
def study_funnel(study_id: int) -> str:
    found = _study(study_id)
    threshold = settings().small_cell_threshold
    result = study_reports.funnel(db_session(), found, threshold=threshold, zone=settings().zone)
    outcomes = study_reports.outcome_counts(db_session(), found, threshold=threshold)
    return render_template("coordinators/funnel.html", study=found, funnel=result, outcomes=outcomes)


@bp.get("/studies/<int:study_id>/respondents")
@role_required("coordinator")
def study_respondents(study_id: int) -> str:
    found = _study(study_id)
    session = db_session()
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 100_000))
    items, total = study_reports.respondents(session, _account(), found, page=page, per_page=PER_PAGE * 5)
    pages = max(1, -(-total // (PER_PAGE * 5)))
    return render_template(
        "coordinators/respondents.html",
        study=found,
        items=items,
        total=total,
        page=page,
        pages=pages,
        outcome_form=OutcomeForm(formdata=None),
        outcome_names=OUTCOME_NAMES,
    )


@bp.post("/studies/<int:study_id>/respondents/<int:respondent>/outcome")
@role_required("coordinator")
def study_respondent_outcome(study_id: int, respondent: int) -> BaseResponse:
    """Record what became of one respondent (screened, enrolled, not enrolled), or clear it."""
    found = _study(study_id)
    form = OutcomeForm()
    if not form.validate_on_submit():
        abort(400)
    session = db_session()
    try:
        study_reports.record_outcome(session, _account(), found, respondent, form.outcome.data or None)
    except NotFound:
        discard()
        abort(404)
    flash(_("Outcome saved."))
    page = request.args.get("page", 1, type=int) or 1
    return redirect(url_for("coordinators.study_respondents", study_id=study_id, page=page))


@bp.get("/studies/<int:study_id>/respondents.fhir.json")
@role_required("coordinator")
def study_respondents_fhir(study_id: int) -> Response:
    """The respondents as FHIR ResearchSubjects, status from the recorded outcome (audited)."""
    found = _study(study_id)
    session = db_session()
    items, _total = study_reports.respondents(session, _account(), found, export=True)
    response = jsonify(fhir.research_subjects(found, items, settings().base_url))
    response.mimetype = "application/fhir+json"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="study-{found.id}-research-subjects.json"'
    )
    return response


@bp.get("/studies/<int:study_id>/respondents.csv")
@role_required("coordinator")
def study_respondents_csv(study_id: int) -> Response:
    found = _study(study_id)
    session = db_session()
    items, _total = study_reports.respondents(session, _account(), found, export=True)
    response = make_response(study_reports.respondents_csv(items))
    response.mimetype = "text/csv"
    response.headers["Content-Disposition"] = f'attachment; filename="study-{found.id}-respondents.csv"'
    return response


@bp.post("/criteria/check")
@role_required("coordinator")
def criteria_check() -> Response:
    """Validation as you type (criteria-editor.js): the normal form or each error with its path.
    Same rules as saving; CSRF token in the X-CSRFToken header."""
    payload = request.get_json(silent=True)
    source = payload.get("criteria") if isinstance(payload, dict) else None
    if not isinstance(source, str | dict):
        return jsonify({"ok": False, "errors": [{"path": "$", "message": 'send {"criteria": ...}'}]})
    try:
        node = parse_any(source, questions.load_catalogue(db_session()))
    except CriteriaSyntaxError as error:
        return jsonify(
            {
                "ok": False,
                "errors": [
                    {
                        "path": "$",
                        "where": _("Line %(line)d, column %(column)d:", line=error.line, column=error.column),
                        # the message without its "line L, column C: " and the caret lines
                        "message": in_words(issue.message.split(": ", 1)[-1].split("\n", 1)[0]),
                    }
                    for issue in error.issues
                ],
                "line": error.line,
                "column": error.column,
            }
        )
    except CriteriaError as error:
        catalogue = questions.load_catalogue(db_session())
        places = (
            parse_located(source, catalogue)[1] if isinstance(source, str) and not is_json(source) else []
        )
        if places and all(place.line is not None for place in places):
            # The text form: each error at its line and column, in words, not as a JSON path.
            return jsonify(
                {
                    "ok": False,
                    "errors": [
                        {
                            "path": "$",
                            "line": place.line,
                            "column": place.column,
                            "where": _(
                                "Line %(line)d, column %(column)d:", line=place.line, column=place.column
                            ),
                            "message": in_words(place.message),
                        }
                        for place in places
                    ],
                }
            )
        return jsonify(
            {"ok": False, "errors": [{"path": i.path, "message": in_words(i.message)} for i in error.issues]}
        )
    except RecursionError:
        return jsonify({"ok": False, "errors": [{"path": "$", "message": in_words("nested too deeply")}]})
    return jsonify({"ok": True, "text": to_text(node), "json": to_json(node)})
