"""Who is asking: web users through Flask-Login over server-side sessions, roles for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, session
from flask_login import UserMixin, current_user, login_user, logout_user

from panel_service.extensions import db_session, login_manager, settings
from panel_service.models import Account
from panel_service.services import accounts
from panel_service.web.transaction import commit_authentication

F = TypeVar("F", bound=Callable[..., Any])


class CurrentUser(UserMixin):
    """The logged-in account. ``get_id`` returns the server-side session id, so revoking the
    session row logs the browser out at its next request."""

    def __init__(self, account: Account, session_id: str) -> None:
        self.account_id = account.id
        self.email = account.email
        self.role = account.role
        self.organisation_id = account.organisation_id
        self.session_id = session_id
        # Held so that the session's (weak) identity map keeps the row loaded with the web
        # session: ``account()`` then finds it without a second SELECT in the same request.
        self._loaded = account

    def get_id(self) -> str:
        return self.session_id

    def account(self) -> Account:
        found = accounts.get_account(db_session(), self.account_id)
        if found is None:
            abort(401)
        return found


@login_manager.user_loader
def _load_user(session_id: str) -> CurrentUser | None:
    account = accounts.account_for_web_session(settings(), db_session(), session_id)
    commit_authentication()  # persists last_seen_at, or the revocation of an expired session
    if account is None:
        return None
    return CurrentUser(account, session_id)


login_manager.login_view = "accounts.login"
login_manager.session_protection = "basic"


def sign_in(account: Account, user_agent: str = "") -> None:
    """Rotate: drop whatever the browser had, open a new server-side session. Only the
    chosen language survives (it is a preference, not a credential)."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session_id = accounts.open_web_session(db_session(), account, user_agent)
    login_user(CurrentUser(account, session_id))


def sign_out() -> None:
    if current_user.is_authenticated:
        accounts.close_web_session(db_session(), current_user.get_id())
    language = session.get("lang")
    logout_user()
    session.clear()
    if language:
        session["lang"] = language


def role_required(*roles: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def current() -> CurrentUser:
    return cast(CurrentUser, current_user._get_current_object())
