"""Engine, session factory and the one way to get a session outside a request.

``Database`` owns the engine for one settings object. Web requests get a session from
``panel_service.extensions.db_session()`` (closed at the request's teardown); jobs, the CLI and
threads use ``database.session_scope()``, which commits on success and rolls back on error.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import select
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool

from config.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: DateTime(timezone=True)}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and mishandles SAVEPOINT; turn it off
    # and let SQLAlchemy emit BEGIN itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the in-process job thread read while the web thread writes; foreign keys are
    # off by default in SQLite and our ON DELETE rules depend on them.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    register_math_functions(dbapi_connection)


_MATH_FUNCTIONS: dict[str, tuple[int, Callable[..., float]]] = {
    "sin": (1, math.sin),
    "cos": (1, math.cos),
    "radians": (1, math.radians),
    "power": (2, math.pow),
}


def register_math_functions(dbapi_connection: Any) -> None:
    """The math functions ``distance_to_site_km`` compiles to (``queries.criteria_sql``).

    SQLite has them when built with SQLITE_ENABLE_MATH_FUNCTIONS (3.35+, as most builds are);
    otherwise they are registered here as deterministic functions on the connection, computed
    with the same C library calls the in-memory evaluator makes.
    """
    try:
        dbapi_connection.execute("SELECT sin(0), cos(0), radians(0), power(2, 2)").fetchall()
    except sqlite3.OperationalError:
        for name, (arity, function) in _MATH_FUNCTIONS.items():
            dbapi_connection.create_function(name, arity, _null_safe(function), deterministic=True)


def _null_safe(function: Callable[..., float]) -> Callable[..., float | None]:
    def call(*args: float | None) -> float | None:
        return None if any(arg is None for arg in args) else function(*args)

    return call


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    # writes fails at once with "database is locked" when another thread wrote meanwhile,
    # whereas an immediate one waits for busy_timeout. The embedded mode has two writers.
    # Read-only work (health probes, exports) opts out with execution_options(read_only=True).
    if connection.get_execution_options().get("read_only"):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(database_url: str, *, pool: bool = True) -> Engine:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(database_url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs: dict[str, Any] = {}
    if not pool:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=5, max_overflow=5)
    engine = create_engine(database_url, **kwargs)
    if pool:
        _check_connections_on_checkout(engine)
    return engine


# A pooled connection is pinged (one ``SELECT 1`` round trip) before it is handed out only when
# it may be dead: it has not been used for this long, or its socket has something to read
# although no statement is running (the server closed it or sent its last words: a restart, an
# idle timeout, ``pg_terminate_backend``). SQLAlchemy's ``pool_pre_ping`` pings on every
# checkout, which was a quarter of ``/healthz``'s time and one round trip per request (two for
# a request that commits its sign-in check first) on every page.
PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "panel_idle_since"


def _check_connections_on_checkout(engine: Engine) -> None:
    dialect = engine.dialect

    def mark_idle(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
            raise DisconnectionError("the connection is closed")
        idle_since = record.info.get(_IDLE_SINCE)
        if (
            idle_since is not None
            and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS
            and not _has_unread_input(dbapi_connection)
        ):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool throws this connection away and checks out (or opens) another.
            raise DisconnectionError("the connection did not answer a ping") from exc

    event.listen(engine, "connect", mark_idle)
    event.listen(engine, "checkin", mark_idle)
    event.listen(engine, "checkout", check)


def _has_unread_input(dbapi_connection: Any) -> bool:
    """Whether the idle connection's socket is readable (a local ``poll``, no round trip)."""
    try:
        descriptor = dbapi_connection.fileno()
    except Exception:
        return True  # cannot tell: ping
    poller = select.poll()
    poller.register(descriptor, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self._compiled: dict[int, tuple[object, RawStatement]] = {}
        self._pid = os.getpid()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def reset_after_fork(self) -> None:
        """Forked Celery workers must not share the parent's pooled connections."""
        if os.getpid() != self._pid:
            self.engine.dispose(close=False)
            self._pid = os.getpid()

    def session(self) -> Session:
        return self.session_factory()

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def execute_alone(self, statement: Any, params: dict[str, Any]) -> None:
        """One statement in a transaction of its own, committed when this returns. On PostgreSQL it
        runs in autocommit, sent with psycopg directly (``raw``): one round trip instead of three
        (``BEGIN``, the statement, ``COMMIT``; psycopg sends ``BEGIN`` on its own), no ORM session
        and none of SQLAlchemy's work per statement, committed and flushed to disk all the same. SQLite keeps ``session_scope`` (its ``BEGIN IMMEDIATE`` orders writers), and so does a
        session factory bound to something else than the engine (a connection whose transaction
        its owner keeps, as the tests' ``db`` fixture does): the statement joins it like any other."""
        if not self.direct:
            with self.session_scope() as session:
                session.execute(statement, params)
            return
        sql, values = self.compiled(statement, params)
        with self.raw(autocommit=True) as connection:
            connection.execute(sql, values)

    @property
    def direct(self) -> bool:
        """Whether ``raw`` may be used: PostgreSQL, with sessions on the engine's own pool (not
        bound to a connection whose transaction someone else keeps, as the tests' ``db`` fixture
        does: work there must join that transaction, through the session)."""
        return not self.is_sqlite and self.session_factory.kw.get("bind") is self.engine

    def compiled(self, statement: Any, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The SQL and parameters of ``statement`` for a psycopg cursor of ``raw``, compiled on
        first use (``RawStatement``; the statement is kept with it, so its id is not reused)."""
        held = self._compiled.get(id(statement))
        if held is None or held[0] is not statement:
            if len(self._compiled) > 2048:
                self._compiled.clear()
            held = (statement, RawStatement(statement, self.engine.dialect, tuple(params)))
            self._compiled[id(statement)] = held
        raw = held[1]
        assert isinstance(raw, RawStatement)
        return raw.sql, raw.params(params)

    @contextmanager
    def raw(self, *, autocommit: bool = False) -> Iterator[Any]:
        """A psycopg connection of the engine's pool, for the few statements on the dispatcher's
        path that are sent without SQLAlchemy's execution (``RawStatement``: the claim, the
        record). Checked out like any other (pinged when it may be dead) and handed back to
        the pool, which rolls back whatever the block left open (``autocommit``: each statement
        commits on its own, as with SQLAlchemy's ``AUTOCOMMIT``). A psycopg error leaves as
        SQLAlchemy's ``DBAPIError`` (``OperationalError`` …, ``connection_invalidated`` on a lost
        connection, which is thrown away), as if the statement had gone through the engine."""
        import psycopg

        try:
            proxied = self.engine.raw_connection()
        except psycopg.Error as exc:  # the pool hands the driver's error on as it is
            raise self._wrapped(exc, None) from exc
        connection: Any = proxied.driver_connection
        try:
            if autocommit:
                connection.autocommit = True
            yield connection
        except psycopg.Error as exc:
            error = self._wrapped(exc, proxied.dbapi_connection)
            if error.connection_invalidated:
                proxied.invalidate(exc)
            raise error from exc
        finally:
            if autocommit and proxied.is_valid:
                try:
                    connection.autocommit = False  # as the pool hands its connections out
                except psycopg.Error:
                    proxied.invalidate()
            proxied.close()

    def _wrapped(self, exc: Exception, dbapi_connection: Any) -> DBAPIError:
        """A driver's error as SQLAlchemy raises it from a statement: ``OperationalError`` …,
        ``connection_invalidated`` when the connection is lost."""
        import psycopg

        lost = self.engine.dialect.is_disconnect(cast(Any, exc), dbapi_connection, None)
        error = DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost, dialect=self.engine.dialect
        )
        assert isinstance(error, DBAPIError)  # a psycopg error always is one
        return error

    def dispose(self) -> None:
        self.engine.dispose()


class RawStatement:
    """A SQLAlchemy statement compiled once for PostgreSQL, to be sent with psycopg directly
    (``Database.raw``): the SQL text with every late-rendered value written in (``inline``
    constants, fixed ``IN`` lists) and the values the statement carries itself. ``params``
    adds the caller's; SQLAlchemy's bind processors run on them as the engine would run them
    (psycopg adapts these types itself, so there are usually none)."""

    __slots__ = ("fixed", "processors", "sql")

    def __init__(self, statement: Any, dialect: Any, names: tuple[str, ...] = ()) -> None:
        compiled = statement.compile(dialect=dialect)
        state = compiled.construct_expanded_state(dict.fromkeys(names), escape_names=False)
        self.sql: str = state.statement
        self.fixed: dict[str, Any] = {
            name: value for name, value in state.parameters.items() if name not in names
        }
        self.processors: dict[str, Callable[[Any], Any]] = {
            name: processor for name, processor in state.processors.items() if processor is not None
        }

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        params = self.fixed | values
        for name, processor in self.processors.items():
            if name in params:
                params[name] = processor(params[name])
        return params
