"""Criteria engine benchmark: ``python -m bench.criteria_bench --profiles 100000 [--engine postgresql]``.

Loads N synthetic volunteers (``panel_service.synthetic``, seed 0) into a dedicated database
(PostgreSQL ``panel_bench`` via COPY; SQLite ``instance/panel_bench.sqlite`` via executemany in
one transaction), then for the narrow (about 3 %) and broad (about 11.5 %) criteria sets of
PERFORMANCE-NOTES measures, as medians of ``--runs`` runs after one warm-up:

* the compiled count query (``compile_where``) against the best hand-written SQL for the same
  criteria on the same schema (EXISTS on PostgreSQL, ``IN (SELECT ...)`` on SQLite);
* loading profiles through the ORM and evaluating them in Python (on at most ``--orm-profiles``
  profiles; a larger population is extrapolated linearly and marked so);
* one profile against 1,000 studies in memory.

Prints a markdown table and writes it to ``bench/results/criteria-<engine>-<N>.md``. A database
that already holds exactly N generated profiles is reused (``--reload`` forces a fresh load).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql as pgsql
from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.orm import Session, selectinload

import panel_service.models  # noqa: F401 - registers every table on Base.metadata
from panel_service.db import Base, make_engine
from panel_service.domain.criteria import Node, Truth, evaluate, evaluate_many, parse_json, parse_text
from panel_service.domain.criteria.evaluate import compile_criteria, profile_facts
from panel_service.domain.criteria.summary import code_summary
from panel_service.domain.profile import ProfileData, bmi, normalise_atc, normalise_icd10
from panel_service.models import Profile
from panel_service.models.types import JSONCodeList
from panel_service.queries.criteria_sql import birth_date_threshold, compile_where, profiles
from panel_service.synthetic import generate_volunteers

T = TypeVar("T")
TODAY = dt.date(2026, 11, 25)
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "panel_bench"
SQLITE_PATH = Path("instance/panel_bench.sqlite")
RESULTS = Path("bench/results")
NARROW_TEXT = (
    "age between 18 and 75 and has condition G25.81 and not has condition N18 and not has condition D66 "
    "and not pregnant"
)
BROAD_TEXT = (
    "age between 40 and 75 and (has condition I10 or has condition E11) and bmi between 25 and 40 "
    "and not has condition N18 and not pregnant"
)
PROFILE_COLUMNS = (
    "participant_id", "birth_date", "sex", "region", "height_cm", "weight_kg", "bmi", "smoker", "pregnant",
    "conditions_answered", "medications_answered", "condition_codes", "medication_codes",
)  # fmt: skip


# --- loading -------------------------------------------------------------------------------


def profile_rows(count: int) -> Iterator[tuple[tuple[Any, ...], list[str], list[str]]]:
    for number, volunteer in enumerate(generate_volunteers(count, seed=0, today=TODAY), start=1):
        conditions = volunteer["conditions"]
        medications = volunteer["medications"]
        condition_codes = sorted({normalise_icd10(code) for code in conditions or ()})
        medication_codes = sorted({normalise_atc(code) for code in medications or ()})
        row = (
            number,
            dt.date.fromisoformat(volunteer["birth_date"]),
            volunteer["sex"],
            volunteer["region"],
            volunteer["height_cm"],
            volunteer["weight_kg"],
            bmi(volunteer["height_cm"], volunteer["weight_kg"]),
            volunteer["smoker"],
            volunteer["pregnant"],
            conditions is not None,
            medications is not None,
            # The code summary (domain.criteria.summary), as Panel's writers store it.
            None if conditions is None else code_summary(condition_codes, "icd10"),
            None if medications is None else code_summary(medication_codes, "atc"),
        )
        yield row, condition_codes, medication_codes


def pg_engine(count: int, reload: bool) -> Engine:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone()
        if exists is None:
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(PG_DATABASE)))
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DATABASE}")
    if reload or loaded_count(engine) != count:
        started = time.perf_counter()
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        copy_profiles(engine, count)
        print(
            f"loaded {count:,} profiles into PostgreSQL in {time.perf_counter() - started:.1f} s", flush=True
        )
    return engine


def copy_profiles(engine: Engine, count: int) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        columns = ", ".join(PROFILE_COLUMNS)
        rows = list(profile_rows(count))
        with cursor.copy("COPY participants (id) FROM STDIN") as copy:
            for row, _, _ in rows:
                copy.write_row((row[0],))
        with cursor.copy(f"COPY profiles ({columns}) FROM STDIN") as copy:
            for row, _, _ in rows:
                copy.write_row(row)
        with cursor.copy("COPY profile_conditions (participant_id, code) FROM STDIN") as copy:
            for row, conditions, _ in rows:
                for code in conditions:
                    copy.write_row((row[0], code))
        with cursor.copy("COPY profile_medications (participant_id, code) FROM STDIN") as copy:
            for row, _, medications in rows:
                for code in medications:
                    copy.write_row((row[0], code))
        raw.commit()
        # VACUUM, not only ANALYZE: rows COPYed under an existing GIN index wait in its pending
        # list, which every && then scans in full until a vacuum merges it (autovacuum would, later).
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        cursor.execute("VACUUM ANALYZE")
        # Back to transactions before the pool hands it out again: SQLAlchemy does not know the
        # driver's autocommit was set, and a later engine.begin() would run outside a transaction.
        raw.driver_connection.autocommit = False  # type: ignore[union-attr]
    finally:
        raw.close()


def sqlite_engine(count: int, reload: bool) -> Engine:
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{SQLITE_PATH}")
    if reload or loaded_count(engine) != count:
        started = time.perf_counter()
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        rows = list(profile_rows(count))
        placeholders = ", ".join("?" for _ in PROFILE_COLUMNS)
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.executemany("INSERT INTO participants (id) VALUES (?)", [(row[0],) for row, _, _ in rows])
            as_json = JSONCodeList().process_bind_param
            cursor.executemany(
                f"INSERT INTO profiles ({', '.join(PROFILE_COLUMNS)}) VALUES ({placeholders})",
                [
                    (*row[:-2], as_json(row[-2], engine.dialect), as_json(row[-1], engine.dialect))
                    for row, _, _ in rows
                ],
            )
            cursor.executemany(
                "INSERT INTO profile_conditions (participant_id, code) VALUES (?, ?)",
                [(row[0], code) for row, conditions, _ in rows for code in conditions],
            )
            cursor.executemany(
                "INSERT INTO profile_medications (participant_id, code) VALUES (?, ?)",
                [(row[0], code) for row, _, medications in rows for code in medications],
            )
            raw.commit()
            cursor.execute("ANALYZE")
            raw.commit()
        finally:
            raw.close()
        print(f"loaded {count:,} profiles into SQLite in {time.perf_counter() - started:.1f} s", flush=True)
    return engine


def loaded_count(engine: Engine) -> int:
    """Profiles in a database loaded with the current schema, else -1 (a database loaded before
    the code summary existed is loaded again)."""
    try:
        with engine.connect() as connection:
            connection.execute(select(profiles.c.condition_codes, profiles.c.medication_codes).limit(1)).all()
            return int(connection.execute(select(func.count()).select_from(profiles)).scalar_one())
    except Exception:
        return -1


# --- the hand-written SQL ------------------------------------------------------------------


def hand_written(set_name: str, dialect: str) -> tuple[str, dict[str, object]]:
    """What an expert writes for the same criteria on the same schema, per PERFORMANCE-NOTES."""
    low, high = (18, 75) if set_name == "narrow" else (40, 75)
    params: dict[str, object] = {
        "oldest": birth_date_threshold(TODAY, high + 1),
        "youngest": birth_date_threshold(TODAY, low),
    }

    def has(codes: str) -> str:
        if dialect == "postgresql":
            return (
                "EXISTS (SELECT 1 FROM profile_conditions c "
                f"WHERE c.participant_id = p.participant_id AND ({codes}))"
            )
        return f"p.participant_id IN (SELECT c.participant_id FROM profile_conditions c WHERE {codes})"

    def code_range(start: str, stop: str) -> str:
        return f"(c.code >= '{start}' AND c.code < '{stop}')"

    clauses = ["p.birth_date > :oldest", "p.birth_date <= :youngest", "p.conditions_answered"]
    if set_name == "narrow":
        clauses.append(has(code_range("G2581", "G2582")))
        clauses.append("NOT " + has(f"{code_range('N18', 'N19')} OR {code_range('D66', 'D67')}"))
    else:
        clauses.append(has(f"{code_range('I10', 'I11')} OR {code_range('E11', 'E12')}"))
        clauses.append("p.bmi BETWEEN 25 AND 40")
        clauses.append("NOT " + has(code_range("N18", "N19")))
    clauses.append("(p.sex = 'male' OR p.pregnant = false)")
    return "SELECT count(*) FROM profiles p WHERE " + " AND ".join(clauses), params


# --- timing --------------------------------------------------------------------------------


def median_seconds(action: Callable[[], T], runs: int, warm_up: bool = True) -> tuple[float, T]:
    if warm_up:
        action()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def interleaved_medians(
    first: Callable[[], T], second: Callable[[], T], runs: int
) -> tuple[float, T, float, T]:
    """Medians of two queries run alternately, so that drift on a shared machine hits both alike."""
    first(), second()
    first_timings, second_timings = [], []
    for _ in range(runs):
        started = time.perf_counter()
        first_result = first()
        middle = time.perf_counter()
        second_result = second()
        first_timings.append(middle - started)
        second_timings.append(time.perf_counter() - middle)
    return statistics.median(first_timings), first_result, statistics.median(second_timings), second_result


def orm_count(engine: Engine, node: Node, limit: int) -> int:
    """The naive way: every profile through the ORM (lists eagerly loaded), evaluated in Python."""
    matched = 0
    with Session(engine) as session:
        query = (
            select(Profile)
            .where(Profile.participant_id <= limit)
            .options(selectinload(Profile.conditions), selectinload(Profile.medications))
            .execution_options(yield_per=5_000)
        )
        for profile in session.scalars(query):
            data = ProfileData(
                birth_date=profile.birth_date,
                sex=profile.sex,
                region=profile.region,
                height_cm=profile.height_cm,
                weight_kg=profile.weight_kg,
                smoker=profile.smoker,
                pregnant=profile.pregnant,
                conditions=tuple(c.code for c in profile.conditions) if profile.conditions_answered else None,
                medications=tuple(m.code for m in profile.medications)
                if profile.medications_answered
                else None,
            )
            matched += evaluate(node, data, TODAY) is Truth.TRUE
    return matched


def thousand_studies(seed: int = 1) -> list[Node]:
    """1,000 plausible, different studies: the two sets with varied ages, codes and extras."""
    rng = random.Random(seed)
    conditions = ["G25.81", "I10", "E11", "J45", "F32", "M54.5", "K21", "N18", "E78.5", "I48"]
    medications = ["A12CC", "C10AA", "N06AB", "B01AC06", "H03AA01", "A10BA02"]
    studies: list[Node] = []
    for _ in range(1_000):
        low = rng.randint(18, 50)
        parts: list[dict[str, object]] = [
            {"field": "age", "op": "between", "value": [low, low + rng.randint(10, 40)]},
            {"any": [{"condition": code} for code in rng.sample(conditions, rng.randint(1, 3))]},
            {
                "not": {
                    "any": [
                        {"condition": "N17-N19"},
                        {"condition": "D66"},
                        {"field": "pregnant", "op": "eq", "value": True},
                    ]
                }
            },
            {"not": {"medication": rng.choice(medications)}},
        ]
        if rng.random() < 0.5:
            parts.append(
                {"field": "bmi", "op": "between", "value": [rng.choice([18.5, 25]), rng.choice([30, 35, 40])]}
            )
        if rng.random() < 0.3:
            parts.append(
                {
                    "field": "region",
                    "op": "in",
                    "value": rng.sample(["DK-81", "DK-82", "DK-83", "DK-84", "DK-85"], 2),
                }
            )
        studies.append(parse_json({"all": parts}))
    return studies


@dataclass
class Row:
    engine: str
    criteria: str
    compiled: float
    hand: float
    orm: float
    orm_note: str
    matches: int


def measure_engine(
    name: str, engine: Engine, count: int, runs: int, orm_profiles: int, orm_runs: int
) -> list[Row]:
    rows: list[Row] = []
    orm_limit = min(count, orm_profiles)
    for set_name, criteria_text in (("narrow", NARROW_TEXT), ("broad", BROAD_TEXT)):
        node = parse_text(criteria_text)
        compiled_query = select(func.count()).select_from(profiles).where(compile_where(node, TODAY, name))
        hand_sql, params = hand_written(set_name, name)
        with engine.connect() as connection:

            def run_compiled(connection: Connection = connection, query: Any = compiled_query) -> int:
                return int(connection.execute(query).scalar_one())

            def run_hand(
                connection: Connection = connection, sql: str = hand_sql, params: dict[str, object] = params
            ) -> int:
                return int(connection.execute(text(sql), params).scalar_one())

            compiled_seconds, compiled_count, hand_seconds, hand_count = interleaved_medians(
                run_compiled, run_hand, runs
            )
        assert compiled_count == hand_count, (set_name, compiled_count, hand_count)

        def run_orm(node: Node = node) -> int:
            return orm_count(engine, node, orm_limit)

        orm_seconds, orm_matches = median_seconds(run_orm, orm_runs, warm_up=False)
        if orm_limit == count:
            assert orm_matches == compiled_count, (set_name, orm_matches, compiled_count)
            note = "measured"
        else:
            orm_seconds *= count / orm_limit
            note = f"extrapolated from {orm_limit:,}"
        print(
            f"{name} {set_name}: compiled {compiled_seconds:.3f} s, hand {hand_seconds:.3f} s, "
            f"ORM {orm_seconds:.1f} s ({note}), {compiled_count:,} match",
            flush=True,
        )
        rows.append(Row(name, set_name, compiled_seconds, hand_seconds, orm_seconds, note, compiled_count))
    return rows


def measure_in_memory(runs: int = 200) -> tuple[float, float, float]:
    """(median ms for 1,000 precompiled studies, ms to compile all 1,000 once, ms via evaluate())."""
    studies = thousand_studies()
    profile = ProfileData(
        birth_date=dt.date(1970, 3, 1), sex="female", region="DK-84", height_cm=168.0, weight_kg=80.0,
        smoker=False, pregnant=False, conditions=("G2581", "I10"), medications=("N02BE01",),
    )  # fmt: skip
    compile_criteria.cache_clear()
    started = time.perf_counter()
    checks = [compile_criteria(study) for study in studies]
    compile_ms = (time.perf_counter() - started) * 1000

    def precompiled() -> list[Truth]:
        facts = profile_facts(profile, TODAY)
        return [check(facts) for check in checks]

    precompiled_seconds, _ = median_seconds(precompiled, runs)
    via_cache_seconds, _ = median_seconds(lambda: evaluate_many(studies, profile, TODAY), runs)
    return precompiled_seconds * 1000, compile_ms, via_cache_seconds * 1000


def markdown(count: int, rows: list[Row], in_memory: tuple[float, float, float]) -> str:
    lines = [
        f"Profiles: {count:,} (seed 0, ages on {TODAY}); medians; ratios are of seconds.",
        "",
        "| engine | criteria | matches | compiled count | hand-written | compiled / hand "
        "| ORM + Python | ORM / compiled |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.engine} | {row.criteria} | {row.matches:,} ({row.matches / count:.1%}) "
            f"| {row.compiled * 1000:.0f} ms | {row.hand * 1000:.0f} ms | {row.compiled / row.hand:.2f} "
            f"| {row.orm:.1f} s ({row.orm_note}) | {row.orm / row.compiled:.0f} |"
        )
    precompiled_ms, compile_ms, via_cache_ms = in_memory
    lines += [
        "",
        f"One profile against 1,000 studies in memory: {precompiled_ms:.2f} ms with the compiled "
        f"criteria kept by the caller, {via_cache_ms:.2f} ms through `evaluate_many` (compiled "
        f"criteria found in the cache by value); compiling the 1,000 studies the first time: "
        f"{compile_ms:.0f} ms.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--engine", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--orm-profiles", type=int, default=100_000, help="measure the ORM loop on at most this many"
    )
    parser.add_argument("--orm-runs", type=int, default=3)
    parser.add_argument("--reload", action="store_true", help="reload the data even if the count matches")
    parser.add_argument("--in-memory-only", action="store_true", help="only 1 profile vs 1,000 studies")
    args = parser.parse_args()
    if args.in_memory_only:
        print(markdown(args.profiles, [], measure_in_memory()))
        return
    engines = ["postgresql", "sqlite"] if args.engine == "both" else [args.engine]
    rows: list[Row] = []
    for name in engines:
        engine = (
            pg_engine(args.profiles, args.reload)
            if name == "postgresql"
            else sqlite_engine(args.profiles, args.reload)
        )
        rows += measure_engine(name, engine, args.profiles, args.runs, args.orm_profiles, args.orm_runs)
        engine.dispose()
    report = markdown(args.profiles, rows, measure_in_memory())
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"criteria-{args.engine}-{args.profiles}.md").write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
