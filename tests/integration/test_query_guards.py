"""Guards on the SQL each main page and API list sends (issue 15), counted, never timed.

For every page: the number of statements does not grow with the number of rows it shows (2
rows and 20 rows cost the same), stays under a small absolute bound, and a GET writes nothing.
The one write a read may make is the throttled "last used" touch of an API token or a web
session: at most one per token or session per ``accounts.TOUCH_INTERVAL``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.extensions import limiter
from panel_service.models import ApiToken, WebSession
from panel_service.services import accounts, profiles
from panel_service.timeutil import as_utc, utcnow
from tests.conftest import make_test_settings
from tests.factories import add_condition, make_invitation
from tests.integration.coordinators.conftest import Staff, make_staff, study_in
from tests.integration.coordinators.test_web_pages import sign_in as staff_sign_in
from tests.support.queries import Statements, statements
from tests.support.services import redis_url_for_tests
from tests.support.volunteers import make_volunteer, recruiting_study
from tests.support.volunteers import sign_in as volunteer_sign_in


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app: Flask) -> None:
    with app.app_context():
        limiter.reset()


def read(client: FlaskClient, engine: Engine, path: str, headers: dict[str, str] | None = None) -> Statements:
    """GET ``path`` twice (the first may warm caches and make the throttled touch) and return
    the statements of the second, which must write nothing."""
    assert client.get(path, headers=headers).status_code == 200
    with statements(engine) as seen:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert seen.writes == [], f"GET {path} wrote:\n{seen}"
    return seen


def assert_flat(
    client: FlaskClient,
    engine: Engine,
    path: str,
    add_rows: Callable[[int], None],
    bound: int,
    headers: dict[str, str] | None = None,
) -> None:
    add_rows(2)
    few = read(client, engine, path, headers)
    add_rows(18)
    many = read(client, engine, path, headers)
    assert many.count == few.count, f"2 rows: {few.count}, 20 rows: {many.count} statements:\n{many}"
    assert many.count <= bound, f"{many.count} statements (at most {bound}):\n{many}"


@pytest.fixture()
def coordinator(db: Session) -> Staff:
    return make_staff(db, "coordinator", "Aarhus Sleep Clinic")


@pytest.fixture()
def reviewer(db: Session) -> Staff:
    return make_staff(db, "reviewer")


def studies_of(db: Session, coordinator: Staff, reviewer: Staff) -> Callable[[int], None]:
    """Adds studies in turn recruiting (active version with its approval) and drafts."""

    def add(count: int) -> None:
        for number in range(count):
            study_in(db, coordinator, reviewer, "recruiting" if number % 2 == 0 else "draft")

    return add


def test_coordinator_study_page(
    client: FlaskClient, db: Session, engine: Engine, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    staff_sign_in(client, db, settings, coordinator)
    # The web session, then the page of studies with both versions, their approvals and the
    # total in one statement.
    assert_flat(client, engine, "/coordinators/studies", studies_of(db, coordinator, reviewer), bound=2)


@pytest.mark.parametrize("who", ["coordinator", "reviewer"])
def test_api_study_list(
    client: FlaskClient, db: Session, engine: Engine, coordinator: Staff, reviewer: Staff, who: str
) -> None:
    headers = (coordinator if who == "coordinator" else reviewer).headers
    add = studies_of(db, coordinator, reviewer)
    # The token with its account and the page (studies, both versions, approvals, total) in one
    # statement (two on SQLite, which has no LATERAL). The criteria text is kept per version, so
    # the question catalogue is read only by the first request that shows a version (``read``
    # sends one unmeasured request first).
    one = 1 if engine.dialect.name == "postgresql" else 2
    assert_flat(client, engine, "/api/v1/studies?per_page=50", add, bound=one, headers=headers)
    # Paging the schema reads (a leading zero): the token, then the page.
    assert_flat(client, engine, "/api/v1/studies?per_page=050", add, bound=2, headers=headers)


def test_review_queue(
    client: FlaskClient, db: Session, engine: Engine, settings: Settings, coordinator: Staff, reviewer: Staff
) -> None:
    staff_sign_in(client, db, settings, reviewer)

    def add(count: int) -> None:
        for _ in range(count):
            study_in(db, coordinator, reviewer, "in_review")

    assert_flat(client, engine, "/review/", add, bound=3)  # + the question catalogue, read once


def test_admin_staff_page(client: FlaskClient, db: Session, engine: Engine, settings: Settings) -> None:
    admin = make_staff(db, "admin")
    staff_sign_in(client, db, settings, admin)

    def add(count: int) -> None:
        for _ in range(count):
            number = len(db.scalars(select(ApiToken)).all())
            make_staff(db, "coordinator", f"Organisation {number}")  # each in an organisation of its own

    assert_flat(client, engine, "/admin/staff", add, bound=3)


def test_volunteer_dashboard_and_profile(
    client: FlaskClient, db: Session, engine: Engine, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    volunteer_sign_in(client, "vera@example.org")
    assert client.get("/me/profile").status_code == 200

    def add(count: int) -> None:
        for number in range(count):
            make_invitation(db, recruiting_study(db, title=f"Study {number}"), participant.id)

    # One statement: the sign-in check (web session, account, participant) also reads the
    # profile, the contact state, the studies recruiting today and every invitation
    # (``web.auth.read_with_sign_in``). The words of versions not shown yet by this process are
    # one more, which ``read``'s unmeasured first request takes.
    assert_flat(client, engine, "/me", add, bound=1)
    assert read(client, engine, "/me/profile").count <= 6


def test_dashboard_loads_the_profile_once(
    client: FlaskClient, db: Session, engine: Engine, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    profile = profiles.get_or_create_profile(db, participant)
    profile.medications_answered = True
    profile.medication_codes = []
    add_condition(db, participant.id, "G2581")
    volunteer_sign_in(client, "vera@example.org")
    make_invitation(db, recruiting_study(db), participant.id)
    seen = read(client, engine, "/me")
    # One statement reads the profile, its lists, its answers and the contact state (the sign-in
    # check's, widened for the dashboard: ``queries.matching``).
    for table in ("profiles", "profile_conditions", "profile_medications", "profile_answers"):
        reads = [sql for sql in seen.sql if f"FROM {table} " in sql + " " or f"JOIN {table} " in sql]
        assert len(reads) == 1, f"{table} read {len(reads)} times:\n{seen}"
    assert (
        len({sql for sql in seen.sql for table in ("profiles", "profile_answers") if f" {table} " in sql})
        == 1
    ), f"the profile and the answers in more than one statement:\n{seen}"


def test_dashboard_reads_invitations_and_recruiting_studies_once(
    client: FlaskClient, db: Session, engine: Engine, settings: Settings
) -> None:
    """The invitations shown and the studies already inviting (which the questions' count leaves
    out) come from one statement; the studies recruiting today come with the profile, so the
    questions' count reads no criteria of its own once the versions were seen."""
    _account, participant = make_volunteer(db, settings)
    profile = profiles.get_or_create_profile(db, participant)
    profile.medications_answered = True
    profile.medication_codes = []
    volunteer_sign_in(client, "vera@example.org")
    for number in range(3):
        study = recruiting_study(db, title=f"Study {number}")
        if number:
            make_invitation(db, study, participant.id)
    for view in ("first", "again"):
        seen = read(client, engine, "/me")
        # Every invitation comes with the profile: one statement reads both.
        invitations = [sql for sql in seen.sql if "FROM invitations" in sql]
        assert len(invitations) == 1, f"invitations read {len(invitations)} times:\n{seen}"
        assert "JOIN profiles" in invitations[0] and "FROM web_sessions" in invitations[0], str(seen)
        # The sections' prompt and the questions' count share the recruiting studies read with the
        # profile; the criteria and words of versions not seen yet in this process are read
        # once (a statement each), then never again.
        criteria = [sql for sql in seen.sql if "study_versions.criteria" in sql]
        assert len(criteria) <= (2 if view == "first" else 0), (
            f"{view}: criteria read {len(criteria)} times:\n{seen}"
        )
    # The web session's statement brings the participant and the rest: one statement in all
    # (SQLite has no catalogue stamp: the questions' count reads the catalogue there).
    assert seen.count == (1 if engine.dialect.name == "postgresql" else 2), str(seen)


