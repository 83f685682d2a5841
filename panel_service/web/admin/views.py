from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from panel_service.domain.vocab import INVITATION_STATUSES, STAFF_ROLES
from panel_service.extensions import db_session
from panel_service.services import accounts, studies
from panel_service.services import invitations as invitation_service
from panel_service.services.errors import NotFound, ServiceError, ValidationFailed
from panel_service.web.auth import current, role_required
from panel_service.web.forms import SafeForm
from panel_service.web.transaction import discard

bp = Blueprint("admin", __name__, url_prefix="/admin")


ROLE_NAMES = {"coordinator": _l("coordinator"), "reviewer": _l("reviewer"), "admin": _l("admin")}


class StaffForm(SafeForm):
    email = EmailField(
        _l("Email"), validators=[DataRequired(message=_l("Enter an email address.")), Length(max=320)]
    )
    role = SelectField(_l("Role"), choices=[SelectChoice(role, ROLE_NAMES[role]) for role in STAFF_ROLES])
    organisation = StringField(
        _l("Organisation (coordinators only)"), validators=[Optional(), Length(max=200)]
    )


@bp.route("/staff", methods=["GET", "POST"])
@role_required("admin")
def staff() -> Any:
    form = StaffForm()
    status = 200
    if form.validate_on_submit():
        session = db_session()
        try:
            created = accounts.create_staff_account(
                session,
                email=form.email.data or "",
                role=form.role.data or "",
                organisation=form.organisation.data or None,
                actor=current().account(),
            )
        except ServiceError as error:
            discard()
            for name, message in (error.fields or {"email": error.message}).items():
                target = getattr(form, name, form.email)
                target.errors = [*list(target.errors), message]
        else:
            flash(
                _(
                    "%(email)s can now sign in as %(role)s after setting a password by reset link.",
                    email=created.email,
                    role=created.role,
                )
            )
            return redirect(url_for("admin.staff"))
    if form.errors:
        status = 422
    people = accounts.staff_accounts(db_session())
    return render_template("admin/staff.html", form=form, people=people), status


INVITATIONS_PAGE_SIZE = 50


def _positive_int(name: str, default: int | None) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationFailed(
            f"{name.capitalize()} must be a whole number from 1.", {name: "not_positive_int"}
        )
    return int(raw)


@bp.route("/studies/<int:study_id>/invitations")
@role_required("admin")
def study_invitations(study_id: int) -> Any:
    """A study's invitations with status, reason, attempts, last error (addresses removed) and
    times; filtered by status or participant id, 50 a page. With a participant: their contact
    history (consent, pause, resume) from the audit trail."""
    session = db_session()
    try:
        study = studies.get_study(session, current().account(), study_id)
    except NotFound:
        abort(404)
    errors: dict[str, str] = {}
    status = request.args.get("status", "").strip() or None
    page, participant_id, rows, history, total = 1, None, [], [], 0
    try:
        invitation_service.check_status(status)
    except ValidationFailed as error:
        errors["status"] = error.message
        status = None
    try:
        page = _positive_int("page", 1) or 1
        participant_id = _positive_int("participant", None)
    except ValidationFailed as error:
        errors.update({name: error.message for name in error.fields})
    if not errors:
        rows = invitation_service.study_invitations(
            session,
            study_id,
            status=status,
            participant_id=participant_id,
            offset=(page - 1) * INVITATIONS_PAGE_SIZE,
            limit=INVITATIONS_PAGE_SIZE,
        )
        total = (
            len(rows)
            if participant_id is not None
            else invitation_service.count_study_invitations(session, study_id, status=status)
        )
        if participant_id is not None:
            history = invitation_service.contact_history(session, participant_id)
    pages = max(1, -(-total // INVITATIONS_PAGE_SIZE))
    return render_template(
        "admin/invitations.html",
        study=study,
        rows=rows,
        history=history,
        statuses=INVITATION_STATUSES,
        status=status,
        participant_id=participant_id,
        page=page,
        pages=pages,
        total=total,
        errors=errors,
    ), (400 if errors else 200)
