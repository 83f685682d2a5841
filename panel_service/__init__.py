"""Panel: research-panel participant matching service."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from config.settings import Settings
    from panel_service.runtime import Runtime


def create_app(settings: Settings | None = None, *, start_background_jobs: bool | None = None) -> Flask:
    """The web app: settings (from the environment unless given), extensions, middleware and
    blueprints. Background jobs run in a thread of this process only when the settings ask for
    it (the embedded default) and this is not a test, unless ``start_background_jobs`` says."""
    # Imported here, not at the top: every worker, CLI command and domain test imports the
    # ``panel_service`` package, and none of them should load Flask and the web layer for it.
    import datetime as dt

    from apiflask import APIFlask
    from flask_babel import get_locale
    from werkzeug.middleware.proxy_fix import ProxyFix

    from config.logging import configure_logging
    from config.settings import load_settings
    from panel_service import extensions
    from panel_service.runtime import Runtime
    from panel_service.services import accounts
    from panel_service.web import register_blueprints, transaction
    from panel_service.web.dates import register_date_filters
    from panel_service.web.health import HealthProbe
    from panel_service.web.i18n import region_in_page_language
    from panel_service.web.input import BoundedIntConverter, SafeJSONProvider
    from panel_service.web.middleware import install_middleware

    settings = settings or load_settings()
    configure_logging(settings)
    app = APIFlask(
        __name__,
        title="Panel API",
        version="1.0.0",
        spec_path="/api/v1/openapi.json",
        # The bundled Swagger page loads scripts from a CDN and inline, which the CSP (and the
        # no-CDN rule) forbid; the OpenAPI document itself is served at spec_path.
        docs_path=None,
        json_errors=False,
        instance_path=str(settings.instance_path.resolve()),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        PANEL_SETTINGS=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env == "production",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        MAX_CONTENT_LENGTH=10 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which expires anyway
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        BABEL_DEFAULT_LOCALE="en",
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        TESTING=settings.env == "test",
        # The OpenAPI document names the configured address, never one derived from a request's
        # Host header (which a client chooses, and which APIFlask would cache for every later reader).
        SERVERS=[{"url": settings.base_url.rstrip("/")}],
        AUTO_SERVERS=False,
    )
    app.url_map.converters["int"] = BoundedIntConverter
    app.json = SafeJSONProvider(app)
    runtime = Runtime(settings)
    accounts.prepare_password_checks(settings)
    app.extensions["panel_runtime"] = runtime
    if settings.is_sqlite:
        _migrate_embedded_database(runtime)

    extensions.csrf.init_app(app)
    extensions.login_manager.init_app(app)
    extensions.limiter.init_app(app)
    extensions.babel.init_app(app, locale_selector=_select_locale)
    install_middleware(app)
    transaction.install(app)
    if settings.proxy_hops:
        # Believe exactly as many X-Forwarded-For entries as there are proxies of ours, so that
        # remote_addr is the client (throttles, /metrics) and a client cannot forge its own.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )
    register_blueprints(app)
    # Outermost: a probe is answered before ProxyFix and Flask (it reads no client address).
    app.wsgi_app = HealthProbe(app, app.wsgi_app)  # type: ignore[method-assign]
    register_date_filters(app)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["region"] = region_in_page_language

    if start_background_jobs is None:
        start_background_jobs = settings.jobs_in_process and settings.env != "test"
    if start_background_jobs and settings.jobs_in_process:
        runtime.relay.start()  # type: ignore[attr-defined]
    return app


def _migrate_embedded_database(runtime: Runtime) -> None:
    """The embedded default migrates its SQLite file on first start (product contract §7)."""
    from panel_service.migrate import upgrade

    upgrade(runtime.database.engine)


def _select_locale() -> str | None:
    from panel_service.web.i18n import select_locale

    return select_locale()
