"""The lower bound for a criteria count: each profile's condition codes as one ``text[]`` column
with a GIN index, counted with array overlap, on the same PostgreSQL database and profiles.

``build(connection)`` makes ``profiles_codes`` from ``profiles`` and ``profile_conditions``
(once; not timed). ``count(connection, name, today)`` runs the narrow or broad set of
``bench.criteria_bench`` by hand: the code ranges are expanded to the codes that occur (taken
from the table before the clock starts), so the query is one ``&&`` test per clause on the GIN
index plus the row filters. Its answer must equal Panel's count; ``bench.limits`` checks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

from panel_service.queries.criteria_sql import birth_date_threshold

RANGES = {
    "narrow": {"has": [("G2581", "G2582")], "not": [("N18", "N19"), ("D66", "D67")]},
    "broad": {"has": [("I10", "I11"), ("E11", "E12")], "not": [("N18", "N19")]},
}
AGES = {"narrow": (18, 75), "broad": (40, 75)}


def build(connection: psycopg.Connection[Any]) -> None:
    connection.execute("DROP TABLE IF EXISTS profiles_codes")
    connection.execute(
        "CREATE TABLE profiles_codes AS "
        "SELECT p.participant_id, p.birth_date, p.sex, p.pregnant, p.bmi, p.conditions_answered, "
        "coalesce(array_agg(c.code::text) FILTER (WHERE c.code IS NOT NULL), '{}'::text[]) AS codes "
        "FROM profiles p LEFT JOIN profile_conditions c ON c.participant_id = p.participant_id "
        "GROUP BY p.participant_id"
    )
    connection.execute("CREATE INDEX profiles_codes_gin ON profiles_codes USING gin (codes)")
    connection.execute("ANALYZE profiles_codes")
    connection.commit()


def _codes(connection: psycopg.Connection[Any], ranges: list[tuple[str, str]]) -> list[str]:
    codes: list[str] = []
    for start, stop in ranges:
        rows = connection.execute(
            "SELECT DISTINCT code FROM profile_conditions WHERE code >= %s AND code < %s", (start, stop)
        ).fetchall()
        codes += [row[0] for row in rows]
    return codes


def query(connection: psycopg.Connection[Any], name: str, today: dt.date) -> tuple[str, dict[str, object]]:
    """The SQL and its parameters (the code lists resolved now, outside any timing)."""
    low, high = AGES[name]
    params: dict[str, object] = {
        "oldest": birth_date_threshold(today, high + 1),
        "youngest": birth_date_threshold(today, low),
        "has": _codes(connection, RANGES[name]["has"]),
        "excluded": _codes(connection, RANGES[name]["not"]),
    }
    clauses = [
        "birth_date > %(oldest)s",
        "birth_date <= %(youngest)s",
        "conditions_answered",
        "codes && %(has)s::text[]",
        "NOT codes && %(excluded)s::text[]",
        "(sex = 'male' OR pregnant = false)",
    ]
    if name == "broad":
        clauses.append("bmi BETWEEN 25 AND 40")
    return "SELECT count(*) FROM profiles_codes WHERE " + " AND ".join(clauses), params


def count(connection: psycopg.Connection[Any], sql: str, params: dict[str, object]) -> int:
    row = connection.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])
