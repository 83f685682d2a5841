"""Real databases for the criteria agreement tests, whatever the run's backend: a fresh
PostgreSQL database and a SQLite file, both with every table created from the models. With
``CI=true`` an unreachable PostgreSQL fails the run: the agreement proof must not be skipped
silently (tests/support/services.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

import panel_service.models  # noqa: F401 - registers every table on Base.metadata
from panel_service.db import Base
from tests.support.services import empty_engine


@pytest.fixture(scope="session")
def pg_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with empty_engine("postgresql", tmp_path_factory.mktemp("criteria"), "panel_test_criteria") as engine:
        Base.metadata.create_all(engine)
        yield engine


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with empty_engine("sqlite", tmp_path_factory.mktemp("criteria"), "criteria") as engine:
        Base.metadata.create_all(engine)
        yield engine


@pytest.fixture(scope="session", params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest) -> Engine:
    fixture_name = "pg_engine" if request.param == "postgresql" else "sqlite_engine"
    resolved: Engine = request.getfixturevalue(fixture_name)
    return resolved