def test_public_home_page(client: FlaskClient, db: Session, engine: Engine) -> None:
    def add(count: int) -> None:
        for number in range(count):
            recruiting_study(db, title=f"Study {number}")

    assert_flat(client, engine, "/", add, bound=1)


def test_api_token_last_used_is_written_once_per_interval(
    client: FlaskClient, db: Session, engine: Engine, coordinator: Staff
) -> None:
    token = db.scalars(select(ApiToken).where(ApiToken.account_id == coordinator.account.id)).one()
    assert token.last_used_at is None
    with statements(engine) as first:
        assert client.get("/api/v1/studies", headers=coordinator.headers).status_code == 200
    assert [sql for sql in first.writes if "api_tokens" in sql] == [sql for sql in first.writes], str(first)
    assert len(first.writes) == 1
    db.refresh(token)
    assert token.last_used_at is not None
    for _ in range(3):
        with statements(engine) as again:
            assert client.get("/api/v1/studies", headers=coordinator.headers).status_code == 200
        assert again.writes == [], str(again)
    # Once the interval has passed, the next use records itself again.
    token.last_used_at = utcnow() - accounts.TOUCH_INTERVAL - dt.timedelta(seconds=1)
    db.flush()
    with statements(engine) as later:
        assert client.get("/api/v1/studies", headers=coordinator.headers).status_code == 200
    assert len(later.writes) == 1
    db.refresh(token)
    assert token.last_used_at is not None
    assert utcnow() - as_utc(token.last_used_at) < dt.timedelta(minutes=1)


