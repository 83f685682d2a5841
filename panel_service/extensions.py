"""Unbound Flask extensions and the per-request session, bound in ``create_app``."""

from __future__ import annotations

from typing import cast

from flask import current_app, g, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.runtime import Runtime

csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
babel = Babel()


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["panel_runtime"])


def settings() -> Settings:
    return runtime().settings


# Marks a view that only reads (``web.transaction.reads_only``), and the session of such a request.
READS_ONLY = "_panel_reads_only"
READ_ONLY_SESSION = "panel.read_only"


def db_session() -> Session:
    """The request's session: opened on first use, closed (rolled back if uncommitted) at teardown.

    For a GET or HEAD of a view marked ``reads_only`` on PostgreSQL, the session's connection runs
    in autocommit: each statement is its own transaction, so the request sends no ``BEGIN`` and
    no ``COMMIT`` (two of a list's four round trips). Under READ COMMITTED every statement sees
    its own snapshot either way, and such a request writes nothing but the sign-in check's touch,
    which is committed at once anyway (``web.transaction`` refuses any other write). A session
    bound to a connection that is already in a transaction (the test harness's) is left as is.
    """
    if "db_session" not in g:
        session = runtime().database.session()
        g.db_session = session
        if request.method in ("GET", "HEAD") and getattr(
            current_app.view_functions.get(request.endpoint or ""), READS_ONLY, False
        ):
            bind = session.get_bind()
            if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
                session.info[READ_ONLY_SESSION] = True
                without_transaction(session)
    return cast(Session, g.db_session)


def without_transaction(session: Session) -> None:
    """Hold a read-only request's session on a connection in autocommit (again, after the sign-in
    check's commit handed its connection back)."""
    if session.info.get(READ_ONLY_SESSION):
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def close_db_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
