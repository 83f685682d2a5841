"""Real databases for the criteria agreement tests: a fresh PostgreSQL database and a SQLite file.

PostgreSQL is reached on 127.0.0.1:5432 as ``postgres`` (override with PANEL_TEST_PG_URL, a
server URL without a database). When ``CI=true`` an unreachable server fails the run: the
agreement proof must not be skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, create_engine

import panel_service.models  # noqa: F401 - registers every table on Base.metadata
from panel_service.db import Base, make_engine

PG_SERVER = os.environ.get("PANEL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    name = f"panel_test_criteria_{uuid.uuid4().hex[:12]}"
    try:
        admin = _admin_connection()
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {PG_SERVER}: {error}")
        pytest.skip(f"PostgreSQL is not reachable at {PG_SERVER}: {error}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = create_engine(f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://')}/{name}")
    try:
        Base.metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with _admin_connection() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("criteria") / "criteria.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session", params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest) -> Engine:
    fixture_name = "pg_engine" if request.param == "postgresql" else "sqlite_engine"
    resolved: Engine = request.getfixturevalue(fixture_name)
    return resolved
