"""Admin catalogue pages (``/admin/questions``) and the volunteer's answer form (``/me/questions``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from panel_service.domain import asking as asking_domain
from panel_service.domain.criteria import vocabulary
from panel_service.domain.profile import display_icd10
from panel_service.domain.questions import (
    QUESTION_TYPES,
    Answer,
    Catalogue,
    Question,
    QuestionDataError,
    answer_to_json,
    answer_value,
    question_to_data,
)
from panel_service.domain.vocab import SEXES
from panel_service.extensions import db_session, settings
from panel_service.services import asking
from panel_service.services import participants as participant_service
from panel_service.services import questions as service
from panel_service.services.errors import Forbidden
from panel_service.services.matching import request_profile_match
from panel_service.timeutil import panel_today
from panel_service.web.auth import current, role_required
from panel_service.web.dates import readable_date
from panel_service.web.forms import SafeForm
from panel_service.web.service_words import in_words

bp = Blueprint("questions", __name__)


class CsrfForm(SafeForm):
    """No fields of its own: the question fields are read by key from the submitted form."""


def language() -> str:
    return str(get_locale() or "en")


# -- admin -------------------------------------------------------------------------------------


def _options_text(question: Question | None) -> str:
    if question is None:
        return ""
    return "\n".join(
        f"{option.key} | {option.wording.get('en', '')} | {option.wording.get('da', '')}"
        for option in question.options
    )


def _form_values(question: Question | None) -> dict[str, str]:
    if question is None:
        return {"type": "boolean", "section": "other"}
    others = question.value_for_others
    return {
        "key": question.key,
        "type": question.type,
        "section": question.section,
        "wording_en": question.wording.get("en", ""),
        "wording_da": question.wording.get("da", ""),
        "help_en": question.help.get("en", ""),
        "help_da": question.help.get("da", ""),
        "options": _options_text(question),
        "unit": question.unit or "",
        "min": "" if question.minimum is None else f"{question.minimum:g}",
        "max": "" if question.maximum is None else f"{question.maximum:g}",
        "applies_to": ", ".join(question.applies_to or ()),
        "value_for_others": "" if others is None else json.dumps(answer_to_json(others)),
    }


def _number(text: str, name: str, errors: dict[str, str]) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        errors[name] = _("Enter a number, or leave it empty.")
        return None


def _data_from_form(form: Any, errors: dict[str, str]) -> dict[str, Any]:
    """A question's JSON form from the admin form; problems go into ``errors`` by field name."""
    data: dict[str, Any] = {
        "key": form.get("key", "").strip(),
        "type": form.get("type", ""),
        "section": form.get("section", "").strip() or "other",
        "wording": {"en": form.get("wording_en", "").strip(), "da": form.get("wording_da", "").strip()},
        "help": {"en": form.get("help_en", "").strip(), "da": form.get("help_da", "").strip()},
    }
    if not data["wording"]["en"]:
        errors["wording_en"] = _("Enter the question in English.")
    options = []
    for number, line in enumerate(form.get("options", "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) < 2 or not parts[0]:
            errors["options"] = _("Line %(number)d: write key | English | Danish.", number=number)
            continue
        options.append(
            {"key": parts[0], "wording": {"en": parts[1], "da": parts[2] if len(parts) > 2 else ""}}
        )
    if options:
        data["options"] = options
    for name in ("unit",):
        if form.get(name, "").strip():
            data[name] = form.get(name).strip()
    for name in ("min", "max"):
        value = _number(form.get(name, ""), name, errors)
        if value is not None:
            data[name] = value
    sexes = [part.strip() for part in form.get("applies_to", "").split(",") if part.strip()]
    if sexes:
        if not set(sexes) <= set(SEXES):
            errors["applies_to"] = _(
                "Write sexes from %(sexes)s, separated by commas.", sexes=", ".join(SEXES)
            )
        data["applies_to"] = {"sex": sexes}
        others = form.get("value_for_others", "").strip()
        if others:
            try:
                data["value_for_others"] = json.loads(others)
            except ValueError:
                errors["value_for_others"] = _('Write a JSON value, such as false, 0 or "never".')
    return data


def _admin_page(
    catalogue: Catalogue, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Any:
    return (
        render_template(
            "questions/admin_list.html",
            questions=list(catalogue.values()),
            catalogue=catalogue,
            values=values,
            errors=errors,
            types=QUESTION_TYPES,
            form=CsrfForm(),
            language=language(),
        ),
        status,
    )


@bp.route("/admin/questions", methods=["GET", "POST"])
@role_required("admin")
def admin_list() -> Any:
    session = db_session()
    errors: dict[str, str] = {}
    values = _form_values(None)
    if request.method == "POST":
        values = {key: str(value) for key, value in request.form.items()}
        if not CsrfForm().validate_on_submit():
            abort(400)
        data = _data_from_form(request.form, errors)
        if not errors:
            try:
                service.add_question(session, data)
            except (QuestionDataError, service.QuestionChangeRefused) as error:
                errors["key"] = in_words(str(error))
            else:
                flash(_("Question %(key)s added.", key=data["key"]))
                return redirect(url_for("questions.admin_list"))
        return _admin_page(service.load_catalogue(session), values, errors, 422)
    return _admin_page(service.load_catalogue(session), values, errors)


@bp.route("/admin/questions/<key>", methods=["GET", "POST"])
@role_required("admin")
def admin_edit(key: str) -> Any:
    session = db_session()
    catalogue = service.load_catalogue(session)
    question = catalogue.get(key)
    if question is None:
        abort(404)
    errors: dict[str, str] = {}
    values = _form_values(question)
    status = 200
    if request.method == "POST":
        if not CsrfForm().validate_on_submit():
            abort(400)
        action = request.form.get("action", "save")
        if action in ("retire", "restore"):
            service.retire_question(session, key, retired=action == "retire")
            flash(
                _("Question %(key)s retired.", key=key)
                if action == "retire"
                else _("Question %(key)s restored.", key=key)
            )
            return redirect(url_for("questions.admin_edit", key=key))
        values = {name: str(value) for name, value in request.form.items()}
        data = _data_from_form(request.form, errors)
        if not errors:
            try:
                service.update_question(session, key, data)
            except service.QuestionChangeRefused as error:
                errors["type" if "type" in str(error) else "key"] = in_words(str(error))
            except QuestionDataError as error:
                errors["options"] = in_words(str(error))
            else:
                flash(_("Question %(key)s saved.", key=key))
                return redirect(url_for("questions.admin_edit", key=key))
        status = 422
    return (
        render_template(
            "questions/admin_edit.html",
            question=question,
            values=values,
            errors=errors,
            types=QUESTION_TYPES,
            answered=service.is_answered(session, key),
            form=CsrfForm(),
            data=json.dumps(question_to_data(question), ensure_ascii=False, indent=1),
            language=language(),
        ),
        status,
    )


# -- volunteers --------------------------------------------------------------------------------


def _volunteer() -> tuple[int, str | None]:
    account = current().account()
    try:
        participant = participant_service.participant_for(db_session(), account.id)
    except Forbidden:
        abort(403)
    return participant.id, service.volunteer_sex(db_session(), participant.id)


def _asked(catalogue: Catalogue, sex: str | None) -> list[Question]:
    """What a volunteer is asked: current questions that apply to them; scores are computed."""
    return [q for q in catalogue.values() if not q.retired and not q.scored and q.applies(sex)]


@bp.route("/me/questions")
@role_required("participant")
def volunteer_sections() -> Any:
    participant_id, sex = _volunteer()
    catalogue = service.load_catalogue(db_session())
    answers = service.answers_of(db_session(), participant_id)
    sections: dict[str, list[Question]] = {}
    for question in _asked(catalogue, sex):
        sections.setdefault(question.section, []).append(question)
    rows = [
        {
            "key": section,
            "title": catalogue.section_title(section, language()),
            "answered": sum(1 for q in questions if q.key in answers),
            "total": len(questions),
        }
        for section, questions in sections.items()
    ]
    scores = [
        (q.text(language()), answers[q.key].value)
        for q in catalogue.values()
        if q.scored and q.key in answers
    ]
    return render_template("questions/volunteer_sections.html", sections=rows, scores=scores)


def _display(question: Question, answer: Answer | None) -> Any:
    if answer is None:
        return None
    value = answer.value
    if question.type == "boolean":
        return "yes" if value else "no"
    if question.type == "multi_choice":
        return set(value)  # type: ignore[arg-type]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_answer(question: Question, form: Any) -> tuple[object | None, str | None]:
    """The submitted value of one question (None: left empty) or an error message."""
    name = f"q-{question.key}"
    if question.type == "multi_choice":
        chosen = form.getlist(name)
        return (chosen or None), None
    raw = form.get(name, "").strip()
    if not raw:
        return None, None
    if question.type == "boolean":
        if raw not in ("yes", "no"):
            return None, _("Choose yes or no.")
        return raw == "yes", None
    if question.type in ("integer", "decimal"):
        try:
            return (float(raw.replace(",", ".")) if question.type == "decimal" else int(raw)), None
        except ValueError:
            return None, _("Enter a number, such as 3.") if question.type == "integer" else _(
                "Enter a number, such as 2.5."
            )
    return raw, None


@bp.route("/me/questions/<section>", methods=["GET", "POST"])
@role_required("participant")
def volunteer_section(section: str) -> Any:
    session = db_session()
    participant_id, sex = _volunteer()
    catalogue = service.load_catalogue(session)
    questions = [q for q in _asked(catalogue, sex) if q.section == section]
    if not questions:
        abort(404)
    answers = service.answers_of(session, participant_id)
    errors: dict[str, str] = {}
    status = 200
    shown = {q.key: _display(q, answers.get(q.key)) for q in questions}
    if request.method == "POST":
        if not CsrfForm().validate_on_submit():
            abort(400)
        today = panel_today(settings())
        given: dict[str, Answer] = {}
        removed: list[str] = []
        for question in questions:
            value, problem = _read_answer(question, request.form)
            if problem is None and value is not None:
                try:
                    typed = answer_value(question, value)
                except ValueError as error:
                    problem = _("This answer is not accepted: %(reason)s", reason=str(error))
                else:
                    old = answers.get(question.key)
                    given[question.key] = (
                        old if old is not None and old.value == typed else Answer(typed, today)
                    )
            if problem is not None:
                errors[question.key] = problem
            elif value is None:
                removed.append(question.key)
        if not errors:
            service.save_volunteer_answers(session, participant_id, given, removed, catalogue)
            request_profile_match(session, participant_id)
            flash(_("Your answers are saved."))
            return redirect(url_for("questions.volunteer_sections"))
        shown = {
            q.key: set(request.form.getlist(f"q-{q.key}"))
            if q.type == "multi_choice"
            else request.form.get(f"q-{q.key}", "")
            for q in questions
        }
        status = 422
    return (
        render_template(
            "questions/volunteer_section.html",
            title=catalogue.section_title(section, language()),
            questions=questions,
            shown=shown,
            errors=errors,
            language=language(),
            form=CsrfForm(),
        ),
        status,
    )


# -- questions that matter (issue 13 item 1) ---------------------------------------------------

ASKS_PER_PAGE = 3
SKIP_ACTIONS = ("later", "rather_not")


def _ask_view(
    ask: asking_domain.Ask, catalogue: Catalogue, answers: dict[str, Answer], sex: str | None
) -> dict[str, Any]:
    """What the page shows of one ask: its questions (an instrument's items), the stored answer
    of a stale one in words, or the condition or medicine whose history is asked."""
    view: dict[str, Any] = {"ask": ask, "questions": [], "current": [], "name": ""}
    if ask.kind is asking_domain.AskKind.QUESTION:
        question = catalogue[ask.key]
        view["title"] = question.text(language())
        items = [catalogue[key] for key in asking.question_keys(catalogue, ask) if key in catalogue]
        view["questions"] = [q for q in items if q.applies(sex)]
        if ask.stale:
            view["current"] = [
                (q.text(language()), _answer_words(q, answers[q.key]), answers[q.key].answered_on)
                for q in view["questions"]
                if q.key in answers
            ]
    else:
        system: vocabulary.System = "icd10" if ask.kind is asking_domain.AskKind.CONDITION else "atc"
        term = vocabulary.lookup(system, ask.key) or vocabulary.nearest_term(system, ask.key)
        view["name"] = term.plain_name_in(language()) if term is not None else ask.key
        view["code"] = display_icd10(ask.key) if system == "icd10" else ask.key
        view["anchor"] = f"title-{'c' if system == 'icd10' else 'm'}-{ask.key}"
    return view


def _answer_words(question: Question, answer: Answer) -> str:
    value = answer.value
    if question.type == "boolean":
        return _("Yes") if value else _("No")
    if question.type == "choice":
        option = question.option(str(value))
        return option.text(language()) if option is not None else str(value)
    if question.type == "multi_choice":
        chosen = sorted(value)  # type: ignore[arg-type]
        return ", ".join(o.text(language()) for o in question.options if o.key in chosen) or "-"
    if isinstance(value, dt.date):
        return readable_date(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value} {question.unit}" if question.unit else str(value)


def _next_page(
    asked: asking.Asked,
    catalogue: Catalogue,
    answers: dict[str, Answer],
    sex: str | None,
    *,
    with_skipped: bool,
    errors: dict[str, dict[str, str]] | None = None,
    shown: dict[str, Any] | None = None,
    status: int = 200,
) -> Any:
    views = [_ask_view(ask, catalogue, answers, sex) for ask in asked.asks[:ASKS_PER_PAGE]]
    for view in views:
        given = (shown or {}).get(view["ask"].ask_key)
        view["shown"] = given if given is not None else {}
        view["errors"] = (errors or {}).get(view["ask"].ask_key, {})
    return (
        render_template(
            "questions/volunteer_next.html",
            views=views,
            total=len(asked.asks),
            skipped=asked.skipped,
            with_skipped=with_skipped,
            errors=errors or {},
            language=language(),
            form=CsrfForm(),
        ),
        status,
    )


@bp.route("/me/questions/next", methods=["GET", "POST"])
@role_required("participant")
def volunteer_next() -> Any:
    """The few questions whose answers could decide the most recruiting studies for this
    volunteer, each on its own small form: answer, "still true", "Skip for now" or "I'd rather
    not say". Never names a study."""
    session = db_session()
    participant_id, sex = _volunteer()
    with_skipped = request.values.get("skipped") == "1"
    catalogue = service.load_catalogue(session)
    answers = service.answers_of(session, participant_id)
    back = (
        url_for("questions.volunteer_next", skipped="1")
        if with_skipped
        else url_for("questions.volunteer_next")
    )
    if request.method == "POST":
        if not CsrfForm().validate_on_submit():
            abort(400)
        ask = asking.find_ask(
            asking.all_that_matter(session, settings(), participant_id), request.form.get("ask", "")
        )
        action = request.form.get("action", "save")
        if ask is None:
            flash(_("That question does not make a difference to any study now. Thank you."))
            return redirect(back)
        if action in SKIP_ACTIONS:
            asking.skip(session, settings(), participant_id, ask.ask_key, action)
            flash(_("We will not ask you that again for a while."))
            return redirect(back)
        if action == "confirm":
            if ask.stale and asking.confirm_stale(session, settings(), participant_id, ask, catalogue):
                flash(_("Thank you. Your answer is up to date."))
            return redirect(back)
        if ask.kind is not asking_domain.AskKind.QUESTION:
            abort(400)
        problems, given = _read_ask(ask, catalogue, sex, answers)
        if not problems:
            asking.save_answers(session, settings(), participant_id, ask, given, catalogue)
            flash(_("Your answer is saved."))
            return redirect(back)
        shown = {
            ask.ask_key: {
                q: set(request.form.getlist(f"q-{q}"))
                if catalogue[q].type == "multi_choice"
                else request.form.get(f"q-{q}", "")
                for q in asking.question_keys(catalogue, ask)
            }
        }
        asked = asking.what_to_ask(session, settings(), participant_id, with_skipped=with_skipped)
        if asking.find_ask(asked.asks[:ASKS_PER_PAGE], ask.ask_key) is None:
            asked = asking.Asked([ask, *asked.asks], asked.skipped)
        return _next_page(
            asked, catalogue, answers, sex, with_skipped=with_skipped,
            errors={ask.ask_key: problems}, shown=shown, status=422,
        )  # fmt: skip
    asked = asking.what_to_ask(session, settings(), participant_id, with_skipped=with_skipped)
    shown = {
        view_ask.ask_key: {
            key: _display(catalogue[key], answers.get(key))
            for key in asking.question_keys(catalogue, view_ask)
        }
        for view_ask in asked.asks[:ASKS_PER_PAGE]
        if view_ask.kind is asking_domain.AskKind.QUESTION
    }
    return _next_page(asked, catalogue, answers, sex, with_skipped=with_skipped, shown=shown)


def _read_ask(
    ask: asking_domain.Ask, catalogue: Catalogue, sex: str | None, answers: dict[str, Answer]
) -> tuple[dict[str, str], dict[str, Answer]]:
    """The posted answers to one ask's questions (errors by question key): every question asked
    must be answered, since the way not to answer is a skip button."""
    today = panel_today(settings())
    problems: dict[str, str] = {}
    given: dict[str, Answer] = {}
    for key in asking.question_keys(catalogue, ask):
        question = catalogue[key]
        if not question.applies(sex):
            continue
        value, problem = _read_answer(question, request.form)
        if problem is None and value is None:
            problem = _("Choose an answer, or use “Skip for now”.") if question.type in (
                "boolean", "choice", "multi_choice"
            ) else _("Enter an answer, or use “Skip for now”.")  # fmt: skip
        if problem is None:
            try:
                given[key] = Answer(answer_value(question, value), today)
            except ValueError as error:
                problem = _("This answer is not accepted: %(reason)s", reason=str(error))
        if problem is not None:
            problems[key] = problem
    return problems, given
