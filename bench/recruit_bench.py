"""Recruit → all invitations queued, beside its hand-built limit: ``python -m bench.recruit_bench``.

Loads ``--profiles`` synthetic volunteers into the PostgreSQL database ``panel_recruit_bench``
(``bench.pipeline_bench``'s loader and data: the broad study matches about 10 %), then measures,
one after the other and the statements alternately (medians of ``--runs``):

* **Panel, end to end**: ``pipeline_bench.measure_match``: a real Celery worker with
  ``--processes`` pool processes, from the commit that sets the broad study recruiting to the
  last chunk done (``--chunk-size`` profiles a chunk);
* **Panel's statement**: the bulk match's ``INSERT … SELECT`` (compiled criteria AND contactable,
  ``ON CONFLICT DO NOTHING``) over every profile as one statement into ``invitations``, in this
  process, and the same with the foreign-key triggers off (``session_replication_role =
  replica``, the benchmark's superuser only: what the three FK checks cost), and the same
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

    @property
    def ratio(self) -> float:
        return self.end_to_end / self.limit


LEAN = Table(
    "lean_invitations", MetaData(), Column("study_id", BigInteger), Column("participant_id", BigInteger)
)


def _panel_select(study_id: int, version_id: int, today: Any) -> Any:
    node = parse_any(pipeline_bench.CRITERIA["broad"])
    return select(literal(study_id), profiles.c.participant_id, literal(version_id)).where(
        compile_where(node, today, "postgresql"), contactable_clause("postgresql", today)
    )


def measure(profiles_count: int, processes: int, chunk_size: int, runs: int) -> Result:
    pipeline_bench.DB_NAME = DATABASE
    engine: Engine = pipeline_bench.ensure_database(profiles_count, reload=False)
    work = pipeline_bench.ROOT / "bench" / "results"
    work.mkdir(parents=True, exist_ok=True)
    match = pipeline_bench.measure_match(
        engine, processes, pipeline_bench.CRITERIA["broad"], chunk_size, work
    )
    url = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
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
    with psycopg.connect(url) as raw:
        recruit_insert_select.build(raw)

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
            if len(set(counts.values()) | {match["invitations"]}) != 1:
                raise RuntimeError(f"different invitations: {counts}, end to end {match['invitations']}")
            if number:  # the first round warms the caches
                for name, (seconds, _) in results.items():
                    timings[name].append(seconds)
    engine.dispose()
    return Result(
        profiles_count,
        processes,
        chunk_size,
        match["invitations"],
        match["seconds"],
        statistics.median(timings["statement"]),
        statistics.median(timings["no_fk"]),
        statistics.median(timings["lean"]),
        statistics.median(timings["limit"]),
        per_row,
        load_average(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    result = measure(options.profiles, options.processes, options.chunk_size, options.runs)
    print(json.dumps(result.__dict__ | {"ratio": result.ratio}, indent=2, default=str))
    Path(pipeline_bench.ROOT / "bench" / "results" / f"recruit-{options.profiles}.json").write_text(
        json.dumps(result.__dict__, indent=2, default=str)
    )


if __name__ == "__main__":
    main()
