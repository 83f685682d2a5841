"""Recruit → all invitations queued, beside its hand-built limit: ``python -m bench.recruit_bench``.

Loads ``--profiles`` synthetic volunteers into the PostgreSQL database ``panel_recruit_bench``
(``--database``; ``bench.pipeline_bench``'s loader and data: the broad study matches about 10 %),
then measures (medians of ``--runs``):

* **Panel, end to end**, interleaved with the limit: one real Celery worker with ``--processes``
  pool processes (``PANEL_MATCH_WORKERS`` the same, or ``--match-workers``), warmed by a first match of the narrow study,
  then ``--runs`` rounds of: a new broad study set recruiting, the time from its commit to the
  run finished (every invitation queued; ``--chunk-size`` the most profile ids a chunk), then
  the limit once. The load average is kept per round;
* then, alternately, **Panel's statement**: the bulk match's ``INSERT … SELECT`` (compiled criteria AND contactable,
  ``ON CONFLICT DO NOTHING``) over every profile as one statement into ``invitations``, in this
  process, and the same with the foreign-key triggers off (``session_replication_role =
  replica``, the benchmark's superuser only: what the invitation's key checks cost), and the same
  ``SELECT`` into ``lean_invitations`` (what the table costs: width, indexes, FKs);
* **limit**: ``bench/baselines/recruit_insert_select.py``: one lean ``INSERT … SELECT`` over code
  arrays into ``lean_invitations``.

Every variant must queue the same number of invitations. Prints the figures, the invitations'
bytes per row (heap, indexes) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import BigInteger, Column, Engine, MetaData, Table, literal, select, text
from sqlalchemy import insert as insert_into

from bench import pipeline_bench
from bench.baselines import recruit_insert_select
from panel_service.domain.criteria import parse_any
from panel_service.queries.criteria_sql import compile_where, profiles
from panel_service.queries.eligibility import contactable_clause
from panel_service.services.matching import _insert_ignoring_existing

DATABASE = "panel_recruit_bench"
CHUNK_SIZE = 125_000  # the setting's default


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


@dataclass(frozen=True)
class Result:
    profiles: int
    processes: int
    chunk_size: int
    invitations: int
    end_to_end: float
    statement: float
    statement_no_fk: float
    statement_lean: float
    limit: float
    bytes_per_row: dict[str, float]
    load: str
    limit_beside: float  # the limit's median in the end-to-end rounds, one after each match
    end_to_end_runs: list[float]
    limit_runs: list[float]
    loads: list[str]

    @property
    def ratio(self) -> float:
        return self.end_to_end / self.limit_beside


LEAN = Table(
    "lean_invitations", MetaData(), Column("study_id", BigInteger), Column("participant_id", BigInteger)
)


def _panel_select(study_id: int, version_id: int, today: Any) -> Any:
    node = parse_any(pipeline_bench.CRITERIA["broad"])
    return select(literal(study_id), profiles.c.participant_id, literal(version_id)).where(
        compile_where(node, today, "postgresql"), contactable_clause("postgresql", today)
    )


def _reset_round(engine: Engine) -> None:
    """Between two end-to-end rounds (untimed): no invitation, run or outbox row left. The studies
    stay, so each round's study and version are new (no per-version cache of the worker helps)."""
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text("TRUNCATE respondent_outcomes, invitations, match_chunks, match_runs, outbox, action_tokens")
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) invitations, outbox, match_chunks, match_runs"))


def _wait_finished(url: str, study: int, committed: float) -> float:
    with psycopg.connect(url, autocommit=True) as poll:
        deadline = time.monotonic() + 600
        while True:
            row = poll.execute(
                "SELECT finished_at IS NOT NULL FROM match_runs WHERE study_id = %s", (study,)
            ).fetchone()
            if row and row[0]:
                return time.monotonic() - committed
            if time.monotonic() > deadline:
                raise RuntimeError("match did not finish in 10 minutes")
            time.sleep(0.005)


def end_to_end(
    engine: Engine,
    url: str,
    processes: int,
    chunk_size: int,
    runs: int,
    code: Path | None = None,
    match_workers: int | None = None,
) -> tuple[list[float], list[float], list[str], int]:
    """``runs`` bulk matches of the broad study by one warm worker (a first match of the narrow
    study warms it: connections, imports, the relay's broker link), each followed by the limit:
    (Panel's seconds, the limit's seconds, the load average, invitations) round by round."""
    pipeline_bench.reset_pipeline(engine)
    env = pipeline_bench.worker_env(None, chunk_size) | {
        "PANEL_MATCH_WORKERS": str(match_workers or processes)
    }
    work = pipeline_bench.ROOT / "bench" / "results"
    root = pipeline_bench.ROOT
    if code is not None:  # the worker runs another checkout (a before/after comparison)
        env["PYTHONPATH"] = str(code)
        pipeline_bench.ROOT = code
    panel: list[float] = []
    limit: list[float] = []
    loads: list[str] = []
    invited = 0
    with (
        pipeline_bench.worker("matching,maintenance,default", processes, env, work / "recruit-worker.log"),
        psycopg.connect(url) as raw,
    ):
        study, committed = pipeline_bench.recruit(engine, pipeline_bench.CRITERIA["narrow"], "Bench warm-up")
        _wait_finished(url, study, committed)
        for number in range(runs):
            time.sleep(0.5)  # the last chunk's task completes its outbox row after finishing the run
            _reset_round(engine)
            loads.append(load_average())
            study, committed = pipeline_bench.recruit(
                engine, pipeline_bench.CRITERIA["broad"], f"Bench {number}"
            )
            panel.append(_wait_finished(url, study, committed))
            with engine.connect() as connection:
                count = connection.execute(
                    text("SELECT count(*) FROM invitations WHERE study_id = :s"), {"s": study}
                ).scalar_one()
                today = connection.execute(
                    text("SELECT match_date FROM match_runs WHERE study_id = :s"), {"s": study}
                ).scalar_one()
            seconds, rows = recruit_insert_select.insert(raw, study, today)
            if rows != count or (invited and count != invited):
                raise RuntimeError(f"Panel queued {count} invitations, the limit {rows}")
            invited = count
            limit.append(seconds)
        time.sleep(0.5)
    pipeline_bench.ROOT = root
    return panel, limit, loads, invited


