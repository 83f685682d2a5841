"""The criteria builder on the study form (issue 13 item 8).

The builder sits under the criteria text on the study form and edits that text. Without
JavaScript each of its buttons posts the whole study form here (``formaction``): the step is
applied to the tree read from the text, the text is written back with ``to_text``, and the study
form is shown again with nothing saved. With JavaScript (``static/js/builder.js``) the same
endpoints answer JSON with the new text and the builder redrawn, and editing the text redraws
the builder through ``criteria_tree`` (the real parser; errors by line and column).

Counting volunteers is a feasibility query: only the "Count volunteers" button runs one, and it
takes from the coordinator's feasibility budget like the study's feasibility tab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import jsonify, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from panel_service.domain.criteria import Node, to_text
from panel_service.domain.criteria import builder as tree
from panel_service.domain.criteria import vocabulary as vocab
from panel_service.domain.criteria.model import FIELDS, OPS_BY_FIELD_KIND, Not, field_kind
from panel_service.domain.geo import Sites, site_points
from panel_service.domain.questions import Catalogue, Question
from panel_service.domain.sites import parse_lines
from panel_service.extensions import db_session, settings
from panel_service.services import questions as question_service
from panel_service.services.criteria_feasibility import CriteriaCount, count_criteria
from panel_service.timeutil import panel_today
from panel_service.web.auth import role_required
from panel_service.web.coordinators.forms import StudyForm
from panel_service.web.coordinators.views import _account, _study, bp
from panel_service.web.ratelimits import feasibility_limit
from panel_service.web.service_words import in_words

if TYPE_CHECKING:
    from panel_service.models import Study

MAX_TEXT = 20000
SEARCH_LIMIT = 10

FIELD_LABELS = {
    "age": _l("Age (years)"),
    "sex": _l("Sex (female, male, other)"),
    "region": _l("Region (ISO 3166-2, e.g. DK-84)"),
    "bmi": _l("BMI"),
    "height_cm": _l("Height (cm)"),
    "weight_kg": _l("Weight (kg)"),
    "smoker": _l("Smoker (yes or no)"),
    "pregnant": _l("Pregnant (yes or no)"),
    "distance_to_site_km": _l("Distance to the nearest site (km)"),
}
OP_LABELS = {
    "eq": _l("is"),
    "ne": _l("is not"),
    "lt": _l("less than"),
    "le": _l("at most"),
    "gt": _l("more than"),
    "ge": _l("at least"),
    "between": _l("between (both included)"),
    "in": _l("one of (separate by commas)"),
}
UNIT_LABELS = {"D": _l("days"), "W": _l("weeks"), "M": _l("months"), "Y": _l("years")}
KIND_LABELS = {
    "all": _l("All of these"),
    "any": _l("Any of these"),
    "not": _l("Not"),
}
# The domain's builder messages (BuilderError) in the coordinator's language; a criteria
# validation message (from parse_json) is shown as the validator words it.
STEP_MESSAGES = {
    "search for a name and choose one of the matches": _l("Search for a name and choose one of the matches."),
    "choose now, in the past or either": _l("Choose now, in the past or either."),
    "choose what to test": _l("Choose what to test."),
    "choose all, any or none": _l("Choose all, any or none."),
    "choose a condition or a medicine": _l("Choose a condition or a medicine."),
    "a single criterion holds no others": _l("A single criterion holds no others: choose a group."),
    "choose a criterion to remove": _l("Choose a criterion to remove."),
    "that criterion is no longer there; the page was out of date": _l(
        "That criterion is no longer there: the page was out of date. Try again."
    ),
    "tick at least two criteria to make an all or any group": _l(
        "Tick at least two criteria to make an all or any group."
    ),
    "tick criteria that are in the same group": _l("Tick criteria that are in the same group."),
    "tick the criteria to put in a group": _l("Tick the criteria to put in a group."),
    "criteria can only be added to an all or any group": _l(
        "Criteria can only be added to an all or any group."
    ),
    "choose yes or no": _l("Enter yes or no."),
    "enter a number, such as 18": _l("Enter a number, such as 18."),
    "enter a value": _l("Enter a value."),
    "enter the values, separated by commas": _l("Enter the values, separated by commas."),
    "choose days, weeks, months or years": _l("Choose days, weeks, months or years."),
    "enter a whole number, such as 3": _l("Enter a whole number of days, weeks, months or years, such as 3."),
    "search for a question and choose one of the matches": _l(
        "Search for a question and choose one of the matches."
    ),
    "choose how to test the answer": _l("Choose how to test the answer."),
    "tick at least one answer": _l("Tick at least one answer."),
    "enter a date as year-month-day, such as 2025-01-31": _l(
        "Enter a date as year-month-day, such as 2025-01-31."
    ),
    "enter a whole number, such as {example}": _l("Enter a whole number, such as %(example)s."),
    "enter a number, such as {example}": _l("Enter a number, such as %(example)s."),
    "enter a number from {low} to {high}": _l("Enter a number from %(low)s to %(high)s."),
    "the second value must not be smaller than the first": _l(
        "The second value must not be smaller than the first."
    ),
}
# How the builder offers each question test (domain.criteria.builder.BUILDER_OPS_BY_TYPE).
QUESTION_OP_LABELS = {
    "choice": {"in": _l("is one of the ticked answers"), "not_in": _l("is none of the ticked answers")},
    "multi_choice": {
        "in": _l("includes any of the ticked answers"),
        "not_in": _l("includes none of the ticked answers"),
    },
    "number": {
        "ge": _l("at least"),
        "le": _l("at most"),
        "between": _l("between (both included)"),
        "eq": _l("exactly"),
    },
}
INPUTS = {
    # builder errors name the input: BuilderError.field → the input's id
    "code": "b-{kind}-q",
    "current": "b-{kind}-current",
    "within": "b-{kind}-within",
    "within_unit": "b-{kind}-within-unit",
    "for_at_least": "b-{kind}-for",
    "for_at_least_unit": "b-{kind}-for-unit",
    "field": "b-field",
    "op": "b-op",
    "value": "b-value",
    "selected": "b-group-kind",
    "group_kind": "b-group-kind",
    "target": "b-target",
    "path": "b-target",
    "kind": "b-target",
    "question": "b-question-q",
    "question_op": "b-question-op",
    "question_options": "b-question-option-1",
    "question_value": "b-question-value",
    "question_value2": "b-question-value2",
    "question_within": "b-question-within",
    "question_within_unit": "b-question-within-unit",
}


@dataclass
class QuestionView:
    """A catalogue question as the builder offers it: its wording in the page's language, its
    options, unit and range, and the tests that suit its type."""

    key: str
    type: str
    text: str
    unit: str
    range: str
    options: list[tuple[str, str]]
    ops: list[tuple[str, str]]

    @classmethod
    def of(cls, question: Question, language: str) -> QuestionView:
        group = question.type if question.type in ("choice", "multi_choice") else "number"
        labels = QUESTION_OP_LABELS.get(group, {})
        low, high = question.minimum, question.maximum
        span = ""
        if low is not None and high is not None:
            span = _("from %(low)s to %(high)s", low=f"{low:g}", high=f"{high:g}")
        return cls(
            key=question.key,
            type=question.type,
            text=question.text(language),
            unit=question.unit or "",
            range=span,
            options=[(option.key, option.text(language)) for option in question.options],
            ops=[(op, str(labels.get(op, op))) for op in tree.BUILDER_OPS_BY_TYPE[question.type]],
        )


@dataclass
class RowView:
    path: str
    depth: int
    kind: str
    label: str
    text: str


@dataclass
class Builder:
    """What the builder panel shows."""

    text: str
    study_id: int | None
    rows: list[RowView] = field(default_factory=list)
    targets: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tree.Located] = field(default_factory=list)
    problem: tuple[str, str] | None = None  # (input id, message)
    results: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    count: CriteriaCount | None = None
    added: str | None = None
    question_results: list[QuestionView] = field(default_factory=list)
    question: QuestionView | None = None
    # What the coordinator entered for the chosen question, shown again after a problem.
    question_input: dict[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> list[tuple[str, str]]:
        return [(name, str(FIELD_LABELS.get(name, name))) for name in FIELDS]

    @property
    def ops(self) -> list[tuple[str, str]]:
        seen: list[str] = []
        for name in FIELDS:
            seen += [op for op in OPS_BY_FIELD_KIND[field_kind(name)] if op not in seen]
        return [(op, str(OP_LABELS[op])) for op in seen]

    @property
    def units(self) -> list[tuple[str, str]]:
        return [(unit, str(label)) for unit, label in UNIT_LABELS.items()]


def _language() -> str:
    return "da" if str(get_locale() or "en") == "da" else "en"


def _catalogue() -> Catalogue:
    """The question catalogue as stored (admin-added questions too), once per request."""
    return question_service.load_catalogue(db_session())


def _row_label(node: Node, kind: str, catalogue: Catalogue | None = None) -> str:
    if kind != "leaf":
        return str(KIND_LABELS[kind])
    key = tree.leaf_question(node)
    if key is not None:
        question = catalogue.get(key) if catalogue is not None else None
        return question.text(_language()) if question is not None else ""
    code = tree.leaf_code(node)
    if code is None:
        return ""
    term = vocab.nearest_term(code[0], code[1])  # type: ignore[arg-type]
    return term.plain_name_in(_language()) if term is not None else ""


def build(
    text: str, study_id: int | None, node: Node | None = None, errors: list[tree.Located] | None = None
) -> Builder:
    """The builder for ``text`` (read with the real parser unless ``node`` is given)."""
    catalogue = _catalogue()
    if node is None and errors is None:
        node, errors = tree.parse_located(text, catalogue)
    errors = [tree.Located(error.line, error.column, in_words(error.message)) for error in errors or []]
    rows = tree.rows(node)
    targets = [("", _("The top level (all must hold)"))]
    for row in rows:
        if row.kind in ("all", "any"):
            words = _("all of") if row.kind == "all" else _("any of")
            targets.append((row.path, f"{words}: {to_text(row.node)}"[:120]))
    return Builder(
        text=text,
        study_id=study_id,
        rows=[
            RowView(row.path, row.depth, row.kind, _row_label(row.node, row.kind, catalogue), row.text)
            for row in rows
        ],
        targets=targets,
        errors=errors or [],
    )


@bp.app_template_global("criteria_builder")
def criteria_builder(text: str | None, study: Study | None) -> Builder:
    """The builder for the study form as first shown (called from the template)."""
    return build(text or "", study.id if study is not None else None)


@bp.app_template_global("criterion_name")
def criterion_name(text: str) -> str:
    """A criterion of an attrition table named in the page's language: the condition, medicine
    or question it tests ("not: …" over one), or "" for a field test or a group."""
    node, errors = tree.parse_located(text, _catalogue())
    if node is None or errors:
        return ""
    negated = isinstance(node, Not)
    leaf = node.child if isinstance(node, Not) else node
    name = _row_label(leaf, "leaf", _catalogue())  # "" unless a code or a question
    if not name:
        return ""
    return _("not: %(name)s", name=name) if negated else name


# --- one step --------------------------------------------------------------------------------


def _form_text() -> str:
    return (request.form.get("criteria") or "")[:MAX_TEXT]


def _study_id() -> int | None:
    raw = request.form.get("b_study", "")
    if not raw:
        return None
    if not raw.isdigit():
        return -1
    return _study(int(raw)).id  # 404 for another organisation's study


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _code_step(kind: str, action: str, builder: Builder, node: Node | None) -> Node | None:
    query = (request.form.get(f"b_{kind}_q") or "").strip()[:100]
    builder.queries[kind] = query
    system: vocab.System = "icd10" if kind == "condition" else "atc"
    if action == "search":
        if not query:
            raise tree.BuilderError("code", _("Enter a name or a code to search for."))
        found = vocab.search(query, limit=SEARCH_LIMIT, system=system, language=_language())
        builder.results[kind] = [
            {"code": term.code, "name": term.plain_name_in(_language())} for term in found
        ]
        if not found:
            raise tree.BuilderError(
                "code", _("Nothing found for “%(query)s”. Try another word.", query=query)
            )
        return node
    code = request.form.get(f"b_{kind}_code") or ""
    if not code and query and vocab.nearest_term(system, query) is not None:
        code = query  # a code typed in full works without searching
    if not code:
        raise tree.BuilderError("code", _("Search for a name and choose one of the matches."))
    leaf = tree.code_leaf(
        kind,
        code,
        current=request.form.get(f"b_{kind}_current", ""),
        within=tree.duration(
            request.form.get(f"b_{kind}_within", ""), request.form.get(f"b_{kind}_within_unit", "M"), "within"
        ),
        for_at_least=tree.duration(
            request.form.get(f"b_{kind}_for", ""), request.form.get(f"b_{kind}_for_unit", "Y"), "for_at_least"
        ),
    )
    builder.added = to_text(leaf)
    return tree.add(node, request.form.get("b_target", ""), leaf, _catalogue())


def _question_step(verb: str, builder: Builder, node: Node | None) -> Node | None:
    """Search the catalogue by wording (English or Danish) or key, choose a question, and add a
    test of its answer with the inputs its type asks for."""
    catalogue = _catalogue()
    query = (request.form.get("b_question_q") or "").strip()[:100]
    builder.queries["question"] = query
    language = _language()
    if verb == "search":
        if not query:
            raise tree.BuilderError("question", _("Enter words from the question, or its key."))
        found = tree.search_questions(catalogue, query, language, limit=SEARCH_LIMIT)
        if len(found) == 1:
            builder.question = QuestionView.of(found[0], language)  # nothing to choose between
            return node
        builder.question_results = [QuestionView.of(question, language) for question in found]
        if not found:
            raise tree.BuilderError(
                "question", _("No question found for “%(query)s”. Try another word.", query=query)
            )
        return node
    key = (request.form.get("b_question_key") or "").strip()[:60]
    question = catalogue.get(key)
    if question is None or question.retired:
        raise tree.BuilderError("question", "search for a question and choose one of the matches")
    builder.question = QuestionView.of(question, language)
    if verb == "choose":
        return node
    builder.question_input = {
        "op": request.form.get("b_question_op", ""),
        "options": request.form.getlist("b_question_options"),
        "value": (request.form.get("b_question_value") or "")[:100],
        "value2": (request.form.get("b_question_value2") or "")[:100],
        "within": (request.form.get("b_question_within") or "")[:10],
        "within_unit": request.form.get("b_question_within_unit", "Y"),
    }
    leaf = tree.question_leaf(
        catalogue,
        key,
        request.form.get("b_question_op", ""),
        options=request.form.getlist("b_question_options"),
        value=request.form.get("b_question_value", ""),
        value2=request.form.get("b_question_value2", ""),
        answered_within=tree.duration(
            request.form.get("b_question_within", ""),
            request.form.get("b_question_within_unit", "Y"),
            "question_within",
        ),
    )
    builder.added = to_text(leaf)
    builder.question, builder.question_input = None, {}
    return tree.add(node, request.form.get("b_target", ""), leaf, catalogue)


def _apply(action: str, builder: Builder, node: Node | None) -> Node | None:
    if action in ("search-condition", "add-condition", "search-medication", "add-medication"):
        verb, kind = action.split("-", 1)
        return _code_step(kind, verb, builder, node)
    if action in ("search-question", "choose-question", "add-question"):
        return _question_step(action.split("-", 1)[0], builder, node)
    if action == "add-field":
        leaf = tree.field_leaf(
            request.form.get("b_field", ""),
            request.form.get("b_op", ""),
            request.form.get("b_value", ""),
            request.form.get("b_value2", ""),
        )
        builder.added = to_text(leaf)
        return tree.add(node, request.form.get("b_target", ""), leaf, _catalogue())
    if action == "group":
        return tree.group(
            node, request.form.getlist("b_selected"), request.form.get("b_group_kind", ""), _catalogue()
        )
    if action.startswith("remove:"):
        return tree.remove(node, action.removeprefix("remove:"), _catalogue())
    if action == "sync":
        return node
    raise tree.BuilderError("kind", _("Choose what to add."))


def _respond(builder: Builder, status: int = 200) -> Any:
    if _wants_json():
        return jsonify(
            {
                "ok": not builder.errors and builder.problem is None,
                "text": builder.text,
                "html": render_template("coordinators/builder_panel.html", b=builder),
                "errors": [
                    {"line": error.line, "column": error.column, "message": error.message}
                    for error in builder.errors
                ],
                **({"count": builder.count.as_dict()} if builder.count is not None else {}),
            }
        ), status
    form = StudyForm()
    form.criteria.data = builder.text
    study = _study(builder.study_id) if builder.study_id else None
    action = (
        url_for("coordinators.study_edit", study_id=study.id)
        if study is not None
        else url_for("coordinators.study_new")
    )
    return render_template(
        "coordinators/study_form.html", form=form, study=study, builder=builder, form_action=action
    ), status


@bp.post("/criteria/builder", endpoint="criteria_builder_step")
@role_required("coordinator")
def builder_step() -> Any:
    """One builder step on the posted study form; nothing is saved."""
    study_id = _study_id()
    if study_id == -1:
        return _bad("b_study", _("not a study"))
    action = request.form.get("b_action", "")
    if not action or len(action) > 200:
        return _bad("b_action", _("choose a builder action"))
    text = _form_text()
    node, errors = tree.parse_located(text, _catalogue())
    builder = build(text, study_id, node, errors)
    if errors:
        # The tree cannot be edited while the text does not read; say where it fails.
        return _respond(builder, 422)
    try:
        changed = _apply(action, builder, node)
    except tree.BuilderError as error:
        builder.problem = (_input_id(error.field, action), step_message(error))
        return _respond(builder, 422 if not action.startswith("search-") or not builder.results else 200)
    new_text = to_text(changed) if changed is not None else ""
    result = build(new_text if changed is not None else "", study_id, changed, [])
    result.results, result.queries, result.added = builder.results, builder.queries, builder.added
    result.question_results, result.question = builder.question_results, builder.question
    result.question_input = builder.question_input
    return _respond(result)


def step_message(error: tree.BuilderError) -> str:
    """A builder step's problem in the coordinator's language: the domain's fixed sentences by
    their English words (their ``{name}`` places filled after translating); a message the web
    layer made is already translated."""
    known = STEP_MESSAGES.get(error.message)
    if known is None:
        return in_words(error.message)
    return (
        str(known) % {name: str(value) for name, value in error.params.items()}
        if error.params
        else str(known)
    )


def _input_id(name: str, action: str) -> str:
    kind = "medication" if action.endswith("medication") else "condition"
    return INPUTS.get(name, "b-target").format(kind=kind)


def _bad(name: str, message: str) -> tuple[BaseResponse, int]:
    return jsonify({"error": {"code": "bad_request", "message": message, "fields": {name: message}}}), 400


@bp.post("/criteria/tree", endpoint="criteria_tree")
@role_required("coordinator")
def criteria_tree() -> Any:
    """The text form read with the real parser: the builder redrawn, or each error with its
    line and column (builder.js, as the text is edited). JSON in, JSON out."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return _bad("criteria", _('send {"criteria": "the text form"}'))
    text = payload.get("criteria")
    if not isinstance(text, str):
        return _bad("criteria", _("the criteria must be text"))
    if len(text) > MAX_TEXT:
        return _bad("criteria", _("the criteria may be at most %(n)d characters", n=MAX_TEXT))
    study = payload.get("study")
    study_id: int | None = None
    if study not in (None, ""):
        if not isinstance(study, int) or isinstance(study, bool):
            return _bad("study", _("not a study"))
        study_id = _study(study).id
    node, errors = tree.parse_located(text, _catalogue())
    builder = build(text, study_id, node, errors)
    return jsonify(
        {
            "ok": not builder.errors,
            "text": to_text(node) if node is not None else "",
            "html": render_template("coordinators/builder_panel.html", b=builder),
            "errors": [
                {"line": error.line, "column": error.column, "message": error.message}
                for error in builder.errors
            ],
        }
    ), (200 if not builder.errors else 422)


@bp.post("/criteria/builder/count", endpoint="criteria_builder_count")
@role_required("coordinator")
@feasibility_limit()
def builder_count() -> Any:
    """Count the volunteers the criteria on the form would reach today, with what each
    criterion leaves (P4). Only this button runs a feasibility query."""
    study_id = _study_id()
    if study_id == -1:
        return _bad("b_study", _("not a study"))
    text = _form_text()
    node, errors = tree.parse_located(text, _catalogue())
    builder = build(text, study_id, node, errors)
    if errors:
        return _respond(builder, 422)
    if node is None:
        builder.problem = ("b-count", _("Add criteria before counting."))
        return _respond(builder, 422)
    builder.count = count_criteria(
        db_session(),
        _account(),
        node,
        today=panel_today(settings()),
        threshold=settings().small_cell_threshold,
        study_id=study_id,
        sites=_form_sites(),
    )
    return _respond(builder)


def _form_sites() -> Sites:
    """The sites on the posted study form (one a line), for ``distance_to_site_km``; lines with
    problems are left out here (saving the form names them)."""
    raw = request.form.get("sites", "")
    sites, _problems = parse_lines(raw if isinstance(raw, str) else "")
    return site_points([site for site in sites if isinstance(site.get("lat"), int | float)])
