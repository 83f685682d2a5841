from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from panel_service.extensions import db_session, settings
from panel_service.services import accounts
from panel_service.web.accounts.forms import LoginForm
from panel_service.web.auth import sign_in, sign_out
from panel_service.web.safe_redirect import safe_next

bp = Blueprint("accounts", __name__)

HOME_BY_ROLE = {
    "participant": "volunteers.dashboard",
    "coordinator": "coordinators.studies",
    "reviewer": "review.queue",
    "admin": "review.queue",
}


def home_for(role: str) -> str:
    endpoint = HOME_BY_ROLE.get(role, "public.home")
    try:
        return url_for(endpoint)
    except Exception:  # an area not built yet falls back to the home page
        return url_for("public.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        account = accounts.find_account(db_session(), form.email.data or "")
        password_hash = account.password_hash if account is not None else None
        if (
            account is not None
            and account.is_active
            and accounts.verify_password(settings(), password_hash, form.password.data or "")
        ):
            sign_in(account, request.user_agent.string)
            return redirect(safe_next(form.next.data, home_for(account.role)))
        # One message whether or not the email is registered.
        form.password.errors = [_("Email or password is not correct.")]
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    sign_out()
    flash(_("You are signed out."))
    return redirect(url_for("public.home"))
