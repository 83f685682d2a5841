"""Ethics review pages: the queue of submitted versions, approve (with the letter) or reject."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, url_for

from panel_service.extensions import db_session, settings
from panel_service.services import studies
from panel_service.services.errors import ServiceError, ValidationFailed
from panel_service.timeutil import panel_today
from panel_service.web.auth import current, role_required
from panel_service.web.review.forms import ApprovalForm, RejectForm
from panel_service.web.transaction import discard

if TYPE_CHECKING:
    from panel_service.models import Account, Study

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
    if form.validate_on_submit():
        upload = form.letter.data
        letter = upload.read(MAX_LETTER_BYTES + 1)
        if len(letter) > MAX_LETTER_BYTES:
            form.letter.errors = ["The letter must be at most 8 MB."]
        else:
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
                flash(error.message)
                return redirect(url_for("review.study", study_id=found.id))
            else:
                flash(f"Approval recorded for “{found.latest_title}”.")
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
            flash(error.message)
            return redirect(url_for("review.study", study_id=found.id))
        else:
            flash(f"“{found.latest_title}” was rejected; the coordinators see your reason.")
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
