"""The incremental match beside its hand-built limit: ``python -m bench.incremental_bench``.

Loads ``--profiles`` synthetic volunteers with profile version 2 (histories, answers, homes:
``bench.v2_bench``'s loader) into the PostgreSQL database ``panel_incremental_bench`` (reused when
it already holds that many), gives each an active consent, and sets ``--studies`` studies
recruiting (approved version, approval in force): most built like ``criteria_bench``'s thousand
studies (ages, condition ``any``s, exclusions, a medication, sometimes BMI or region), one in ten
the version-2 study of ``bench.v2_bench`` (``within``, two questions, distance to two sites) with
varied distances. Then, for ``--runs`` volunteers in turn, alternately (the order swapped every
run, so neither side always finds the other's pages cached):

* **Panel**: ``matching.match_volunteer`` in a session of its own and its commit: the job's
  transaction, without handing the new outbox rows to the broker after the commit (the relay's
  work, the same for every job);
* **limit**: ``bench/baselines/incremental_match.py``: one statement loads the volunteer, the
  compiled criteria kept in memory, one ``INSERT`` of the matches, commit.

Both must insert the same invitations; the volunteer's invitations and outbox rows are deleted
(untimed) before each side runs. Prints the medians and 95th percentiles with the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql as pgsql
from sqlalchemy import Engine, create_engine

from bench import v2_bench
from bench.baselines import incremental_match
from bench.criteria_bench import PG_SERVER, loaded_count, thousand_studies
from config.settings import load_settings
from panel_service.db import Database
from panel_service.domain.criteria import compile_criteria, criteria_hash, parse_json, to_json
from panel_service.domain.geo import site_points
from panel_service.domain.questions import seed_catalogue
from panel_service.services import matching
from panel_service.timeutil import panel_today

DATABASE = "panel_incremental_bench"
URL = f"{PG_SERVER}/{DATABASE}"


def use_database(name: str) -> None:
    """Run against ``name`` instead of ``panel_incremental_bench`` (two runs on one server)."""
    global DATABASE, URL
    DATABASE, URL = name, f"{PG_SERVER}/{name}"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def ensure_profiles(count: int) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(DATABASE)))
    engine: Engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}")
    try:
        if loaded_count(engine) != count:
            started = time.perf_counter()
            v2_bench.load(engine, count)
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "INSERT INTO consents (participant_id, kind, text_version) "
                    "SELECT id, 'contact_about_studies', '1' FROM participants"
                )
            print(f"loaded {count:,} v2 profiles in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        engine.dispose()


def study_criteria(count: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """``count`` (criteria JSON, sites): one in ten the v2 study with a varied distance."""
    v1 = iter(thousand_studies())
    sites = [
        {"name": "Rigshospitalet", "lat": 55.696, "lon": 12.566},
        {"name": "Aarhus Universitetshospital", "lat": 56.19, "lon": 10.17},
    ]
    rng = random.Random(15)
    found: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for number in range(count):
        if number % 10 == 9:
            criteria = json.loads(json.dumps(v2_bench.V2_STUDY))
            criteria["all"][-1]["value"] = rng.choice([30, 60, 100, 200])
            found.append((criteria, sites))
        else:
            found.append((to_json(next(v1)), []))
    return found


def recruit_studies(
    connection: psycopg.Connection[Any], count: int, today: Any
) -> list[incremental_match.Study]:
    """Remove every study (and what hangs off them), then ``count`` recruiting ones."""
    connection.execute("SET session_replication_role = replica")  # audit_events is insert-only
    connection.execute(
        "TRUNCATE invitations, match_chunks, match_runs, outbox, action_tokens, audit_events, "
        "ethics_approvals, study_versions, studies RESTART IDENTITY CASCADE"
    )
    connection.execute("SET session_replication_role = origin")
    connection.execute("DELETE FROM organisations")
    organisation = connection.execute(
        "INSERT INTO organisations (name) VALUES ('Bench') RETURNING id"
    ).fetchone()
    assert organisation is not None
    catalogue = seed_catalogue()
    studies = []
    for criteria, sites in study_criteria(count):
        node = parse_json(criteria, catalogue)
        study = connection.execute(
            "INSERT INTO studies (organisation_id, status) VALUES (%s, 'draft') RETURNING id",
            (organisation[0],),
        ).fetchone()
        assert study is not None
        version = connection.execute(
            "INSERT INTO study_versions (study_id, number, criteria, title, summary, organisation_name, sites, "
            "invitation_text, site_region, target_enrolment, content_hash, review_state) VALUES "
            "(%s, 1, %s, 'Bench', '', 'Bench', %s, 'Please take part.', 'DK-84', 100, %s, 'approved') "
            "RETURNING id",
            (
                study[0],
                json.dumps(criteria),
                json.dumps(sites),
                hashlib.sha256(f"{criteria_hash(node)}:{study[0]}".encode()).hexdigest(),
            ),
        ).fetchone()
        assert version is not None
        connection.execute(
            "INSERT INTO ethics_approvals (study_version_id, committee, kind, reference, approved_on, expires_on, "
            "letter_sha256) VALUES (%s, 'Bench IEC', 'IEC', 'B-1', %s, %s, %s)",
            (version[0], today.replace(year=today.year - 1), today.replace(year=today.year + 1), "0" * 64),
        )
        connection.execute(
            "UPDATE studies SET status = 'recruiting', active_version_id = %s, latest_version_id = %s WHERE id = %s",
            (version[0], version[0], study[0]),
        )
        points = site_points(sites)
        studies.append(incremental_match.Study(study[0], version[0], compile_criteria(node, points), points))
    connection.commit()
    return studies


@dataclass(frozen=True)
class Result:
    profiles: int
    studies: int
    runs: int
    panel_p50: float
    panel_p95: float
    limit_p50: float
    limit_p95: float
    invited: float  # invitations per volunteer, on average
    load: str

    @property
    def ratio(self) -> float:
        return self.panel_p50 / self.limit_p50


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def measure(profiles: int, studies: int, runs: int) -> Result:
    ensure_profiles(profiles)
    settings = load_settings(
        {"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}", "PANEL_ENV": "test"}
    )
    today = panel_today(settings)
    database = Database(settings)
    with psycopg.connect(URL) as limit_connection, psycopg.connect(URL, autocommit=True) as reset:
        recruited = recruit_studies(limit_connection, studies, today)
        matching._COMPILED.clear()  # the first match of the run reads and compiles them

        def forget(participant_id: int) -> None:
            reset.execute("DELETE FROM invitations WHERE participant_id = %s", (participant_id,))
            reset.execute("DELETE FROM outbox WHERE payload->>'participant_id' = %s", (str(participant_id),))

        def panel(participant_id: int) -> int:
            with database.session_scope() as session:
                return matching.match_volunteer(session, settings, participant_id)

        def limit(participant_id: int) -> int:
            return incremental_match.match(limit_connection, recruited, participant_id, today)

        step = max(1, profiles // (runs + 2))
        volunteers = [1 + number * step for number in range(runs + 2)]
        for warm in volunteers[:2]:  # compile the criteria, prepare the statements, warm the pools
            for action in (panel, limit):
                forget(warm)
                action(warm)
        timings: dict[str, list[float]] = {"panel": [], "limit": []}
        invited = 0
        for number, participant_id in enumerate(volunteers[2:]):
            order = [("panel", panel), ("limit", limit)]
            if number % 2:
                order.reverse()
            counts = {}
            for name, action in order:
                forget(participant_id)
                started = time.perf_counter()
                counts[name] = action(participant_id)
                timings[name].append(time.perf_counter() - started)
            if counts["panel"] != counts["limit"]:
                raise RuntimeError(
                    f"volunteer {participant_id}: Panel invited {counts['panel']}, the limit {counts['limit']}"
                )
            invited += counts["panel"]
    database.engine.dispose()
    return Result(
        profiles,
        studies,
        runs,
        statistics.median(timings["panel"]),
        p95(timings["panel"]),
        statistics.median(timings["limit"]),
        p95(timings["limit"]),
        invited / runs,
        load_average(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--studies", type=int, default=50)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--database", default=DATABASE, help=f"PostgreSQL database for the run (default {DATABASE})"
    )
    options = parser.parse_args()
    use_database(options.database)
    result = measure(options.profiles, options.studies, options.runs)
    print(
        f"incremental match, {result.studies} recruiting studies, {result.profiles:,} profiles, {result.runs} "
        f"volunteers ({result.invited:.2f} invitations each on average): Panel p50 {result.panel_p50 * 1000:.2f} ms "
        f"p95 {result.panel_p95 * 1000:.2f} ms; limit p50 {result.limit_p50 * 1000:.2f} ms "
        f"p95 {result.limit_p95 * 1000:.2f} ms; ratio {result.ratio:.2f}x; load average {result.load}"
    )


if __name__ == "__main__":
    main()
