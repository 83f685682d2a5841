"""Hand-built lower bound for the incremental match (issue 15): one volunteer against the
recruiting studies' criteria, compiled once and kept in memory.

What an expert writes for this one job with nothing else to honour: one statement loads the
volunteer (profile row, condition and medication histories, answers, home, and the contact state
the rule needs: erased, consent, pause, travel limit), Panel's in-memory evaluator runs the
compiled criteria of every study, and one ``INSERT … ON CONFLICT DO NOTHING`` writes the matches;
then the commit. psycopg, one connection, prepared statements; no ORM, no cancel of queued
invitations the profile no longer matches, no outbox row to send the new invitations. The
studies (their ids, versions, compiled criteria and sites) are handed in: read and compiled once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from panel_service.domain import eligibility
from panel_service.domain.criteria import Truth, profile_facts
from panel_service.domain.criteria.evaluate import Check
from panel_service.domain.geo import Home, Sites
from panel_service.domain.history import Entry
from panel_service.domain.profile import ProfileData
from panel_service.domain.questions import Answer

LOAD = """
SELECT p.birth_date, p.sex, p.region, p.height_cm, p.weight_kg, p.smoker, p.pregnant,
       p.conditions_answered, p.medications_answered, p.home_lat, p.home_lon,
       v.erased_at IS NOT NULL, v.contact_paused_until,
       EXISTS (SELECT 1 FROM consents c WHERE c.participant_id = v.id
               AND c.kind = 'contact_about_studies' AND c.withdrawn_at IS NULL),
       (SELECT array_agg(ARRAY[code, status, since, until] ORDER BY code)
          FROM profile_conditions WHERE participant_id = v.id),
       (SELECT array_agg(ARRAY[code, status, since, until] ORDER BY code)
          FROM profile_medications WHERE participant_id = v.id),
       (SELECT json_agg(json_build_array(key, value, value_date, answered_on))
          FROM profile_answers WHERE participant_id = v.id)
FROM participants v LEFT JOIN profiles p ON p.participant_id = v.id
WHERE v.id = %s
"""
INSERT = (
    "INSERT INTO invitations (study_id, participant_id, study_version_id) "
    "SELECT s, %s, v FROM unnest(%s::bigint[], %s::bigint[]) AS m(s, v) "
    "ON CONFLICT (study_id, participant_id) DO NOTHING"
)


@dataclass(frozen=True)
class Study:
    study_id: int
    version_id: int
    check: Check
    sites: Sites


def _entries(rows: list[list[str | None]] | None) -> list[Entry]:
    return [Entry(code or "", status, since, until) for code, status, since, until in rows or ()]


def _answer_value(value: Any, value_date: str | None) -> Any:
    if value_date is not None:
        return dt.date.fromisoformat(value_date)
    if isinstance(value, list):
        return frozenset(str(item) for item in value)
    return value


def match(
    connection: psycopg.Connection[Any], studies: list[Study], participant_id: int, today: dt.date
) -> int:
    """Load, evaluate, insert, commit. Returns the invitations inserted."""
    row = connection.execute(LOAD, (participant_id,), prepare=True).fetchone()
    if row is None or row[0] is None:
        connection.rollback()
        return 0
    (birth, sex, region, height, weight, smoker, pregnant, cond_answered, med_answered, lat, lon,
     erased, paused, consented, conditions, medications, answers) = row  # fmt: skip
    condition_entries = _entries(conditions)
    medication_entries = _entries(medications)
    profile = ProfileData(
        birth_date=birth,
        sex=sex,
        region=region,
        height_cm=height,
        weight_kg=weight,
        smoker=smoker,
        pregnant=pregnant,
        conditions=tuple(e.code for e in condition_entries) if cond_answered else None,
        medications=tuple(e.code for e in medication_entries) if med_answered else None,
        condition_history=tuple(e for e in condition_entries if not e.plain),
        medication_history=tuple(e for e in medication_entries if not e.plain),
        answers={
            key: Answer(_answer_value(value, value_date), dt.date.fromisoformat(answered_on))
            for key, value, value_date, answered_on in answers or ()
        },
        home=None if lat is None or lon is None else Home(lat, lon),
    )
    limit = profile.answers.get(eligibility.TRAVEL_LIMIT_KEY)
    state = eligibility.VolunteerState(
        erased=erased,
        consent_active=consented,
        contact_paused_until=paused,
        home=None if lat is None or lon is None else (float(lat), float(lon)),
        max_travel_km=None if limit is None or limit.value is None else float(limit.value),  # type: ignore[arg-type]
    )
    facts = profile_facts(profile, today)
    matched = [
        study
        for study in studies
        if study.check(facts) is Truth.TRUE
        and eligibility.volunteer_obstacle(state, today, study.sites) is None
    ]
    inserted = 0
    if matched:
        inserted = connection.execute(
            INSERT,
            (participant_id, [s.study_id for s in matched], [s.version_id for s in matched]),
            prepare=True,
        ).rowcount
    connection.commit()
    return inserted
