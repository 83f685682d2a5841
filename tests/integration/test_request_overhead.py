"""What every request no longer pays for (issue 15, web rows), each kept honest.

- A pooled PostgreSQL connection is pinged before use only when it may be dead (idle for a while,
  or its socket readable with no statement running); one the server closed is replaced.
- ``/healthz`` answers from its last check for ``HEALTH_CACHE_SECONDS``, then checks again.
- The sign-in check commits only when it wrote (the throttled touch), not on every request.
- The question catalogue is parsed once per set of stored rows, and a change is seen at once.
- The study list's total rides on the page's rows, and is still right past the last page.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text, update
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service import db as db_module
from panel_service.domain.criteria import parse_json, to_text
from panel_service.services import questions, studies
from panel_service.timeutil import utcnow
from tests.conftest import make_test_settings
from tests.integration.coordinators.conftest import Staff, make_staff, study_fields, study_in
from tests.support.queries import statements
from tests.support.services import redis_url_for_tests


@pytest.fixture()
def coordinator(db: Session) -> Staff:
    return make_staff(db, "coordinator", "Odense Heart Unit")


@pytest.fixture()
def reviewer(db: Session) -> Staff:
    return make_staff(db, "reviewer")


# --- the pool's check on checkout ----------------------------------------------------------


def _admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _last_query(url: str, pid: int) -> str:
    with _admin(url) as admin:
        row = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    assert row is not None, f"backend {pid} is gone"
    return str(row[0])


@pytest.mark.postgres
def test_a_recently_used_connection_is_handed_out_without_a_ping(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's own record of each backend's last statement shows whether the pool pinged."""
    engine = db_module.make_engine(settings.database_url)
    try:
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        # Returned to the pool: its transaction was rolled back, the last thing it was sent.
        assert _last_query(settings.database_url, pid) == "ROLLBACK"
        with engine.connect() as connection:
            # Handed out again (the pool's only connection) with nothing sent: no ping.
            assert _last_query(settings.database_url, pid) == "ROLLBACK"
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
        # Once idle for longer than the limit (here: any time at all), the next checkout pings.
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        with engine.connect() as connection:
            # The ping is the last thing the backend was sent (SQLAlchemy's psycopg dialect
            # pings with an empty statement, ";").
            assert _last_query(settings.database_url, pid) != "ROLLBACK"
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_the_server_closed_is_replaced_without_an_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db_module.make_engine(settings.database_url)
    try:
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)  # only the socket can tell
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with _admin(settings.database_url) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
            # pg_terminate_backend only signals: wait until the backend has gone. A statement sees
            # one snapshot of pg_stat_activity per transaction, so each look is its own statement
            # (autocommit) and the wait is bounded.
            for _ in range(1000):
                if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None:
                    break
                time.sleep(0.01)
            else:
                pytest.fail(f"backend {pid} still listed 10 s after pg_terminate_backend")
        with engine.connect() as connection:
            replacement = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert replacement != pid
    finally:
        engine.dispose()


# --- /healthz -------------------------------------------------------------------------------


