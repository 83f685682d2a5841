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

from flask import Flask, Response, g

from panel_service.extensions import close_db_session, db_session
from panel_service.services.accounts import sign_in_check_wrote

_DISCARD = "db_discard"


def install(app: Flask) -> None:
    # Registered after the middleware: Flask runs after_request functions in reverse order, so
    # the commit comes first and the request log reports the status the client gets.
    app.after_request(_end_transaction)
    app.teardown_appcontext(close_db_session)


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
        session.commit()


def _end_transaction(response: Response) -> Response:
    if "db_session" not in g:
        return response
    if response.status_code < 400 and not g.get(_DISCARD, False):
        db_session().commit()
    else:
        db_session().rollback()
    return response
