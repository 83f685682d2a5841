"""Shared fixtures.

The backend comes from PANEL_TEST_DATABASE (``postgresql``, the default, or ``sqlite``):
one fresh database per test run with migrations applied, and a savepoint rolled back after
every test. Tests that need other processes to see their data (a live worker, a CLI
subprocess) use ``committed_runtime`` instead, which commits for real and truncates after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from config.settings import Settings, load_settings
from panel_service import create_app
from panel_service.db import Base
from panel_service.mail import Mailer
from panel_service.migrate import load_question_seed, upgrade
from panel_service.runtime import Runtime
from tests.support.services import SmtpRecorder, empty_engine, smtp_server

BACKEND = os.environ.get("PANEL_TEST_DATABASE", "postgresql")

# Speed is measured in bench/, never asserted by a test: Hypothesis's per-example deadline is a
# timing assertion that fails on a loaded machine, so it is off unless a test sets its own.
hypothesis_settings.register_profile("panel", deadline=None)
hypothesis_settings.load_profile("panel")


def pytest_report_header() -> str:
    return f"panel test database backend: {BACKEND}"


def make_test_settings(database_url: str, instance_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "instance_path": instance_path,
        "secret_key": "test-secret-key-0123456789abcdef",
        "base_url": "http://127.0.0.1:5000",
        # Cheap hashing keeps the suite fast; production uses the OWASP minimum.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return load_settings(environ={}, **values)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with empty_engine(BACKEND, tmp_path_factory.mktemp("sqlite"), "panel_test") as engine:
        upgrade(engine)
        yield engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_test_settings(database_url, tmp_path_factory.mktemp("instance"))


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings, start_background_jobs=False)
    yield application
    application.extensions["panel_runtime"].close()


@pytest.fixture(scope="session")
def runtime(app: Flask) -> Runtime:
    """The app's runtime: tests, requests and jobs share one engine and one relay."""
    return app.extensions["panel_runtime"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def engine(runtime: Runtime) -> Engine:
    return runtime.database.engine


@pytest.fixture()
def db(runtime: Runtime) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test. Every session
    the code under test opens (requests, services, jobs) joins the same connection and turns
    its commits into savepoints."""
    connection = runtime.database.engine.connect()
    outer = connection.begin()
    factory = runtime.database.session_factory
    factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    session = factory()
    try:
        yield session
    finally:
        session.close()
        factory.configure(bind=runtime.database.engine, join_transaction_mode="conditional_savepoint")
        outer.rollback()
        connection.close()


@pytest.fixture()
def client(app: Flask, db: Session) -> Iterator[FlaskClient]:
    """A test client whose requests run inside the test's rolled-back transaction."""
    with app.test_client() as test_client:
        yield test_client


def truncate_all(engine: Engine) -> None:
    """Empty every table, the insert-only ``audit_events`` included (migration 0002): on
    PostgreSQL with ``session_replication_role = replica``, which skips ordinary triggers and
    which only a superuser (the test harness, never the application's role) may set; on SQLite
    by dropping its triggers and creating them again in the same transaction."""
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            triggers = connection.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
                )
            ).all()
            for name, _sql in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            # studies and study_versions reference each other; check at commit, when both are empty
            connection.execute(text("PRAGMA defer_foreign_keys = ON"))
            for name in tables:
                connection.execute(text(f"DELETE FROM {name}"))
            for _name, sql in triggers:
                connection.execute(text(sql))
    # The shipped question catalogue is reference data that `panel db upgrade` loads: put it back.
    with engine.begin() as connection:
        load_question_seed(connection)


@pytest.fixture()
def committed_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """The session runtime with real commits; every table is emptied afterwards."""
    truncate_all(runtime.database.engine)
    yield runtime
    truncate_all(runtime.database.engine)


@pytest.fixture()
def smtp(runtime: Runtime) -> Iterator[SmtpRecorder]:
    """A real SMTP server for this test; the runtime's mailer sends to it (configuration, not a
    patch)."""
    with smtp_server() as recorder:
        original = runtime.mailer
        runtime.mailer = Mailer(
            runtime.settings.model_copy(update={"smtp_host": recorder.host, "smtp_port": recorder.port})
        )
        try:
            yield recorder
        finally:
            runtime.mailer = original
