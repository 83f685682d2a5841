from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l

from panel_service.extensions import csrf, db_session, settings
from panel_service.services import consent, question_reminders, tokens
from panel_service.services.errors import ServiceError
from panel_service.services.invitations import (
    AnswerRefused,
    answer_context,
    answer_refusal_now,
    record_answer,
)
from panel_service.web.answers.forms import ANSWERS, AnswerForm

bp = Blueprint("answers", __name__)


# Why an invitation cannot be answered now (domain.answers.REFUSAL_REASONS), in the visitor's words.
REFUSAL_MESSAGES = {
    "erased": _l("This account has been erased, so the invitation cannot be answered."),
    "study_closed": _l("This study has closed and takes no more answers."),
    "consent_withdrawn": _l(
        "You have withdrawn your consent to be contacted about studies. "
        "Give your consent again on your contact page if you want to answer this invitation."
    ),
}


def _refused(reason: str) -> tuple[str, int]:
    return render_template("answers/refused.html", message=REFUSAL_MESSAGES[reason]), 409


def _invalid(message: str | None = None, status: int = 404) -> tuple[str, int]:
    return render_template("answers/invalid.html", message=message), status


@bp.route("/invitations/answer/<token>", methods=["GET", "POST"])
def answer(token: str) -> str | tuple[str, int]:
    session = db_session()
    try:
        link = tokens.peek(session, token, "answer")
    except tokens.TokenInvalid:
        return _invalid()
    if link.study_id is None or link.participant_id is None:
        return _invalid()
    context = answer_context(session, link.study_id, link.participant_id)
    if context is None:
        return _invalid()
    if context.already is None:
        refusal = answer_refusal_now(session, study_id=link.study_id, participant_id=link.participant_id)
        if refusal is not None:
            return _refused(refusal)
    form = AnswerForm()
    if request.method == "GET":
        suggested = request.args.get("answer")
        if suggested in ANSWERS:
            form.answer.data = suggested
        return render_template("answers/answer.html", form=form, context=context)
    if not form.validate_on_submit():
        return render_template("answers/answer.html", form=form, context=context), 422
    try:
        tokens.consume(session, token, "answer")
        record_answer(
            session, study_id=link.study_id, participant_id=link.participant_id, answer=str(form.answer.data)
        )
    except tokens.TokenInvalid:
        return _invalid()
    except AnswerRefused as exc:  # the study closed or consent went between the check above and now
        return _refused(exc.reason)
    except ServiceError as exc:
        return _invalid(exc.message, exc.status)
    return render_template("answers/answered.html", context=context, answer=form.answer.data)


# Exempt from CSRF on purpose: RFC 8058 one-click unsubscribe is a POST from the mail client
# with the body "List-Unsubscribe=One-Click" and no session, so it cannot carry a CSRF token.
# The unguessable single-use token in the URL is the credential; a forged cross-site POST would
# need that token, which only the volunteer's mailbox has.
@csrf.exempt
@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> str | tuple[str, int]:
    session = db_session()
    try:
        link = tokens.peek(session, token, "unsubscribe")
    except tokens.TokenInvalid:
        return _invalid()
    if link.participant_id is None:
        return _invalid()
    if request.method == "GET":
        return render_template("answers/unsubscribe.html", token=token)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    try:
        tokens.consume(session, token, "unsubscribe")
    except tokens.TokenInvalid:
        return _invalid()
    consent.withdraw_contact_consent(
        session, link.participant_id, via=consent.VIA_ONE_CLICK if one_click else consent.VIA_UNSUBSCRIBE_LINK
    )
    return render_template("answers/unsubscribed.html")


# The question reminder email's opt-out (issue 13 item 1). A GET only shows a button (mail
# scanners follow links); the POST is exempt from CSRF for the same reason as ``unsubscribe``:
# RFC 8058's one-click POST carries no session. The signed token is the credential, and all it
# can do is stop these reminders.
@csrf.exempt
@bp.route("/reminders/stop/<token>", methods=["GET", "POST"])
def stop_reminders(token: str) -> str | tuple[str, int]:
    participant_id = question_reminders.volunteer_of_token(db_session(), settings(), token)
    if participant_id is None:
        return _invalid()
    if request.method == "GET":
        return render_template("answers/reminders_stop.html")
    question_reminders.set_reminders(db_session(), participant_id, False)
    return render_template("answers/reminders_stopped.html")
