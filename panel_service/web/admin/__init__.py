"""Admin pages: create coordinators and reviewers (the web twin of ``panel users create``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from panel_service.domain.vocab import STAFF_ROLES
from panel_service.extensions import db_session
from panel_service.models import Account
from panel_service.services import accounts
from panel_service.services.errors import ServiceError
from panel_service.web.auth import current, role_required
from panel_service.web.forms import SafeForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


class StaffForm(SafeForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter an email address."), Length(max=320)])
    role = SelectField("Role", choices=list(STAFF_ROLES))
    organisation = StringField("Organisation (coordinators only)", validators=[Optional(), Length(max=200)])


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
            session.rollback()
            for name, message in (error.fields or {"email": error.message}).items():
                target = getattr(form, name, form.email)
                target.errors = [*list(target.errors), message]
        else:
            session.commit()
            flash(
                f"{created.email} can now sign in as {created.role} after setting a password by reset link."
            )
            return redirect(url_for("admin.staff"))
    if form.errors:
        status = 422
    people = db_session().scalars(
        select(Account)
        .options(selectinload(Account.organisation))
        .where(Account.role.in_(STAFF_ROLES))
        .order_by(Account.role, Account.email)
    )
    return render_template("admin/staff.html", form=form, people=list(people)), status