def test_web_session_last_seen_is_written_once_per_interval(
    client: FlaskClient, db: Session, engine: Engine, settings: Settings
) -> None:
    account, _participant = make_volunteer(db, settings)
    volunteer_sign_in(client, "vera@example.org")
    web_session = db.scalars(select(WebSession).where(WebSession.account_id == account.id)).one()
    with statements(engine) as fresh:
        assert client.get("/me").status_code == 200
    assert fresh.writes == [], str(fresh)
    web_session.last_seen_at = utcnow() - accounts.TOUCH_INTERVAL - dt.timedelta(seconds=1)
    db.flush()
    with statements(engine) as stale:
        assert client.get("/me").status_code == 200
    assert len(stale.writes) == 1 and "web_sessions" in stale.writes[0], str(stale)
    with statements(engine) as touched:
        assert client.get("/me").status_code == 200
    assert touched.writes == [], str(touched)


@pytest.mark.redis
def test_healthz_reuses_one_broker_connection(settings: Settings, tmp_path: Path) -> None:
    """``/healthz`` pings the broker over a connection kept by the process, not a new one per
    request: Redis lists the same single client (same id) after every check."""
    import redis

    from panel_service import create_app
    from panel_service.web.public.views import HEALTH_CACHE, HEALTH_CLIENT_NAME, HealthCache

    url = redis_url_for_tests()
    app = create_app(
        make_test_settings(settings.database_url, tmp_path, celery_broker_url=url),
        start_background_jobs=False,
    )
    app.extensions[HEALTH_CACHE] = HealthCache(seconds=0)  # every request checks
    observer = redis.Redis.from_url(url)
    db_number = int(url.rsplit("/", 1)[1])

    def health_clients() -> list[int]:
        return [
            int(client["id"])
            for client in observer.client_list()
            if client.get("name") == HEALTH_CLIENT_NAME and int(client["db"]) == db_number
        ]

    try:
        seen: list[list[int]] = []
        for _ in range(5):
            response = app.test_client().get("/healthz")
            assert response.status_code == 200 and response.json["checks"]["broker"] == "ok"
            seen.append(health_clients())
        assert len(seen[0]) == 1, seen
        assert all(ids == seen[0] for ids in seen), seen
    finally:
        observer.close()
        app.extensions["panel_runtime"].close()
