"""The ten real studies (docs/real-studies.json, ARCHITECTURE §4a): every stated line parses
(with the shipped catalogue) and prints and parses back; each study's criteria (all its stated
lines) are TRUE for its ``eligible`` profile and FALSE for each ``excluded`` one (the eligible
profile with ``change`` applied) on the day ``on`` — in memory and in SQL, on whichever engine
the run uses (PostgreSQL and SQLite)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from panel_service.domain.criteria import (
    All,
    Node,
    Not,
    Truth,
    evaluate,
    parse_json,
    parse_text,
    to_json,
    to_text,
)
from panel_service.domain.profile import ProfileData
from panel_service.domain.profile_json import profile_from_json
from panel_service.domain.questions import seed_catalogue
from panel_service.queries.criteria_sql import profile_answers
from panel_service.services.questions import answer_rows
from tests.integration.criteria.test_sql_agreement import insert_profiles, sql_matches

REAL = json.loads((Path(__file__).parents[3] / "docs" / "real-studies.json").read_text(encoding="utf-8"))
ON = dt.date.fromisoformat(REAL["on"])
STUDIES: list[dict[str, Any]] = REAL["studies"]
FIRST_ID = 3_000_000


def stated(study: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in study["lines"] if line["status"] == "stated"]


def criteria(study: dict[str, Any]) -> Node:
    return All(tuple(parse_json(line["criterion"], seed_catalogue()) for line in stated(study)))


def profile(raw: dict[str, Any]) -> ProfileData:
    return profile_from_json(raw, catalogue=seed_catalogue(), today=ON)


def cases(study: dict[str, Any]) -> list[tuple[str, ProfileData, Truth]]:
    found = [("eligible", profile(study["eligible"]), Truth.TRUE)]
    for excluded in study["excluded"]:
        found.append((excluded["because"], profile({**study["eligible"], **excluded["change"]}), Truth.FALSE))
    return found


def test_there_are_ten_studies_each_with_stated_and_team_lines() -> None:
    assert len(STUDIES) == 10
    for study in STUDIES:
        assert stated(study), study["id"]
        for line in study["lines"]:
            assert line["status"] in ("stated", "team"), (study["id"], line["text"])
            assert line["status"] == "stated" or line.get("why"), (study["id"], line["text"])


@pytest.mark.parametrize("study", STUDIES, ids=[study["id"] for study in STUDIES])
def test_every_stated_line_parses_and_prints_back(study: dict[str, Any]) -> None:
    for line in stated(study):
        node = parse_json(line["criterion"], seed_catalogue())
        assert parse_text(to_text(node), seed_catalogue()) == node, line["text"]
        assert to_json(node) == to_json(parse_json(to_json(node), seed_catalogue()))


@pytest.mark.parametrize("study", STUDIES, ids=[study["id"] for study in STUDIES])
def test_eligible_is_true_and_each_excluded_is_false_in_memory_and_in_sql(
    engine: Engine, study: dict[str, Any]
) -> None:
    node = criteria(study)
    people = cases(study)
    for because, person, expected in people:
        assert evaluate(node, person, ON) is expected, (study["id"], because)
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, [person for _, person, _ in people], first_id=FIRST_ID)
            rows = [
                row
                for pid, (_, person, _) in zip(ids, people, strict=True)
                for row in answer_rows(pid, person.answers, seed_catalogue())
            ]
            if rows:
                connection.execute(insert(profile_answers), rows)
            true_in_sql = sql_matches(connection, node, ON) & set(ids)
            false_in_sql = sql_matches(connection, Not(node), ON) & set(ids)
            for pid, (because, _, expected) in zip(ids, people, strict=True):
                assert (pid in true_in_sql) is (expected is Truth.TRUE), (study["id"], because)
                assert (pid in false_in_sql) is (expected is Truth.FALSE), (study["id"], because)
        finally:
            transaction.rollback()


def test_the_markdown_is_rendered_from_the_json() -> None:
    """docs/real-studies.md is what scripts/render_real_studies.py prints from the JSON."""
    path = Path(__file__).parents[3] / "scripts" / "render_real_studies.py"
    spec = importlib.util.spec_from_file_location("render_real_studies", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stored = (Path(__file__).parents[3] / "docs" / "real-studies.md").read_text(encoding="utf-8")
    assert stored == module.render(REAL), "stale: run .venv/bin/python scripts/render_real_studies.py"
