"""Who is asking: web users through Flask-Login over server-side sessions, roles for views."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, current_app, request, session
from flask_login import UserMixin, current_user, login_user, logout_user

from panel_service.extensions import db_session, login_manager, settings
from panel_service.models import Account, Participant
from panel_service.services import accounts, participants
from panel_service.web.transaction import commit_authentication

F = TypeVar("F", bound=Callable[..., Any])


class CurrentUser(UserMixin):
    """The logged-in account. ``get_id`` returns the server-side session id, so revoking the
    session row logs the browser out at its next request."""

    def __init__(
        self, account: Account, session_id: str, participant: Participant | None = None, read: Any = None
    ) -> None:
        self.account_id = account.id
        self.email = account.email
        self.role = account.role
        self.organisation_id = account.organisation_id
        self.session_id = session_id
        # Held so that the session's (weak) identity map keeps the row loaded with the web
        # session: ``account()`` then finds it without a second SELECT in the same request.
        self._loaded = account
        # The participant row read with the web session (None for staff, or when the user was
        # built without it, as at sign-in): ``participant()`` then needs no statement of its own.
        self._participant = participant
        # The row of the sign-in check's statement, with the columns the page asked it to read
        # too (``read_with_sign_in``); None when the page asked for none.
        self.read = read

    def get_id(self) -> str:
        return self.session_id

    def account(self) -> Account:
        found = accounts.get_account(db_session(), self.account_id)
        if found is None:
            abort(401)
        return found

    def participant(self) -> Participant:
        """The volunteer's participant row (``participants.participant_for``'s answer: Forbidden
        when there is none or it was erased), from the sign-in check's own statement when it
        came with it."""
        if self._participant is not None:
            return participants.usable_participant(self._participant)
        return participants.participant_for(db_session(), self.account_id)


@login_manager.user_loader
def _load_user(session_id: str) -> CurrentUser | None:
    widening = getattr(current_app.view_functions.get(request.endpoint or ""), SIGN_IN_READS, None)
    if widening is None:
        found = accounts.web_session_account(settings(), db_session(), session_id)
    else:
        widen, params = widening
        found = accounts.web_session_account(settings(), db_session(), session_id, widen, params())
    commit_authentication()  # persists last_seen_at, or the revocation of an expired session
    if found is None:
        return None
    account, participant, row = found
    return CurrentUser(account, session_id, participant, row if widening is not None else None)


SIGN_IN_READS = "_panel_sign_in_reads"


def read_with_sign_in(widen: accounts.Widen, params: Callable[[], Mapping[str, Any]]) -> Callable[[F], F]:
    """Mark a view whose page reads more about the signed-in volunteer: the sign-in check's own
    statement reads it too (``accounts.web_session_account``'s ``widen``), one round trip
    instead of two, and the view finds the row in ``current().read``. Put it directly under the
    route decorator (or ``reads_only``). The check itself is unchanged: a signed-out, expired or
    disabled session is refused as before, whatever the columns added."""

    def mark(view: F) -> F:
        setattr(view, SIGN_IN_READS, (widen, params))
        return view

    return mark


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