def measure(
    profiles_count: int,
    processes: int,
    chunk_size: int,
    runs: int,
    database: str = DATABASE,
    code: Path | None = None,
    match_workers: int | None = None,
) -> Result:
    pipeline_bench.DB_NAME = database
    engine: Engine = pipeline_bench.ensure_database(profiles_count, reload=False)
    url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    with psycopg.connect(url) as raw:
        recruit_insert_select.build(raw)
    panel_runs, limit_runs, loads, invited = end_to_end(
        engine, url, processes, chunk_size, runs, code, match_workers
    )
    url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    with engine.connect() as connection:
        study_id, version_id = connection.execute(
            text("SELECT id, active_version_id FROM studies ORDER BY id DESC LIMIT 1")
        ).one()
        today = connection.execute(
            text("SELECT match_date FROM match_runs WHERE study_id = :s"), {"s": study_id}
        ).scalar_one()
        sizes = connection.execute(
            text(
                "SELECT pg_relation_size('invitations'), pg_indexes_size('invitations'), count(*) FROM invitations"
            )
        ).one()
    heap, indexes, rows = sizes
    per_row = {"heap": heap / max(rows, 1), "indexes": indexes / max(rows, 1)}
    source = _panel_select(study_id, version_id, today)
    insert = _insert_ignoring_existing(  # the bulk match's statement, over every profile at once
        "postgresql", ["study_id", "participant_id", "study_version_id"], source
    )
    node = parse_any(pipeline_bench.CRITERIA["broad"])
    lean = (
        insert_into(LEAN)
        .from_select(
            ["study_id", "participant_id"],
            select(literal(study_id), profiles.c.participant_id).where(
                compile_where(node, today, "postgresql"), contactable_clause("postgresql", today)
            ),
        )
        .execution_options(preserve_rowcount=True)
    )

    def panel_statement(replica: bool) -> tuple[float, int]:
        with engine.connect() as connection:
            connection.execute(text("SET session_replication_role = replica"))
            connection.execute(text("TRUNCATE invitations CASCADE"))
            connection.execute(text("SET session_replication_role = origin"))
            connection.commit()
            if replica:
                connection.execute(text("SET session_replication_role = replica"))
            started = time.perf_counter()
            count = connection.execute(insert).rowcount
            connection.commit()
            seconds = time.perf_counter() - started
            connection.execute(text("SET session_replication_role = origin"))
            connection.commit()
        return seconds, count

    def panel_lean() -> tuple[float, int]:
        with engine.connect() as connection:
            connection.execute(text("TRUNCATE lean_invitations"))
            connection.commit()
            started = time.perf_counter()
            count = connection.execute(lean).rowcount
            connection.commit()
            seconds = time.perf_counter() - started
        return seconds, count

    timings: dict[str, list[float]] = {"statement": [], "no_fk": [], "lean": [], "limit": []}
    with psycopg.connect(url) as raw:
        for number in range(runs + 1):
            results = {
                "statement": panel_statement(False),
                "no_fk": panel_statement(True),
                "lean": panel_lean(),
                "limit": recruit_insert_select.insert(raw, study_id, today),
            }
            counts = {name: count for name, (_, count) in results.items()}
            if len(set(counts.values()) | {invited}) != 1:
                raise RuntimeError(f"different invitations: {counts}, end to end {invited}")
            if number:  # the first round warms the caches
                for name, (seconds, _) in results.items():
                    timings[name].append(seconds)
    engine.dispose()
    return Result(
        profiles_count,
        processes,
        chunk_size,
        invited,
        statistics.median(panel_runs),
        statistics.median(timings["statement"]),
        statistics.median(timings["no_fk"]),
        statistics.median(timings["lean"]),
        statistics.median(timings["limit"]),
        per_row,
        load_average(),
        statistics.median(limit_runs),
        panel_runs,
        limit_runs,
        loads,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--chunk-size", type=int, default=CHUNK_SIZE, help="PANEL_MATCH_CHUNK_SIZE (the most ids a chunk)"
    )
    parser.add_argument(
        "--match-workers", type=int, help="PANEL_MATCH_WORKERS for the worker (default: --processes)"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", default=DATABASE, help=f"PostgreSQL database (default {DATABASE})")
    parser.add_argument(
        "--code", type=Path, help="run the worker from this checkout instead (e.g. the code before a change)"
    )
    options = parser.parse_args()
    result = measure(
        options.profiles,
        options.processes,
        options.chunk_size,
        options.runs,
        options.database,
        options.code,
        options.match_workers,
    )
    print(json.dumps(result.__dict__ | {"ratio": result.ratio}, indent=2, default=str))
    Path(pipeline_bench.ROOT / "bench" / "results" / f"recruit-{options.profiles}.json").write_text(
        json.dumps(result.__dict__, indent=2, default=str)
    )


if __name__ == "__main__":
    main()