@contextmanager
def _health_app(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    from panel_service import create_app

    app = create_app(
        make_test_settings(settings.database_url, tmp_path, celery_broker_url=redis_url_for_tests()),
        start_background_jobs=False,
    )
    try:
        yield app
    finally:
        app.extensions["panel_runtime"].close()


@pytest.mark.redis
def test_healthz_answers_from_its_last_check_until_it_is_stale(settings: Settings, tmp_path: Path) -> None:
    from panel_service.web.public.views import HEALTH_CACHE, HealthCache

    with _health_app(settings, tmp_path) as app:
        engine = app.extensions["panel_runtime"].database.engine
        app.extensions[HEALTH_CACHE] = HealthCache(seconds=3600)
        with statements(engine) as first:
            response = app.test_client().get("/healthz")
        assert response.status_code == 200
        assert response.json == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
        assert "SELECT 1" in first.sql  # (SQLite also sends its BEGIN)
        with statements(engine) as second:
            again = app.test_client().get("/healthz")
        assert (again.status_code, again.json) == (200, response.json)
        assert second.sql == []
        app.extensions[HEALTH_CACHE] = HealthCache(seconds=0)
        for _ in range(2):
            with statements(engine) as stale:
                assert app.test_client().get("/healthz").status_code == 200
            assert "SELECT 1" in stale.sql


@pytest.mark.redis
def test_healthz_is_answered_ahead_of_flask_as_the_view_would(settings: Settings, tmp_path: Path) -> None:
    """The WSGI wrapper answers ``/healthz`` without Flask's dispatch (no request hook runs),
    with the body, status and headers the view and the app's middleware gave it."""
    from werkzeug.test import Client

    from panel_service.web.health import HealthProbe

    with _health_app(settings, tmp_path) as app:
        dispatched: list[str] = []
        app.before_request(lambda: dispatched.append("flask") and None)
        assert isinstance(app.wsgi_app, HealthProbe)
        fast = app.test_client().get("/healthz", headers={"X-Request-ID": "probe-12345"})
        assert dispatched == []
        # The same app with Flask's own view answering (the wrapper taken off).
        via_flask = Client(app.wsgi_app.wrapped).get("/healthz", headers={"X-Request-ID": "probe-12345"})
        assert dispatched == ["flask"]
        assert (fast.status_code, fast.get_data()) == (via_flask.status_code, via_flask.get_data())
        assert fast.json == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
        for name in (
            "Content-Type",
            "X-Request-ID",
            "Content-Security-Policy",
            "X-Content-Type-Options",
            "X-Frame-Options",
            "Referrer-Policy",
            "Permissions-Policy",
        ):
            assert fast.headers.get(name) == via_flask.headers.get(name), name
        assert fast.headers["X-Request-ID"] == "probe-12345"
        assert "Cache-Control" not in fast.headers and "Set-Cookie" not in fast.headers
        head = app.test_client().head("/healthz")
        assert (head.status_code, head.get_data(), len(head.headers["X-Request-ID"])) == (200, b"", 32)
        # Anything but GET or HEAD is Flask's to answer, as before.
        assert app.test_client().post("/healthz").status_code == 405
        assert app.test_client().get("/healthz/extra").status_code == 404


def test_healthz_ahead_of_flask_is_503_with_the_same_body_when_the_database_does_not_answer(
    tmp_path: Path,
) -> None:
    from werkzeug.test import Client

    from panel_service import create_app

    app = create_app(
        make_test_settings("postgresql://nobody@127.0.0.1:1/none", tmp_path), start_background_jobs=False
    )
    try:
        fast = app.test_client().get("/healthz")
        via_flask = Client(app.wsgi_app.wrapped).get("/healthz")  # type: ignore[attr-defined]
        assert fast.status_code == via_flask.status_code == 503
        assert fast.get_data() == via_flask.get_data()
        assert fast.json["checks"]["database"].startswith("error")
    finally:
        app.extensions["panel_runtime"].close()


# --- the sign-in check's commit -------------------------------------------------------------


@contextmanager
def _commits(engine: Engine) -> Iterator[list[str]]:
    """The transaction ends a request makes. Under the test harness a session's commit is the
    release of its savepoint."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("RELEASE SAVEPOINT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def _steps(engine: Engine) -> Iterator[list[str]]:
    """What a request sends, in order: ``touch`` (the token's last-used write), ``commit`` (under
    the test harness, the release of the session's savepoint), ``read`` (anything else)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sql = statement.lstrip().upper()
        if sql.startswith("RELEASE SAVEPOINT"):
            seen.append("commit")
        elif sql.startswith("UPDATE API_TOKENS"):
            seen.append("touch")
        elif not sql.startswith(("SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            seen.append("read")

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


# The list's one statement (token and page) and the way every other operation takes (the token
# checked, then the page; here because the schema must read a leading zero).
@pytest.mark.parametrize("query", ["", "?page=01"])
def test_the_sign_in_check_commits_only_when_it_wrote(
    client: FlaskClient, engine: Engine, coordinator: Staff, query: str
) -> None:
    # First use of the token: the touch is committed at once, nothing sent in between; the list's
    # own way reads the page before the touch, the checked way after it (its own transaction).
    with _commits(engine) as touched, statements(engine) as seen, _steps(engine) as steps:
        assert client.get(f"/api/v1/studies{query}", headers=coordinator.headers).status_code == 200
    assert len(seen.writes) == 1, str(seen)
    assert steps[steps.index("touch") + 1] == "commit", steps
    assert len(touched) == (2 if query else 1), steps
    # Within the touch interval nothing is written: one transaction for the whole request.
    with _commits(engine) as untouched, statements(engine) as seen, _steps(engine) as steps:
        assert client.get(f"/api/v1/studies{query}", headers=coordinator.headers).status_code == 200
    assert seen.writes == [], str(seen)
    assert len(untouched) == 1 and steps[-1] == "commit", steps


# --- the question catalogue and the criteria text -------------------------------------------

OWNS_DOG = {
    "key": "owns_dog",
    "type": "boolean",
    "section": "daily_life",
    "wording": {"en": "Do you have a dog?"},
}


def test_the_catalogue_is_built_once_per_set_of_stored_rows(db: Session) -> None:
    first = questions.fresh_catalogue(db)
    # Another request (here: the session's own cache dropped) reads the rows again and finds
    # the catalogue already built from them.
    assert questions.fresh_catalogue(db) is first
    assert "owns_dog" not in first
    questions.add_question(db, OWNS_DOG)
    added = questions.fresh_catalogue(db)
    assert added is not first and added["owns_dog"].wording["en"] == "Do you have a dog?"
    questions.update_question(db, "owns_dog", {"wording": {"en": "Do you own a dog?"}})
    assert questions.fresh_catalogue(db)["owns_dog"].wording["en"] == "Do you own a dog?"
    questions.retire_question(db, "owns_dog")
    assert questions.fresh_catalogue(db)["owns_dog"].retired


def test_criteria_text_is_each_versions_own(db: Session, coordinator: Staff) -> None:
    narrow = "age between 18 and 75 and has condition G25.81"
    broad = "age between 40 and 75 and (has condition I10 or has condition E11)"
    made = [
        studies.create_study(db, coordinator.account, study_fields(criteria=criteria))
        for criteria in (narrow, broad)
    ]
    versions = [study.latest_version for study in made]
    expected = [
        to_text(parse_json(v.criteria, questions.load_catalogue(db))) for v in versions if v is not None
    ]
    assert expected[0] != expected[1]
    for _ in range(2):
        assert [studies.criteria_text(v) for v in versions if v is not None] == expected


# --- the study list's total -----------------------------------------------------------------


def test_study_list_total_on_every_page(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    made = [
        study_in(db, coordinator, reviewer, status) for status in ("recruiting", "draft") * 2 + ("draft",)
    ]
    pages = [
        client.get(f"/api/v1/studies?per_page=2&page={page}", headers=coordinator.headers).json
        for page in (1, 2, 3, 4)
    ]
    assert [page["total"] for page in pages] == [5, 5, 5, 5]
    assert [[item["id"] for item in page["items"]] for page in pages] == [
        sorted(made, reverse=True)[0:2],
        sorted(made, reverse=True)[2:4],
        sorted(made, reverse=True)[4:],
        [],
    ]
    # Another organisation's coordinator sees none of them, and a total of 0.
    other = make_staff(db, "coordinator", "Another Organisation")
    empty = client.get("/api/v1/studies", headers=other.headers).json
    assert (empty["items"], empty["total"]) == ([], 0)


# --- the dashboard's catalogue --------------------------------------------------------------


def test_the_dashboard_reads_the_catalogue_only_for_criteria_that_ask_a_question(
    db: Session, engine: Engine, settings: Settings
) -> None:
    from panel_service.domain.criteria import explain
    from panel_service.domain.geo import site_points
    from panel_service.services import dashboard
    from panel_service.services.profiles import profile_data
    from panel_service.timeutil import panel_today
    from tests.factories import make_invitation
    from tests.support.volunteers import make_volunteer, recruiting_study

    _account, participant = make_volunteer(db, settings)
    make_invitation(db, recruiting_study(db, title="Plain"), participant.id)

    def catalogue_reads(seen: Any) -> int:
        return sum(" FROM questions " in " ".join(f"{sql} ".split()) + " " for sql in seen.sql)

    # The first view parses the version (reading the catalogue); later ones find the parse kept.
    dashboard.visible_invitations(db, settings, participant.id)
    db.info.pop(questions.CATALOGUE_KEY, None)  # as in a new request's session
    with statements(engine) as seen:
        dashboard.visible_invitations(db, settings, participant.id)
        dashboard.open_questions(db, settings, participant.id)
    assert catalogue_reads(seen) == 0, str(seen)

    asked = recruiting_study(db, {"question": "willing_mri", "op": "eq", "value": True}, title="Scan")
    make_invitation(db, asked, participant.id)
    db.info.pop(questions.CATALOGUE_KEY, None)
    with statements(engine) as seen:
        views = dashboard.visible_invitations(db, settings, participant.id)
    assert catalogue_reads(seen) == 1, str(seen)
    catalogue = questions.load_catalogue(db)
    expected = explain(
        parse_json(asked.criteria, catalogue),
        profile_data(db, participant.id),
        panel_today(settings),
        site_points(asked.sites),
        "en",
        catalogue=catalogue,
    )
    [scan] = [view for view in views if view.title == "Scan"]
    assert scan.explanation == expected
    # Catalogue questions are counted by services.asking (the "questions that matter" prompt),
    # never as a profile section here.
    assert "questions" not in dashboard.open_questions(db, settings, participant.id)


# --- the study list's answer without marshmallow ---------------------------------------------


def test_the_study_list_answer_equals_the_marshmallow_dump(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    from panel_service.web.api import dump
    from panel_service.web.api.schemas import StudyList
    from panel_service.web.api.views import study_json

    # Every field of every mirrored schema is written, and nothing else.
    for schema, shape in dump.MIRRORED.items():
        assert set(schema().fields) == set(shape), schema.__name__
    for status in ("draft", "in_review", "rejected", "recruiting"):
        study_in(db, coordinator, reviewer, status)
    # A recruiting study with a newer version pending, with sites.
    pending = study_in(db, coordinator, reviewer, "recruiting")
    studies.update_study(
        db,
        coordinator.account,
        pending,
        study_fields(
            title="Changed title",
            sites=[
                {"name": "Odense", "lat": 55.4, "lon": 10.39},
                {"name": "Vejle", "lat": 55.71, "lon": 9.53},
            ],
        ),
    )
    rows, total = studies.list_studies(db, coordinator.account, page=1, per_page=50)
    body = {"items": [study_json(study) for study in rows], "total": total, "page": 1, "per_page": 50}
    expected = StudyList().dump(body)
    assert [dump.study_item(item) for item in body["items"]] == expected["items"]
    states = {
        (item["status"], (item["pending_version"] or {}).get("review_state")) for item in expected["items"]
    }
    assert len(states) >= 4, states
    assert any(item["active_version"] and item["active_version"]["approval"] for item in expected["items"])
    # And what the API answers is that, as JSON, byte for byte what jsonify wrote for it; again
    # from the items kept by the first answer.
    for _ in range(2):
        response = client.get("/api/v1/studies?per_page=50", headers=coordinator.headers)
        assert response.mimetype == "application/json"
        assert response.get_data() == _jsonify_bytes(client, expected)


def _jsonify_bytes(client: FlaskClient, value: Any) -> bytes:
    with client.application.app_context():
        return bytes(client.application.json.response(value).get_data())


def _listed(client: FlaskClient, db: Session, who: Staff, page: int = 1, per_page: int = 50) -> None:
    """The list's answer for ``who`` equals the marshmallow dump of the studies as loaded now."""
    from panel_service.web.api.schemas import StudyList
    from panel_service.web.api.views import study_json

    db.expire_all()
    rows, total = studies.list_studies(db, who.account, page=page, per_page=per_page)
    body = {
        "items": [study_json(study) for study in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
    }
    response = client.get(f"/api/v1/studies?page={page}&per_page={per_page}", headers=who.headers)
    assert response.status_code == 200
    assert response.get_data() == _jsonify_bytes(client, StudyList().dump(body))


def test_the_study_list_shows_every_change_of_a_kept_study(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    """Each item is kept under its page key: every step of a study's life (submission,
    rejection, a new version, approval, recruiting, a pending edit, pause, close) changes the
    key, so the next answer is the study as it is now, never the kept one."""
    from tests.integration.coordinators.conftest import approval_fields

    today = dt.date.today()
    account = coordinator.account
    study_id = studies.create_study(db, account, study_fields()).id
    other = study_in(db, coordinator, reviewer, "recruiting")
    steps: list[Callable[[], object]] = [
        lambda: studies.submit_study(db, account, study_id),
        lambda: studies.reject_study(db, reviewer.account, study_id, "Consent form missing"),
        lambda: studies.update_study(db, account, study_id, study_fields(title="Second try")),
        lambda: studies.submit_study(db, account, study_id),
        lambda: studies.approve_study(db, reviewer.account, study_id, approval_fields(today), today=today),
        lambda: studies.recruit_study(db, account, study_id, today=today),
        lambda: studies.update_study(
            db, account, study_id, study_fields(sites=[{"name": "Vejle", "lat": 55.71, "lon": 9.53}])
        ),
        lambda: studies.pause_study(db, account, study_id),
        lambda: studies.close_study(db, account, study_id),
    ]
    _listed(client, db, coordinator)
    for step in steps:
        step()
        db.flush()
        _listed(client, db, coordinator)
        _listed(client, db, reviewer, per_page=1)
    # The other study, unchanged throughout, was answered from what was kept and is still right.
    assert other in {
        item["id"] for item in client.get("/api/v1/studies", headers=coordinator.headers).json["items"]
    }


def test_the_study_list_keeps_no_study_for_a_reader_who_may_not_see_it(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    """Items are kept per study, but which studies a page holds is read for each reader: a
    coordinator of another organisation, after the owner's list was answered and kept, sees
    none of them (P7), and a volunteer's token sees an empty list as before."""
    study_in(db, coordinator, reviewer, "recruiting")
    study_in(db, coordinator, reviewer, "draft")
    stranger = make_staff(db, "coordinator", "Another Clinic")
    volunteer = make_staff(db, "participant")
    assert client.get("/api/v1/studies", headers=coordinator.headers).json["total"] == 2
    _listed(client, db, stranger)
    assert client.get("/api/v1/studies", headers=stranger.headers).json["items"] == []
    assert client.get("/api/v1/studies", headers=volunteer.headers).status_code == 403


# --- read-only views: no transaction of their own on PostgreSQL -----------------------------


@contextmanager
def _autocommit_flags(engine: Engine) -> Iterator[list[bool]]:
    """For each statement sent: whether its connection was in autocommit (no BEGIN, no COMMIT)."""
    seen: list[bool] = []

    def record(conn: Any, *_args: Any) -> None:
        seen.append(bool(conn.connection.dbapi_connection.autocommit))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.postgres
@pytest.mark.redis
def test_a_read_only_view_runs_without_a_transaction_and_refuses_a_write(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside the test harness (an app with its own engine, data committed): the study list,
    marked ``reads_only``, sends its statements in autocommit, keeps the sign-in check's touch,
    and a write slipped into it is refused before it is sent (500 in the API's error shape,
    nothing written). A GET not so marked still runs in one transaction."""
    from sqlalchemy import select, update

    from panel_service.models import ApiToken, Study
    from tests.conftest import truncate_all

    with _health_app(settings, tmp_path) as app:
        database = app.extensions["panel_runtime"].database
        engine = database.engine
        try:
            with database.session_scope() as session:
                staff = make_staff(session, "coordinator", "Read Only Clinic")
                study_id = study_in(session, staff, make_staff(session, "reviewer"), "recruiting")
            client = app.test_client()
            with _autocommit_flags(engine) as flags, statements(engine) as first:
                response = client.get("/api/v1/studies", headers=staff.headers)
            assert response.status_code == 200 and response.json["total"] == 1
            assert len(first.writes) == 1 and flags and all(flags), (str(first), flags)
            with database.session_scope() as session:
                touched = select(ApiToken.last_used_at).where(ApiToken.account_id == staff.account.id)
                assert session.scalar(touched) is not None  # the touch, committed
            with _autocommit_flags(engine) as flags, statements(engine) as again:
                assert client.get("/api/v1/studies", headers=staff.headers).json == response.json
            assert again.writes == [] and len(flags) == 1 and all(flags), (str(again), flags)
            with _autocommit_flags(engine) as flags, statements(engine) as checked:
                assert client.get("/api/v1/studies?page=01", headers=staff.headers).json == response.json
            assert checked.writes == [] and len(flags) == 2 and all(flags), (str(checked), flags)
            # Not marked: one transaction, as every other request.
            with _autocommit_flags(engine) as flags:
                assert client.get(f"/api/v1/studies/{study_id}", headers=staff.headers).status_code == 200
            assert flags and not any(flags), flags

            def writes_then_reads(reading: Callable[..., Any]) -> Callable[..., Any]:
                def read(session: Session, *args: Any, **kwargs: Any) -> Any:
                    session.execute(update(Study).values(status="closed"))
                    return reading(session, *args, **kwargs)

                return read

            # Both ways the list reads its page (one statement with the token, or after it).
            for name in ("token_study_page", "study_page_keys"):
                monkeypatch.setattr(studies, name, writes_then_reads(getattr(studies, name)))
            for query in ("", "?page=01"):
                with statements(engine) as refused:
                    failed = client.get(f"/api/v1/studies{query}", headers=staff.headers)
                assert failed.status_code == 500 and failed.json["error"]["code"] == "internal_error"
                assert refused.writes == [], str(refused)
            with database.session_scope() as session:
                assert session.scalar(select(Study.status).where(Study.id == study_id)) == "recruiting"
        finally:
            truncate_all(engine)


# --- the study list in one statement: token, account and page ------------------------------

# Paging the list reads itself (``web.api.plain.PlainPaging``) and paging it leaves to the schema.
PLAIN_QUERIES = ["", "page=2", "per_page=100", "per_page=1&page=1000000", "page=3&per_page=7"]
SCHEMA_QUERIES = [
    "page=0",
    "page=1000001",
    "per_page=101",
    "per_page=0",
    "page=x",
    "page=",
    "page",
    "page=01",
    "page=+1",
    "page=-1",
    "page=%201",
    "page=1.0",
    "page=1e3",
    "page=1_000",
    "page=%D9%A3",  # ARABIC-INDIC DIGIT THREE, which int() reads
    "page=1%00",
    "page=" + "9" * 30,
    "page=1&page=2",
    "per_page=5&per_page=5",
    "unknown=1",
    "page=2&unknown=1",
    "Page=2",
]


@pytest.mark.parametrize("query", PLAIN_QUERIES + SCHEMA_QUERIES)
def test_plain_paging_is_read_as_the_schema_reads_it(app: Any, query: str) -> None:
    """Where the list reads the paging itself it reads what webargs and ``PageQuery`` read; every
    other query string is left to them (and so answered as before, 422 naming the field)."""
    from apiflask.exceptions import HTTPError
    from apiflask.schema_adapters.marshmallow import parser

    from panel_service.web.api.schemas import PageQuery
    from panel_service.web.api.views import plain_paging

    with app.test_request_context(f"/api/v1/studies?{query}"):
        from flask import request

        plain = plain_paging(request)
        try:
            parsed: Any = parser.parse(PageQuery(), request, location="query")
        except HTTPError as error:
            parsed = error
    if query in PLAIN_QUERIES:
        assert plain is not None and (plain[0], plain[1]) == (parsed["page"], parsed["per_page"]), parsed
    else:
        assert plain is None


def test_the_list_in_one_statement_answers_as_the_checked_way(
    client: FlaskClient,
    db: Session,
    engine: Engine,
    coordinator: Staff,
    reviewer: Staff,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every caller, every paging the list reads itself: the same status, headers that matter
    and bytes as through ``auth_required`` and webargs (``plain_paging`` answering None sends
    every request that way), in one statement where that way takes two."""
    from panel_service.models import Account, ApiToken
    from panel_service.web.api import views

    for status in ("recruiting", "draft", "in_review", "recruiting", "rejected"):
        study_in(db, coordinator, reviewer, status)
    stranger = make_staff(db, "coordinator", "Another Clinic")
    study_in(db, stranger, reviewer, "draft")
    admin = make_staff(db, "admin")
    participant = make_staff(db, "participant")
    revoked = make_staff(db, "coordinator", "Odense Heart Unit")
    db.execute(update(ApiToken).where(ApiToken.account_id == revoked.account.id).values(revoked_at=utcnow()))
    inactive = make_staff(db, "reviewer")
    db.execute(update(Account).where(Account.id == inactive.account.id).values(is_active=False))
    empty = make_staff(db, "coordinator", "A Clinic Without Studies")
    db.flush()
    callers: dict[str, dict[str, str]] = {
        who: staff.headers
        for who, staff in {
            "coordinator": coordinator,
            "stranger": stranger,
            "reviewer": reviewer,
            "admin": admin,
            "participant": participant,
            "revoked": revoked,
            "inactive": inactive,
            "empty": empty,
        }.items()
    }
    callers |= {
        "no header": {},
        "unknown token": {"Authorization": "Bearer not-a-token"},
        "another scheme": {"Authorization": f"Basic {coordinator.token}"},
        "lower-case scheme": {"Authorization": f"bearer {coordinator.token}"},
        "token too long": {"Authorization": "Bearer " + "x" * 201},
    }
    statuses: dict[str, set[int]] = {}
    for who, headers in callers.items():
        for query in PLAIN_QUERIES:
            path = f"/api/v1/studies?{query}"
            client.get(path, headers=headers)  # the token's touch, the kept items
            with statements(engine) as one:
                fast = client.get(path, headers=headers)
            with monkeypatch.context() as checked_way:
                checked_way.setattr(views, "plain_paging", lambda _request: None)
                with statements(engine) as two:
                    checked = client.get(path, headers=headers)
            answers = [(response.status_code, response.get_data()) for response in (fast, checked)]
            assert answers[0] == answers[1], (who, query)
            for header in ("Content-Type", "WWW-Authenticate"):
                assert fast.headers.get(header) == checked.headers.get(header), (who, query, header)
            if fast.status_code == 200 and fast.json["items"]:
                expected = 1 if engine.dialect.name == "postgresql" else 2  # SQLite: no LATERAL
                assert (one.count, two.count) == (expected, 2), (who, query, str(one), str(two))
            statuses.setdefault(who, set()).add(fast.status_code)
    assert statuses["coordinator"] == statuses["reviewer"] == statuses["admin"] == {200}
    assert statuses["participant"] == {403}
    for refused in ("revoked", "inactive", "no header", "unknown token", "another scheme", "token too long"):
        assert statuses[refused] == {401}, refused
    listed = client.get("/api/v1/studies", headers=coordinator.headers).json
    assert listed["total"] == 5 and {item["organisation_id"] for item in listed["items"]} == {
        coordinator.account.organisation_id
    }
    assert client.get("/api/v1/studies", headers=stranger.headers).json["total"] == 1
    assert client.get("/api/v1/studies", headers=reviewer.headers).json["total"] == 6
    assert client.get("/api/v1/studies", headers=empty.headers).json == {
        "items": [],
        "page": 1,
        "per_page": 20,
        "total": 0,
    }
