"""The shapes measured in docs/performance.md, checked on the compiled SQL text (no database needed).
Whether the results are right is the agreement proof's job (tests/integration/criteria)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.dialects import postgresql, sqlite

from panel_service.domain.criteria import parse_text
from panel_service.queries.criteria_sql import birth_date_threshold, matching_ids, merge_intervals

TODAY = dt.date(2026, 11, 25)
EXAMPLE = (
    "age between 18 and 75 and has condition G25.8 and not (has condition N17-N19 or has condition D66 "
    "or pregnant) and not takes A12CC"
)


def sql_text(criteria: str, dialect_name: str) -> str:
    dialect = postgresql.dialect() if dialect_name == "postgresql" else sqlite.dialect()
    query = matching_ids(parse_text(criteria), TODAY, dialect_name)
    return " ".join(str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})).split())


def test_postgresql_uses_the_code_summary_and_sqlite_uses_in() -> None:
    text = sql_text(EXAMPLE, "postgresql")
    assert "EXISTS" not in text and "IN (SELECT" not in text and "profile_conditions" not in text
    assert "profiles.condition_codes && ARRAY['=G258', 'G258']" in text
    assert text.count("condition_codes &&") == 2 and text.count("medication_codes &&") == 1
    assert "EXISTS" not in sql_text(EXAMPLE, "sqlite")
    assert sql_text(EXAMPLE, "sqlite").count("participant_id IN (SELECT") == 1
    assert sql_text(EXAMPLE, "sqlite").count("participant_id NOT IN (SELECT") == 2


def test_qualified_leaves_stay_on_the_join_tables_as_exists_on_postgresql() -> None:
    text = sql_text(
        "has condition I10 within P2Y and not takes A12CC currently and has condition E11", "postgresql"
    )
    assert text.count("EXISTS") == 2 and "profile_conditions.code >= 'I10'" in text
    assert "profile_medications.status" in text
    assert "profiles.condition_codes && ARRAY['=E11', 'E11']" in text


def test_the_false_side_also_rules_out_less_specific_answers_marked_exact() -> None:
    text = sql_text("not has condition G25.81 and not takes A12CC05", "postgresql")
    assert "NOT (profiles.condition_codes && ARRAY['=G25', '=G258', '=G2581', 'G2581'])" in text
    assert (
        "NOT (profiles.medication_codes && ARRAY['=A', '=A12', '=A12C', '=A12CC', '=A12CC05', 'A12CC05'])"
        in text
    )


def test_codes_in_one_any_share_one_overlap_or_one_subquery_of_index_ranges() -> None:
    criteria = "not (has condition N17-N19 or has condition D66 or has condition N18)"
    text = sql_text(criteria, "postgresql")
    assert text.count("condition_codes &&") == 1
    assert (
        "NOT (profiles.condition_codes && ARRAY['=D66', '=N17', '=N18', '=N19', 'D66', 'N17', 'N18', 'N19'])"
        in text
    )
    text = sql_text(criteria, "sqlite")
    assert text.count("IN (SELECT") == 1
    assert "profile_conditions.code >= 'D66' AND profile_conditions.code < 'D67'" in text
    # N18 lies inside N17-N19: the two ranges are merged into one.
    assert "profile_conditions.code >= 'N17' AND profile_conditions.code < 'N1:'" in text
    assert "'N18'" not in text


def test_a_wide_range_is_the_fewest_prefixes_that_cover_it() -> None:
    text = sql_text("has condition A00-B19", "postgresql")
    # All of A and of B0; of B1 only B10-B19, as B1A (ICD-10-CM) sorts after B19.
    tens = [f"B1{digit}" for digit in range(10)]
    terms = ", ".join(f"'{term}'" for term in sorted([*(f"={ten}" for ten in tens), "A", "B0", *tens]))
    assert f"profiles.condition_codes && ARRAY[{terms}]" in text


def test_the_answered_guard_is_stated_once_per_conjunction() -> None:
    text = sql_text("has condition G25.81 and not has condition N18 and not has condition D66", "postgresql")
    assert text.count("conditions_answered") == 1


def test_age_is_a_birth_date_range_computed_for_the_day() -> None:
    text = sql_text("age between 18 and 75", "postgresql")
    assert "profiles.birth_date > '1950-11-25' AND profiles.birth_date <= '2008-11-25'" in text
    assert "age" not in text.replace("profiles.", "")


def test_birth_date_thresholds_follow_the_29_february_rule() -> None:
    assert birth_date_threshold(dt.date(2028, 2, 29), 1) == dt.date(2027, 2, 28)
    assert birth_date_threshold(dt.date(2028, 2, 29), 4) == dt.date(2024, 2, 29)
    assert birth_date_threshold(dt.date(2025, 3, 1), 1) == dt.date(2024, 3, 1)


def test_merge_intervals() -> None:
    assert merge_intervals([("N17", "N1:"), ("D66", "D67"), ("N18", "N19")]) == [
        ("D66", "D67"),
        ("N17", "N1:"),
    ]
    assert merge_intervals([("A", "B"), ("B", "C")]) == [("A", "C")]


def test_postgresql_gets_the_values_in_the_sql_text_and_sqlite_keeps_parameters() -> None:
    """A prepared statement's generic plan cannot see parameters (criteria_sql's docstring): on
    PostgreSQL every value of the criteria is rendered at execution, none is a parameter."""
    criteria = (
        "age between 18 and 75 and has condition G25.81 and not has condition N18 and bmi between 25 and 40 "
        "and has condition I10 within P2Y and region = DK and answer smoking_status in (current, former) answered within P12M"
    )
    node = parse_text(criteria)
    for dialect_name, dialect in (("postgresql", postgresql.psycopg.dialect()), ("sqlite", sqlite.dialect())):
        compiled = matching_ids(node, TODAY, dialect_name).compile(dialect=dialect)
        rendered_at_execution = {compiled.bind_names[bind] for bind in compiled.literal_execute_params}  # type: ignore[attr-defined]
        assert len(compiled.params) > 10
        if dialect_name == "postgresql":
            assert rendered_at_execution == set(compiled.params) and "%(" not in str(compiled)
        else:
            assert not rendered_at_execution
