"""Admin catalogue pages (``/admin/questions``) and the volunteer's answer form (``/me/questions``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

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
from panel_service.services import participants as participant_service
from panel_service.services import questions as service
from panel_service.services.errors import Forbidden
from panel_service.services.matching import request_profile_match
from panel_service.timeutil import panel_today
from panel_service.web.auth import current, role_required
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
