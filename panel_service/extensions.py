"""Unbound Flask extensions and the per-request session, bound in ``create_app``."""

from __future__ import annotations

from typing import cast

from flask import current_app, g
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect
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


def db_session() -> Session:
    """The request's session: opened on first use, closed (rolled back if uncommitted) at teardown."""
    if "db_session" not in g:
        g.db_session = runtime().database.session()
    return cast(Session, g.db_session)


def close_db_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
