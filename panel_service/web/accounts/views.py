from __future__ import annotations

import math

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from panel_service.domain.vocab import LANGUAGES
from panel_service.extensions import db_session, limiter, settings
from panel_service.services import account_mail, accounts, tokens
from panel_service.web.accounts import throttle
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
    return url_for(HOME_BY_ROLE.get(role, "public.home"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        email = form.email.data or ""
        attempt = throttle.attempt_for(email)
        wait = throttle.seconds_to_wait(attempt)
        if wait > 0:
            form.password.errors = [
                _("Too many attempts. Try again in %(minutes)d min.", minutes=max(1, math.ceil(wait / 60)))
            ]
            return render_template("accounts/login.html", form=form), 429
        account = accounts.find_account(db_session(), email)
        # The password is checked whether or not the email is registered (an unknown one against
        # a dummy hash), so that the work and the answer say nothing about who is registered.
        password_ok = accounts.verify_password(
            settings(), account.password_hash if account is not None else None, form.password.data or ""
        )
        if account is not None and account.is_active and password_ok:
            sign_in(account, request.user_agent.string)
            response = redirect(safe_next(form.next.data, home_for(account.role)))
            throttle.count_success(attempt, response)
            return response
        throttle.count_failure(attempt)
        # One message whether or not the email is registered.
        form.password.errors = [_("Email or password is not correct.")]
        return render_template("accounts/login.html", form=form), 401
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    sign_out()
    flash(_("You are signed out."))
    return redirect(url_for("public.home"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def forgot_password() -> str | Response:
    from panel_service.web.volunteers.forms import ForgotPasswordForm

    form = ForgotPasswordForm()
    if form.validate_on_submit():
        account = accounts.find_account(db_session(), form.email.data or "")
        if account is not None and account.is_active:
            account_mail.request_password_reset(db_session(), account.id)
        # The same answer whether or not the address is registered.
        return redirect(url_for("accounts.reset_sent"))
    return render_template("accounts/forgot.html", form=form)


@bp.get("/password/sent")
def reset_sent() -> str:
    return render_template("accounts/reset_sent.html")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> str | Response | tuple[str, int]:
    from panel_service.web.volunteers.forms import ResetPasswordForm

    db = db_session()
    try:
        tokens.peek(db, token, "reset_password")
    except tokens.TokenInvalid:
        return render_template("volunteers/link_invalid.html"), 410
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            row = tokens.consume(db, token, "reset_password")
        except tokens.TokenInvalid:
            return render_template("volunteers/link_invalid.html"), 410
        account = accounts.reset_password(db, settings(), row, form.password.data or "")
        if account is None:
            return render_template("volunteers/link_invalid.html"), 410
        sign_out()
        flash(_("Your password is changed. Sign in with your new password."))
        return redirect(url_for("accounts.login"))
    status = 422 if form.errors else 200
    return render_template("accounts/reset.html", form=form), status


@bp.post("/language")
def set_language() -> Response:
    """The language switcher: a POST (it changes state), remembered in the session and, for a
    volunteer, on the participant row so that emails follow the choice."""
    from panel_service.web.volunteers.forms import EmptyForm

    chosen = request.form.get("lang", "")
    if EmptyForm().validate_on_submit() and chosen in LANGUAGES:
        session["lang"] = chosen
        if current_user.is_authenticated and current_user.role == "participant":
            accounts.remember_language(db_session(), current_user.account_id, chosen)
        elif current_user.is_authenticated:
            # Staff: the emails Panel sends them (a review decision) follow this choice.
            accounts.remember_staff_language(db_session(), current_user.account_id, chosen)
    return redirect(safe_next(request.form.get("next"), url_for("public.home")))
