"""Migration 0006_code_summary on a database holding profiles from before it: the backfill (SQL
of its own on each engine) writes the summary that domain.criteria.summary computes from the join
rows, NULL for an unanswered list and empty for an answered one without codes; the downgrade drops
the columns (PostgreSQL and SQLite, whichever backend the run uses)."""

from __future__ import annotations

import json

from sqlalchemy import Engine, inspect, text

from panel_service.domain.criteria.summary import code_summary
from tests.integration.test_migration_pinned_content import empty_engine, migrate

__all__ = ["empty_engine"]

PROFILES = {
    # participant id: (conditions or None = unanswered, medications or None)
    1: (["G2581", "N183"], ["A12CC05"]),
    2: ([], None),
    3: (None, []),
    4: (["QA00101", "E11"], ["A12C", "A12CC05"]),
}


def _summary(value: object) -> list[str] | None:
    if value is None:
        return None
    return sorted(json.loads(value) if isinstance(value, str) else value)  # type: ignore[arg-type]


def test_the_backfill_writes_the_summary_the_join_rows_imply(empty_engine: Engine) -> None:
    migrate(empty_engine, "0006_reminders")
    with empty_engine.begin() as connection:
        for participant_id, (conditions, medications) in PROFILES.items():
            connection.execute(text("INSERT INTO participants (id) VALUES (:p)"), {"p": participant_id})
            connection.execute(
                text(
                    "INSERT INTO profiles (participant_id, conditions_answered, medications_answered) "
                    "VALUES (:p, :c, :m)"
                ),
                {"p": participant_id, "c": conditions is not None, "m": medications is not None},
            )
            for table, codes in (("profile_conditions", conditions), ("profile_medications", medications)):
                for code in codes or ():
                    connection.execute(
                        text(f"INSERT INTO {table} (participant_id, code) VALUES (:p, :c)"),
                        {"p": participant_id, "c": code},
                    )

    migrate(empty_engine, "0006_code_summary")
    with empty_engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT participant_id, condition_codes, medication_codes FROM profiles ORDER BY participant_id"
            )
        ).all()
    assert {row[0]: (_summary(row[1]), _summary(row[2])) for row in rows} == {
        participant_id: (code_summary(conditions, "icd10"), code_summary(medications, "atc"))
        for participant_id, (conditions, medications) in PROFILES.items()
    }
    if empty_engine.dialect.name == "postgresql":
        indexes = {index["name"] for index in inspect(empty_engine).get_indexes("profiles")}
        assert {"ix_profiles_condition_codes", "ix_profiles_medication_codes"} <= indexes

    migrate(empty_engine, "0006_reminders", down=True)
    columns = {column["name"] for column in inspect(empty_engine).get_columns("profiles")}
    assert "condition_codes" not in columns and "medication_codes" not in columns
