"""The foundation: migrations match the models, the app answers, settings fail clearly."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.settings import SettingsError, load_settings
from panel_service import outbox
from panel_service.db import Base
from panel_service.models import Invitation, OutboxMessage, Participant, Profile
from panel_service.models.types import include_object_on
from panel_service.runtime import Runtime
from tests.factories import make_study_version


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": include_object_on(connection.dialect.name)},
        )
        assert compare_metadata(context, Base.metadata) == []


def test_healthz_reports_database_and_in_process_jobs(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "broker": "in-process"}}


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from panel_service import create_app
    from tests.conftest import make_test_settings

    settings = make_test_settings("postgresql://nobody@127.0.0.1:1/none", tmp_path)
    app = create_app(settings, start_background_jobs=False)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["checks"]["database"].startswith("error")


def test_metrics_count_requests(client) -> None:  # type: ignore[no-untyped-def]
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'panel_http_requests_total{endpoint="public.healthz",method="GET",status="200"}' in body
    assert "panel_http_request_duration_seconds_bucket" in body


def test_security_headers_and_request_id(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert len(response.headers["X-Request-ID"]) >= 8


def test_home_page_says_what_panel_is(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/").get_data(as_text=True)
    assert "Take part in health research" in page
    assert "Institutional Review Boards" in page


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("DATABASE_URL", "mysql://x@y/z", "DATABASE_URL"),
        ("SMTP_PORT", "twenty-five", "SMTP_PORT"),
        ("SMTP_PORT", "70000", "SMTP_PORT"),
        ("PANEL_TIMEZONE", "Mars/Olympus", "PANEL_TIMEZONE"),
        ("PANEL_BASE_URL", "panel.example.org", "PANEL_BASE_URL"),
    ],
)
def test_bad_settings_name_the_variable(variable: str, value: str, named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(environ={variable: value})


def test_production_refuses_default_secret_and_sqlite() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings(environ={"PANEL_ENV": "production", "DATABASE_URL": "postgresql://u@h/db"})
    with pytest.raises(SettingsError, match="SQLite"):
        load_settings(environ={"PANEL_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48)})


def test_postgresql_urls_work_as_given() -> None:
    settings = load_settings(environ={"DATABASE_URL": "postgresql://user@db.internal/panel"})
    assert settings.database_url == "postgresql+psycopg://user@db.internal/panel"
    assert load_settings(environ={}).database_url.endswith("instance/panel.sqlite3")


def test_invitation_is_unique_per_study_and_participant(db: Session) -> None:
    version = make_study_version(db)
    participant = Participant(name="A")
    db.add(participant)
    db.flush()
    db.add(Invitation(study_id=version.study_id, participant_id=participant.id, study_version_id=version.id))
    db.flush()
    with pytest.raises(IntegrityError), db.begin_nested():
        db.add(
            Invitation(study_id=version.study_id, participant_id=participant.id, study_version_id=version.id)
        )
        db.flush()


def test_male_cannot_be_stored_pregnant(db: Session) -> None:
    participant = Participant(name="B")
    db.add(participant)
    db.flush()
    with pytest.raises(IntegrityError), db.begin_nested():
        db.add(Profile(participant_id=participant.id, sex="male", pregnant=True))
        db.flush()


def test_outbox_dedup_key_records_work_once(db: Session) -> None:
    first = outbox.enqueue(db, "outbox.purge", {}, dedup_key="once")
    second = outbox.enqueue(db, "outbox.purge", {}, dedup_key="once")
    assert first is not None and second is None
    assert db.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == "once")) == first.id


def test_outbox_rows_run_after_commit_and_only_once(committed_runtime: Runtime) -> None:
    with committed_runtime.database.session_scope() as session:
        message = outbox.enqueue(session, "outbox.purge", {"keep_days": 1})
        assert message is not None
    relay = committed_runtime.relay
    assert relay.publish_due() == 1  # runs it in-process and marks it done
    assert relay.publish_due() == 0
    with committed_runtime.database.session_scope() as session:
        row = session.get(OutboxMessage, message.id)
        assert row is not None and row.completed_at is not None and row.publish_count == 1


def test_outbox_row_of_rolled_back_transaction_never_runs(committed_runtime: Runtime) -> None:
    session = committed_runtime.database.session()
    outbox.enqueue(session, "outbox.purge", {})
    session.rollback()
    session.close()
    assert committed_runtime.relay.publish_due() == 0


def test_delayed_outbox_row_waits(committed_runtime: Runtime) -> None:
    with committed_runtime.database.session_scope() as session:
        outbox.enqueue(session, "outbox.purge", {}, delay=dt.timedelta(hours=1))
    assert committed_runtime.relay.publish_due() == 0


def test_a_failing_job_backs_off_instead_of_spinning(committed_runtime: Runtime) -> None:
    with committed_runtime.database.session_scope() as session:
        message = outbox.enqueue(session, "no.such_job", {})
        assert message is not None
    assert committed_runtime.relay.publish_due() == 1  # runs once, fails, is released with a backoff
    assert committed_runtime.relay.publish_due() == 0  # not again straight away
    with committed_runtime.database.session_scope() as session:
        row = session.get(OutboxMessage, message.id)
        assert row is not None and row.completed_at is None and row.publish_count == 1
        # The error's type only (messages may carry personal data); one failed attempt counted.
        assert row.last_error == "LookupError" and row.attempts == 1 and row.dead_at is None
