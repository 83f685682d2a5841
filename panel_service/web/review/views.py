"""Ethics review pages: the queue of submitted versions, approve (with the letter) or reject."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from panel_service import emails
from panel_service.domain.gazetteer import site_text
from panel_service.domain.letters import LetterRefused, check_letter
from panel_service.domain.regions import region_name
from panel_service.extensions import db_session, settings
from panel_service.services import studies
from panel_service.services.errors import ServiceError, ValidationFailed
from panel_service.timeutil import panel_today
from panel_service.web.auth import current, role_required
from panel_service.web.review.forms import ApprovalForm, RejectForm
from panel_service.web.service_words import in_words
from panel_service.web.transaction import discard

if TYPE_CHECKING:
    from panel_service.models import Account, Study, StudyVersion

bp = Blueprint("review", __name__, url_prefix="/review")

REVIEWERS = ("reviewer", "admin")
MAX_LETTER_BYTES = 8 * 1024 * 1024


def _account() -> Account:
    return current().account()


def _study(study_id: int) -> Study:
    try:
        return studies.get_study(db_session(), _account(), study_id)
    except ServiceError:
        abort(404)


def _number(raw: str | None) -> int | None:
    """The version the reviewer saw (hidden field); nonsense counts as "not the one in review"."""
    if not raw:
        return None
    return int(raw) if raw.isdigit() and len(raw) < 8 else 0


@bp.get("/", endpoint="queue")
@role_required(*REVIEWERS)
def queue() -> str:
    versions = studies.review_queue(db_session())
    return render_template("review/queue.html", versions=versions, criteria_text=studies.criteria_text)


def _invitation_preview(version: StudyVersion | None) -> str:
    """The invitation email's text as a volunteer will read it (in the page's language), with the
    version's own words and placeholder links: what an approval lets Panel send."""
    if version is None:
        return ""
    language = str(get_locale() or "en")
    email = emails.render(
        "invitation",
        language,
        name=_("(the name of the volunteer)"),
        study_title=version.title,
        organisation_name=version.organisation_name,
        # As the dispatcher writes them (services/contact/send.py): the region by name, each
        # site with its town, never a bare "DK-84".
        site_region=region_name(version.site_region, language) or version.site_region,
        sites=[site_text(site, language) for site in version.sites],
        invitation_text=version.invitation_text,
        interested=_("(a link to answer “interested”)"),
        not_interested=_("(a link to answer “not interested”)"),
        unsubscribe=_("(a link to stop all invitations)"),
        why_link=_("(a link to the volunteer's invitation page, after signing in)"),
    )
    return f"{email.subject}\n\n{email.text}"


LETTER_ERRORS = {
    "empty": lambda kind: _("The letter file is empty. Choose the letter again."),
    "unknown_type": lambda kind: _(
        "The letter must be a PDF, Word (.docx or .doc), OpenDocument (.odt), Rich Text (.rtf) or "
        "plain text file. This file is none of these."
    ),
    "extension": lambda kind: _(
        "The file is a %(kind)s document but its name does not end in %(extensions)s. Rename it and "
        "upload it again.",
        kind=kind.name if kind else "",
        extensions=" or ".join(kind.extensions) if kind else "",
    ),
}


def _letter_error(filename: str, letter: bytes) -> str | None:
    """What is wrong with an uploaded letter, in words, or None."""
    if len(letter) > MAX_LETTER_BYTES:
        return _("The letter must be at most 8 MB.")
    try:
        check_letter(filename, letter)
    except LetterRefused as error:
        return LETTER_ERRORS[error.reason](error.kind)
    return None


def _render(study: Study, approval: ApprovalForm, reject: RejectForm, status: int = 200) -> tuple[str, int]:
    version = study.latest_version
    # The forms carry the number of the version this page shows: that is what gets decided.
    approval.version.data = reject.version.data = str(version.number) if version else ""
    return (
        render_template(
            "review/study.html",
            study=study,
            version=version,
            criteria_text=studies.criteria_text,
            approval_form=approval,
            reject_form=reject,
            today=panel_today(settings()),
            invitation_preview=_invitation_preview(version),
        ),
        status,
    )


@bp.get("/studies/<int:study_id>")
@role_required(*REVIEWERS)
def study(study_id: int) -> Any:
    found = _study(study_id)
    number = str(found.latest_version.number) if found.latest_version else ""
    return _render(found, ApprovalForm(version=number), RejectForm(prefix="reject", version=number))


@bp.post("/studies/<int:study_id>/approve")
@role_required(*REVIEWERS)
def approve(study_id: int) -> Any:
    found = _study(study_id)
    form = ApprovalForm()
    valid = form.validate_on_submit()
    # The letter is checked even when another field failed, so one submit shows every problem.
    data = form.letter.data
    upload = data if isinstance(data, FileStorage) and data.filename else None
    letter = upload.read(MAX_LETTER_BYTES + 1) if upload is not None else b""
    letter_error = _letter_error(upload.filename or "", letter) if upload is not None else None
    if letter_error is not None:
        form.letter.errors = [letter_error]
    if valid and upload is not None and letter_error is None:
        session = db_session()
        fields = studies.ApprovalFields(
            committee=form.committee.data or "",
            kind=form.kind.data or "",
            reference=form.reference.data or "",
            approved_on=form.approved_on.data,
            expires_on=form.expires_on.data,
            letter=letter,
            letter_filename=upload.filename,
            version=_number(form.version.data),
        )
        try:
            studies.approve_study(session, _account(), found.id, fields, today=panel_today(settings()))
        except ValidationFailed as error:
            discard()
            for name, message in error.fields.items():
                target = getattr(form, name, None) or form.letter
                target.errors = [*list(target.errors), message]
        except ServiceError as error:
            discard()
            flash(in_words(error.message))
            return redirect(url_for("review.study", study_id=found.id))
        else:
            flash(
                _(
                    "Approval recorded for “%(title)s”. The coordinators are told by email.",
                    title=found.latest_title,
                )
            )
            return redirect(url_for("review.queue"))
    return _render(found, form, RejectForm(prefix="reject"), 422)


@bp.post("/studies/<int:study_id>/reject")
@role_required(*REVIEWERS)
def reject(study_id: int) -> Any:
    found = _study(study_id)
    form = RejectForm(prefix="reject")
    if form.validate_on_submit():
        session = db_session()
        try:
            studies.reject_study(
                session, _account(), found.id, form.reason.data or "", version=_number(form.version.data)
            )
        except ValidationFailed as error:
            discard()
            form.reason.errors = list(error.fields.values())
        except ServiceError as error:
            discard()
            flash(in_words(error.message))
            return redirect(url_for("review.study", study_id=found.id))
        else:
            flash(
                _(
                    "“%(title)s” was rejected; the coordinators are told by email and see your reason.",
                    title=found.latest_title,
                )
            )
            return redirect(url_for("review.queue"))
    return _render(found, ApprovalForm(formdata=None), form, 422)


@bp.get("/studies/<int:study_id>/versions/<int:number>/letter")
@role_required(*REVIEWERS)
def letter(study_id: int, number: int) -> Response:
    found = _study(study_id)
    try:
        version = studies.version_by_number(db_session(), found, number)
    except ServiceError:
        abort(404)
    letter = studies.approval_letter(db_session(), version)
    if letter is None:
        abort(404)
    response = make_response(letter)
    response.mimetype = "application/octet-stream"
    response.headers["Content-Disposition"] = f'attachment; filename="approval-{found.id}-v{number}"'
    return response
