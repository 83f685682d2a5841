"""One commit point per web request.

Views, and the services they call, only add to the request's session (``db_session()``); the
transaction ends here, once per request, in one of two ways:

- ``after_request``: commit when the response is a success or a redirect (status < 400) and
  the view did not call ``discard()``; roll back otherwise (a form shown again with its errors,
  a refusal, a 404, an API error). It runs before the response leaves the process, so a browser
  that follows the redirect, or an API client that reads the answer, finds what was written. A
  commit that fails (a constraint the database checks at commit) raises here and the request
  answers 500, rolled back, as when a view's own commit failed.
- ``teardown``: close the session. What is still open then (an unhandled exception, which
  skips ``after_request`` under ``PROPAGATE_EXCEPTIONS``) is rolled back by the close.

GET requests go through the same point: a read writes nothing (tests/integration/test_query_guards.py)
except what a read must record, such as the audit of a disclosure of contact details, which the
commit keeps.

Work that must happen only after the commit is never done in a view: it is recorded in the
outbox in the same transaction, and the runtime's after-commit hook publishes it.

The only other commits in a request are ``commit_authentication()``: the sign-in check's own
writes, when it made any (a web session's or an API token's throttled "last used" touch, the
revocation of an expired session), are kept whatever the view then answers, and their row lock
is not held for the length of the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, g
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from panel_service.extensions import (
    READ_ONLY_SESSION,
    READS_ONLY,
    close_db_session,
    db_session,
    without_transaction,
)
from panel_service.services.accounts import SIGN_IN_WRITES, sign_in_check_wrote

_DISCARD = "db_discard"
_AUTHENTICATING = "panel.authenticating"
F = TypeVar("F", bound=Callable[..., Any])


class WriteInReadOnlyView(RuntimeError):
    """A view marked ``reads_only`` tried to write: a bug, answered 500 and written nowhere."""


def reads_only(view: F) -> F:
    """Mark a view whose GET writes nothing (the sign-in check's touch aside): its session runs
    without a transaction of its own (``extensions.db_session``). Put it directly under the
    route decorator. ``tests/integration/test_query_guards.py`` holds each such page to no
    write, and any write but the sign-in check's raises ``WriteInReadOnlyView`` before it is sent."""
    setattr(view, READS_ONLY, True)
    return view


def install(app: Flask) -> None:
    # Registered after the middleware: Flask runs after_request functions in reverse order, so
    # the commit comes first and the request log reports the status the client gets.
    app.after_request(_end_transaction)
    app.teardown_appcontext(close_db_session)
    factory = app.extensions["panel_runtime"].database.session_factory
    if not event.contains(factory, "before_flush", _refuse_flush):
        event.listen(factory, "before_flush", _refuse_flush)
        event.listen(factory, "do_orm_execute", _refuse_write)


def _writing_allowed(session: Session) -> bool:
    info = session.info
    return not info.get(READ_ONLY_SESSION) or bool(info.get(SIGN_IN_WRITES) or info.get(_AUTHENTICATING))


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not _writing_allowed(session) and (session.new or session.dirty or session.deleted):
        raise WriteInReadOnlyView("a view marked reads_only changed a row")


def _refuse_write(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and not _writing_allowed(state.session):
        raise WriteInReadOnlyView("a view marked reads_only sent a write")


def discard() -> None:
    """Keep nothing this request has written: roll back now, so that the page which says why
    reads the database as it was, and again at the end, whatever the status. For a view that
    answers a refused change with a redirect (< 400), which would otherwise be committed."""
    g.setdefault(_DISCARD, True)
    db_session().rollback()


def commit_authentication() -> None:
    """Commit the sign-in check's own writes at once (see the module's docstring). A check that
    wrote nothing (nearly every request: the touch is once per 5 minutes) leaves its read
    transaction open for the view instead: ending it would cost a COMMIT and a new BEGIN, two
    round trips, on every signed-in request and API call."""
    session = db_session()
    if sign_in_check_wrote(session):
        session.info[_AUTHENTICATING] = True
        try:
            session.commit()
        finally:
            session.info.pop(_AUTHENTICATING, None)
        without_transaction(session)


def _end_transaction(response: Response) -> Response:
    if "db_session" not in g:
        return response
    if response.status_code < 400 and not g.get(_DISCARD, False):
        db_session().commit()
    else:
        db_session().rollback()
    return response
