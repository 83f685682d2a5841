"""Matching at scale with profile version 2: ``python -m bench.v2_bench --profiles 1000000``.

Loads N synthetic volunteers (``panel_service.synthetic``, seed 0) into the PostgreSQL database
``panel_bench_v2`` by COPY: profiles with a home (95 %), condition and medication histories
(status, partial since/until), and about 20 catalogue answers each (some stale). A database that
already holds N profiles is reused (``--reload`` forces a fresh load). Then, as medians of
``--runs`` interleaved runs after a warm-up, it measures

* the version-2 study (``within``, ``question`` and ``distance_to_site_km`` leaves): Panel's
  compiled count against the hand-written query on the same schema (``bench/baselines/criteria_v2_hand.py``);
* the version-1 narrow and broad counts of ``bench.criteria_bench``: compiled, hand-written, and
  the code-array limit of PERFORMANCE-NOTES (``text[]`` + GIN, ``bench/baselines/criteria_text_array.py``).

Every pair of counts must agree. Prints a markdown table with the load average and writes it to
``bench/results/v2-<N>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql as pgsql
from sqlalchemy import Engine, create_engine, func, select, text

import panel_service.models  # noqa: F401 - registers every table on Base.metadata
from bench.baselines import criteria_text_array, criteria_v2_hand
from bench.criteria_bench import (
    BROAD_TEXT,
    NARROW_TEXT,
    PG_SERVER,
    PROFILE_COLUMNS,
    RESULTS,
    TODAY,
    hand_written,
    interleaved_medians,
    loaded_count,
    profile_rows,
)
from panel_service.db import Base
from panel_service.domain.criteria import Node, parse_json, parse_text
from panel_service.domain.geo import site_points
from panel_service.domain.history import history_values, make_entry
from panel_service.domain.questions import answer_to_json, answer_value, seed_catalogue
from panel_service.queries.criteria_sql import compile_where, profiles
from panel_service.synthetic import answers, generate_volunteers, history_entry, home_point

PG_DATABASE = "panel_bench_v2"
SITES = site_points(
    [
        {"name": "Rigshospitalet", "lat": 55.696, "lon": 12.566},
        {"name": "Aarhus Universitetshospital", "lat": 56.19, "lon": 10.17},
    ]
)
DISTANCE_KM = 60
V2_STUDY = {
    "all": [
        {"field": "age", "op": "between", "value": [40, 75]},
        {"condition": "I10", "within": "P2Y"},
        {"not": {"condition": "N17-N19"}},
        {"question": "smoking_status", "op": "in", "value": ["current", "former"], "answered_within": "P2Y"},
        {"question": "alcohol_units_week", "op": "le", "value": 21},
        {"field": "distance_to_site_km", "op": "le", "value": DISTANCE_KM},
    ]
}
HISTORY = ("status", "since", "until", "since_lo", "since_hi", "until_lo", "until_hi")
ANSWER_COLUMNS = ("participant_id", "key", "value", "value_num", "value_text", "value_date", "answered_on")


def load(engine: Engine, count: int) -> dict[str, int]:
    """Fresh tables, then COPY with foreign-key triggers off (``session_replication_role``) and the
    secondary indexes built afterwards, as a bulk load does."""
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    catalogue = seed_catalogue()
    volunteers = list(generate_volunteers(count, seed=0, today=TODAY))
    rows = list(profile_rows(count))
    sizes = {"conditions": 0, "medications": 0, "answers": 0}
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SET session_replication_role = replica")
        indexes = cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname IN ('profiles', 'profile_conditions', 'profile_medications', 'profile_answers') "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        ).fetchall()
        for name, _ in indexes:
            cursor.execute(pgsql.SQL("DROP INDEX {}").format(pgsql.Identifier(name)))
        with cursor.copy("COPY participants (id) FROM STDIN") as copy:
            for row, _, _ in rows:
                copy.write_row((row[0],))
        rand = random.Random("v2:home").random
        with cursor.copy(
            f"COPY profiles ({', '.join(PROFILE_COLUMNS)}, home_lat, home_lon) FROM STDIN"
        ) as copy:
            for row, _, _ in rows:
                home = home_point(rand) or (None, None)
                copy.write_row((*row, *home))
        for table, position in (("profile_conditions", 1), ("profile_medications", 2)):
            rand = random.Random(f"v2:{table}").random
            with cursor.copy(f"COPY {table} (participant_id, code, {', '.join(HISTORY)}) FROM STDIN") as copy:
                for row in rows:
                    for code in row[position]:
                        entry = make_entry(code, *history_entry(rand, TODAY))
                        copy.write_row((row[0][0], code, *history_values(entry)))
                        sizes["conditions" if position == 1 else "medications"] += 1
        rand = random.Random("v2:answers").random
        with cursor.copy(f"COPY profile_answers ({', '.join(ANSWER_COLUMNS)}) FROM STDIN") as copy:
            for (row, _, _), volunteer in zip(rows, volunteers, strict=True):
                for key, value, answered_on in answers(rand, volunteer, TODAY):
                    question = catalogue[key]
                    typed = answer_value(question, list(value) if isinstance(value, tuple) else value)
                    number = float(typed) if question.type in ("boolean", "integer", "decimal") else None
                    words = None
                    if question.type == "choice":
                        words = typed
                    elif question.type == "multi_choice":
                        words = "|" + "|".join(sorted(typed)) + "|"  # type: ignore[arg-type]
                    copy.write_row(
                        (row[0], key, json.dumps(answer_to_json(typed)), number, words, None, answered_on)
                    )
                    sizes["answers"] += 1
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("SET session_replication_role = origin")
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return sizes


def pg_engine(count: int, reload: bool) -> Engine:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone()
        if exists is None:
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(PG_DATABASE)))
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DATABASE}")
    if reload or loaded_count(engine) != count:
        started = time.perf_counter()
        sizes = load(engine, count)
        print(
            f"loaded {count:,} profiles, {sizes['conditions']:,} condition and {sizes['medications']:,} "
            f"medication entries, {sizes['answers']:,} answers by COPY in {time.perf_counter() - started:.0f} s "
            f"(load {load_average()})",
            flush=True,
        )
    return engine


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def pair(
    engine: Engine, first: Callable[[Any], int], second: Callable[[Any], int], runs: int
) -> tuple[float, float, int]:
    with engine.connect() as connection:
        a_seconds, a_count, b_seconds, b_count = interleaved_medians(
            lambda: first(connection), lambda: second(connection), runs
        )
    assert a_count == b_count, (a_count, b_count)
    return a_seconds, b_seconds, a_count


def compiled(node: Node) -> Callable[[Any], int]:
    query = select(func.count()).select_from(profiles).where(compile_where(node, TODAY, "postgresql", SITES))
    return lambda connection: int(connection.execute(query).scalar_one())


def measure(engine: Engine, count: int, runs: int) -> list[str]:
    lines = [
        f"Profiles: {count:,} (seed 0, ages on {TODAY}); medians of {runs} interleaved runs; "
        f"load average before: {load_average()}.",
        "",
        "| count | matches | Panel (compiled) | limit beside it | Panel / limit | load avg |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    node = parse_json(V2_STUDY)
    excluded = parse_text("has condition N17-N19")
    ancestors = sorted(getattr(excluded, "ancestors", ()) or ())
    hand_sql, params = criteria_v2_hand.query(TODAY, SITES, DISTANCE_KM, ancestors)
    panel_s, hand_s, matches = pair(
        engine, compiled(node), lambda c: int(c.execute(text(hand_sql), params).scalar_one()), runs
    )
    lines.append(
        f"| v2 study (`within`, two `question`, `distance_to_site_km`) | {matches:,} | {panel_s * 1000:.0f} ms "
        f"| hand-written, same schema: {hand_s * 1000:.0f} ms | {panel_s / hand_s:.2f} | {load_average()} |"
    )
    print(lines[-1], flush=True)
    raw = psycopg.connect(f"{PG_SERVER}/{PG_DATABASE}")
    try:
        started = time.perf_counter()
        criteria_text_array.build(raw)
        print(f"built profiles_codes (text[] + GIN) in {time.perf_counter() - started:.0f} s", flush=True)
        for name, criteria_text in (("narrow", NARROW_TEXT), ("broad", BROAD_TEXT)):
            hand, hand_params = hand_written(name, "postgresql")
            panel_s, hand_s, matches = pair(
                engine, compiled(parse_text(criteria_text)),
                lambda c, sql=hand, p=hand_params: int(c.execute(text(sql), p).scalar_one()), runs,
            )  # fmt: skip
            array_sql, array_params = criteria_text_array.query(raw, name, TODAY)
            raw.commit()
            panel2_s, array_s, array_matches = pair(
                engine, compiled(parse_text(criteria_text)),
                lambda _c, sql=array_sql, p=array_params: criteria_text_array.count(raw, sql, p), runs,
            )  # fmt: skip
            assert array_matches == matches, (name, array_matches, matches)
            lines.append(
                f"| v1 {name} | {matches:,} | {panel_s * 1000:.0f} ms "
                f"| hand-written, same schema: {hand_s * 1000:.0f} ms | {panel_s / hand_s:.2f} | {load_average()} |"
            )
            print(lines[-1], flush=True)
            lines.append(
                f"| v1 {name} | {matches:,} | {panel2_s * 1000:.0f} ms "
                f"| codes as `text[]` + GIN: {array_s * 1000:.0f} ms | {panel2_s / array_s:.2f} | {load_average()} |"
            )
            print(lines[-1], flush=True)
    finally:
        raw.close()
    return lines


def main() -> None:
    global PG_DATABASE  # the loader and the measurements read the one name
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reload", action="store_true", help="reload the data even if the count matches")
    parser.add_argument(
        "--database", default=PG_DATABASE, help=f"PostgreSQL database (default {PG_DATABASE})"
    )
    args = parser.parse_args()
    PG_DATABASE = args.database
    engine = pg_engine(args.profiles, args.reload)
    report = "\n".join(measure(engine, args.profiles, args.runs))
    engine.dispose()
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"v2-{args.profiles}.md").write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
