"""Hand-built lower bound for "recruit → all invitations queued" (issue 15): one lean
``INSERT … SELECT`` over code arrays, on the same PostgreSQL database and profiles.

``build(connection)`` (once, untimed) makes ``profiles_codes`` (each profile's condition codes as
``text[]`` under a GIN index, ``criteria_text_array.build``) and ``lean_invitations``: only
``(study_id, participant_id)``, its primary key, no foreign key, no other column or index.
``insert(connection, study_id, today)`` empties it (untimed) and times the one statement that
queues the broad study's invitations: the criteria as ``&&`` tests on the arrays, the volunteer
contactable (active consent, not erased, not paused: the same rule as Panel's, as ``EXISTS``), and
the commit. Returns (seconds, rows); the rows must equal the invitations Panel queued.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import psycopg

from bench.baselines import criteria_text_array


def build(connection: psycopg.Connection[Any]) -> None:
    criteria_text_array.build(connection)
    connection.execute("DROP TABLE IF EXISTS lean_invitations")
    connection.execute(
        "CREATE TABLE lean_invitations (study_id bigint, participant_id bigint, PRIMARY KEY (study_id, participant_id))"
    )
    connection.commit()


def insert(
    connection: psycopg.Connection[Any], study_id: int, today: dt.date, name: str = "broad"
) -> tuple[float, int]:
    count_sql, params = criteria_text_array.query(connection, name, today)
    where = count_sql.split(" WHERE ", 1)[1]
    sql = (
        "INSERT INTO lean_invitations (study_id, participant_id) "
        "SELECT %(study)s, pc.participant_id FROM profiles_codes pc WHERE "
        + where
        + " AND EXISTS (SELECT 1 FROM consents c WHERE c.participant_id = pc.participant_id "
        "AND c.kind = 'contact_about_studies' AND c.withdrawn_at IS NULL) "
        "AND EXISTS (SELECT 1 FROM participants v WHERE v.id = pc.participant_id AND v.erased_at IS NULL "
        "AND (v.contact_paused_until IS NULL OR v.contact_paused_until < %(today)s))"
    )
    connection.execute("TRUNCATE lean_invitations")
    connection.commit()
    started = time.perf_counter()
    rows = connection.execute(sql, {**params, "study": study_id, "today": today}).rowcount
    connection.commit()
    return time.perf_counter() - started, rows
