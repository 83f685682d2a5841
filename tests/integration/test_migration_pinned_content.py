"""Migration 0002_pinned_content on a database holding a study from before it: every version takes
the study's title and summary and the organisation's name, its hash is the one the code computes,
the approval still covers it, and the downgrade gives the study its title back (PostgreSQL and
SQLite, whichever backend the run uses)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from panel_service.migrate import alembic_config
from panel_service.models import Study, StudyVersion
from panel_service.services.studies import VersionContent
from tests.conftest import BACKEND
from tests.support.services import empty_engine as a_database

CRITERIA = {"all": [{"field": "age", "op": "ge", "value": 18}, {"condition": "G25.8"}]}


@pytest.fixture()
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    with a_database(BACKEND, tmp_path, "panel_migrate") as engine:
        yield engine


def migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_existing_versions_take_the_study_values_and_keep_their_approval(empty_engine: Engine) -> None:
    migrate(empty_engine, "0001")
    with empty_engine.begin() as connection:
        org = connection.execute(
            text("INSERT INTO organisations (name) VALUES ('Aarhus Sleep Clinic') RETURNING id")
        )
        org_id = org.scalar_one()
        study_id = connection.execute(
            text(
                "INSERT INTO studies (organisation_id, title, summary, status) "
                "VALUES (:o, 'Magnesium for restless legs', 'Does magnesium help?', 'recruiting') RETURNING id"
            ),
            {"o": org_id},
        ).scalar_one()
        version_ids = []
        for number in (1, 2):
            version_ids.append(
                connection.execute(
                    text(
                        "INSERT INTO study_versions (study_id, number, criteria, invitation_text, site_region,"
                        " target_enrolment, content_hash, review_state) VALUES (:s, :n, :c, 'Please take part.',"
                        " 'DK-84', 40, :h, :state) RETURNING id"
                    ),
                    {
                        "s": study_id,
                        "n": number,
                        "c": json.dumps(CRITERIA),
                        "h": "0" * 64,
                        "state": "approved" if number == 1 else "draft",
                    },
                ).scalar_one()
            )
        connection.execute(
            text("UPDATE studies SET active_version_id = :a, latest_version_id = :l WHERE id = :s"),
            {"a": version_ids[0], "l": version_ids[1], "s": study_id},
        )
        connection.execute(
            text(
                "INSERT INTO ethics_approvals (study_version_id, committee, kind, reference, approved_on,"
                " expires_on, letter_sha256) VALUES (:v, 'IEC', 'IEC', 'R-1', :a, :e, :l)"
            ),
            {"v": version_ids[0], "a": dt.date(2026, 1, 1), "e": dt.date(2027, 1, 1), "l": "a" * 64},
        )

    migrate(empty_engine, "0002_pinned_content")
    assert {"title", "summary"}.isdisjoint(
        column["name"] for column in inspect(empty_engine).get_columns("studies")
    )
    with Session(empty_engine) as session:
        study = session.get(Study, study_id)
        assert study is not None and study.status == "recruiting"
        assert study.active_version is not None and study.active_version.approval is not None
        assert study.latest_title == "Magnesium for restless legs"
        for version_id in version_ids:
            version = session.get(StudyVersion, version_id)
            assert version is not None
            assert (version.title, version.summary, version.organisation_name, version.sites) == (
                "Magnesium for restless legs",
                "Does magnesium help?",
                "Aarhus Sleep Clinic",
                [],
            )
            assert version.criteria == CRITERIA
            # The migration's hash is the code's: an unchanged edit afterwards makes no version.
            assert version.content_hash == VersionContent.of(version).content_hash

    migrate(empty_engine, "0001", down=True)
    with empty_engine.connect() as connection:
        row = connection.execute(
            text("SELECT title, summary FROM studies WHERE id = :s"), {"s": study_id}
        ).one()
        assert tuple(row) == ("Magnesium for restless legs", "Does magnesium help?")
        columns = {column["name"] for column in inspect(connection).get_columns("study_versions")}
        assert {"title", "summary", "organisation_name", "sites"}.isdisjoint(columns)
        assert connection.execute(text("SELECT count(*) FROM study_versions")).scalar_one() == 2
