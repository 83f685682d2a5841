"""Panel beside its limits, measured in the same run: ``python -m bench.limits [--small]``.

Prints the table of issue 15 (performance) with, on every row, Panel's figure and the figure of
a hand-built lower bound for the same work (``bench/baselines/``) measured minutes apart on the
same machine, their ratio and the target ratio, so that anyone can repeat the comparison.

* The three web rows come from ``bench.web_bench`` (gunicorn, 2 sync workers, 8 closed-loop
  clients, ``--duration`` seconds per path and round, ``--rounds`` rounds with Panel and the
  baselines alternately): Panel's pages against ``flask_pk_read`` and ``flask_trivial``.
  Ratio = the baseline's req/s over Panel's, median of the rounds. ``--web-only`` runs just these.
* The criteria rows load ``--profiles`` synthetic profiles (``bench.criteria_bench``'s loader,
  into the database ``panel_limits_bench``; reused when it already holds that many) and time
  Panel's compiled count against ``baselines/criteria_text_array`` (codes as ``text[]`` with a
  GIN index); both answers must agree. Ratio = Panel's median over the baseline's.
* The import row writes ``--import-lines`` synthetic lines (``bench.make_import_file``) and
  times ``panel import profiles`` against ``baselines/import_copy`` (the same lines, one COPY
  per table), each into a freshly migrated database; both must write the same number of
  profiles. Ratio = Panel's seconds over the baseline's.
* The incremental-match row runs ``bench.incremental_bench`` (Panel's ``match_volunteer`` and its
  commit against ``baselines/incremental_match``, alternately, volunteer by volunteer, 50
  recruiting studies, profile version 2 data in ``panel_incremental_bench``); both must insert
  the same invitations. Ratio = Panel's median over the baseline's; the load average is shown.
* The recruit row runs ``bench.recruit_bench`` (a real 2-process Celery worker, warmed by one
  match, then 5 rounds of a new broad study, commit to last chunk, each followed by
  ``baselines/recruit_insert_select``: one lean ``INSERT … SELECT`` over code arrays; medians);
  both must queue the same invitations. Before/after in docs/performance.md ("Fewer chunks, and
  the starter matches one itself"): at 100,000 profiles 885 → 651 ms, 5.9x → 3.6x of the limit,
  load average 4 to 6.
* The dispatch rows send ``--emails`` invitations through a real ``celery -A workers worker -Q
  contact`` with 1 and 2 processes against ``baselines/dispatch_smtp_only`` (the SMTP path alone)
  with as many processes, both to one ``bench/smtp_sink.py``, alternately; medians, the load
  average beside each run on stderr. Ratio = the baseline's emails/s over Panel's; and Panel's
  scaling from 1 to 2 processes (target ≥ 1.7x).

``--small`` (the default) uses 20,000 profiles; ``--profiles 1000000`` for the issue's size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import Engine

from bench import criteria_bench, incremental_bench, recruit_bench, web_bench
from bench.baselines import criteria_text_array, dispatch_smtp_only, import_copy

GROUPS = ("web", "criteria", "import", "pipeline", "dispatch")


@dataclass(frozen=True)
class LimitRow:
    path: str
    panel: str
    limit: str
    ratio: float | None
    target: float
    note: str = ""
    target_text: str = ""  # instead of "≤ {target}x"

    def cells(self) -> list[str]:
        if self.ratio is None:
            return [
                self.path,
                self.panel,
                self.limit,
                "—",
                self.target_text or f"≤ {self.target:g}x",
                self.note,
            ]
        verdict = "met" if self.ratio <= self.target else "missed"
        return [self.path, self.panel, self.limit, f"{self.ratio:.1f}x", f"≤ {self.target:g}x", verdict]


def web_rows(duration: float, clients: int, rounds: int) -> list[LimitRow]:
    results = web_bench.measure(duration, clients, rounds)
    ratio = web_bench.WebResults.ratio

    def rps(result: web_bench.Measured) -> str:
        return (
            f"{result.rps:,.0f} req/s (p50 {result.p50:.1f} ms, p99 {result.p99:.1f} ms; "
            f"load average {result.load_text()})"
        )

    return [
        LimitRow(
            f"coordinator study list, API, 20 studies ({clients} clients)",
            rps(results.studies),
            f"one-PK-read Flask page {rps(results.pk_read)}",
            ratio(results.pk_read, results.studies),
            3,
        ),
        LimitRow(
            "volunteer dashboard `/me`",
            rps(results.me),
            f"one-PK-read Flask page {rps(results.pk_read)}",
            ratio(results.pk_read, results.me),
            2,
        ),
        LimitRow(
            "`/healthz`",
            rps(results.healthz),
            f"trivial Flask view {rps(results.trivial)}",
            ratio(results.trivial, results.healthz),
            1.5,
        ),
    ]


def criteria_rows(profiles: int, runs: int, database: str = "panel_limits_bench") -> list[LimitRow]:
    criteria_bench.PG_DATABASE = database
    engine = criteria_bench.pg_engine(profiles, reload=False)
    engine.dispose()
    url = f"{criteria_bench.PG_SERVER}/{database}"
    rows = []
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        criteria_text_array.build(connection)
        print(
            f"built profiles_codes (text[] + GIN) in {time.perf_counter() - started:.1f} s", file=sys.stderr
        )
        engine = criteria_bench.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}")
        for name, criteria in (("narrow", criteria_bench.NARROW_TEXT), ("broad", criteria_bench.BROAD_TEXT)):
            node = criteria_bench.parse_text(criteria)
            compiled = (
                criteria_bench.select(criteria_bench.func.count())
                .select_from(criteria_bench.profiles)
                .where(criteria_bench.compile_where(node, criteria_bench.TODAY, "postgresql"))
            )
            on_join_tables = (
                criteria_bench.select(criteria_bench.func.count())
                .select_from(criteria_bench.profiles)
                .where(criteria_bench.compile_where(node, criteria_bench.TODAY, "postgresql", summary=False))
            )
            sql, params = criteria_text_array.query(connection, name, criteria_bench.TODAY)
            with engine.connect() as panel_connection:
                panel_s, panel_count, limit_s, limit_count = criteria_bench.interleaved_medians(
                    lambda: int(panel_connection.execute(compiled).scalar_one()),  # noqa: B023
                    lambda: criteria_text_array.count(connection, sql, params),  # noqa: B023
                    runs,
                )
                # The layout before the code summary, same data, measured against it the same way.
                joins_s, joins_count, summary_s, _ = criteria_bench.interleaved_medians(
                    lambda: int(panel_connection.execute(on_join_tables).scalar_one()),  # noqa: B023
                    lambda: int(panel_connection.execute(compiled).scalar_one()),  # noqa: B023
                    runs,
                )
            if panel_count != limit_count or joins_count != panel_count:
                raise RuntimeError(
                    f"{name}: Panel counts {panel_count} ({joins_count} on the join tables), "
                    f"the text[] baseline {limit_count}"
                )
            print(
                f"{name}: join tables {joins_s * 1000:.1f} ms, code summary {summary_s * 1000:.1f} ms "
                f"({joins_s / summary_s:.1f}x faster; load average "
                f"{' '.join(f'{value:.2f}' for value in os.getloadavg())})",
                file=sys.stderr,
            )
            load = " ".join(f"{value:.2f}" for value in os.getloadavg())
            rows.append(
                LimitRow(
                    f"criteria count, {name} ({profiles:,} profiles, {panel_count:,} match)",
                    f"{panel_s * 1000:.1f} ms (load average {load})",
                    f"codes as `text[]` with GIN: {limit_s * 1000:.1f} ms",
                    panel_s / limit_s,
                    1.5,
                )
            )
        engine.dispose()
    return rows


def _fresh_database(name: str) -> str:
    with psycopg.connect(f"{criteria_bench.PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{criteria_bench.PG_SERVER}/{name}"
    env = {**web_bench.base_env(), "DATABASE_URL": url}
    subprocess.run([str(web_bench.BIN / "panel"), "db", "upgrade"], env=env, check=True, capture_output=True)
    return url


def import_row(lines: int) -> LimitRow:
    """``panel import profiles`` (the whole command, interpreter start included) against
    ``baselines/import_copy`` on the same file, each into a freshly migrated database."""
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "import.jsonl"
        subprocess.run(
            [sys.executable, "-m", "bench.make_import_file", str(lines), str(path)],
            check=True,
            cwd=web_bench.ROOT,
        )
        url = _fresh_database("panel_limits_import")
        env = {**web_bench.base_env(), "DATABASE_URL": url}
        started = time.perf_counter()
        subprocess.run(
            [str(web_bench.BIN / "panel"), "import", "profiles", str(path)],
            env=env,
            check=True,
            capture_output=True,
        )
        panel_s = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([str(web_bench.BIN / "panel"), "--help"], env=env, check=True, capture_output=True)
        start_s = time.perf_counter() - started
        with psycopg.connect(url) as connection:
            row = connection.execute("SELECT count(*) FROM profiles").fetchone()
            panel_profiles = int(row[0]) if row else 0
        url = _fresh_database("panel_limits_copy")
        started = time.perf_counter()
        copied = import_copy.copy_lines(path, url)
        limit_s = time.perf_counter() - started
    if panel_profiles != copied:
        raise RuntimeError(f"import: Panel wrote {panel_profiles} profiles, the COPY baseline {copied}")
    print(
        f"import, {lines} lines: Panel {panel_s:.2f} s (start {start_s:.2f} s), COPY {limit_s:.2f} s "
        f"(load {load_average()})",
        file=sys.stderr,
    )
    return LimitRow(
        f"bulk import, {lines:,} lines",
        f"{panel_s:.2f} s (`panel --help` alone: {start_s:.2f} s)",
        f"COPY of the same lines: {limit_s:.2f} s",
        panel_s / limit_s,
        4,
    )


def incremental_row(profiles: int, runs: int, database: str = incremental_bench.DATABASE) -> LimitRow:
    """``bench.incremental_bench``: Panel's incremental match and the hand-built one, alternately,
    one volunteer at a time against 50 recruiting studies (profile version 2 data), in the
    PostgreSQL database ``database``."""
    incremental_bench.DATABASE = database
    incremental_bench.URL = f"{incremental_bench.PG_SERVER}/{database}"
    result = incremental_bench.measure(profiles, 50, runs)
    return LimitRow(
        f"incremental match, 50 recruiting studies ({profiles:,} v2 profiles, {runs} volunteers; load {result.load})",
        f"p50 {result.panel_p50 * 1000:.1f} ms, p95 {result.panel_p95 * 1000:.1f} ms",
        f"load + evaluate + one insert: p50 {result.limit_p50 * 1000:.1f} ms, p95 {result.limit_p95 * 1000:.1f} ms",
        result.ratio,
        2,
    )


def recruit_row(profiles: int, runs: int, database: str = recruit_bench.DATABASE) -> LimitRow:
    """``bench.recruit_bench``: the bulk match with 2 worker processes, end to end, against one
    lean ``INSERT … SELECT`` over code arrays; Panel's own statement shown beside it."""
    result = recruit_bench.measure(profiles, 2, recruit_bench.CHUNK_SIZE, runs, database)
    return LimitRow(
        f"recruit → all invitations queued, broad, 2 processes ({profiles:,} profiles, "
        f"{result.invitations:,} invitations; load {result.load})",
        f"{result.end_to_end * 1000:.0f} ms (its INSERT…SELECT as one statement: {result.statement * 1000:.0f} ms)",
        f"one lean INSERT…SELECT over code arrays: {result.limit_beside * 1000:.0f} ms",
        result.ratio,
        2,
    )


def server_setting(name: str) -> str:
    """A setting of the benchmark's PostgreSQL server (the issue measured with shared_buffers 4 GB)."""
    with psycopg.connect(f"{criteria_bench.PG_SERVER}/postgres") as connection:
        row = connection.execute("SELECT current_setting(%s)", (name,)).fetchone()
    return str(row[0]) if row else "?"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def dispatch_setup(emails: int, sink_log: Path) -> tuple[Engine, subprocess.Popen[bytes], int]:
    """What the dispatch rows (and ``bench.dispatch_cost``) send from and to: the database of
    ``PANEL_BENCH_PIPELINE_DB`` (default ``panel_limits_dispatch``) with its volunteers and the
    invitations of the broad set (made when missing, then reused), and a ``bench/smtp_sink.py``
    process on a free port, listening. Returns the engine, the sink process and its port."""
    import socket

    os.environ.setdefault("PANEL_BENCH_PIPELINE_DB", "panel_limits_dispatch")
    os.environ.setdefault("PANEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    from bench import pipeline_bench

    pipeline_bench.DB_NAME = os.environ["PANEL_BENCH_PIPELINE_DB"]
    pipeline_bench.REDIS_URL = os.environ["PANEL_BENCH_REDIS_URL"]
    work = web_bench.ROOT / "bench" / "results"
    work.mkdir(parents=True, exist_ok=True)
    engine = pipeline_bench.ensure_database(max(40_000, emails * 12), reload=False)
    with engine.connect() as connection:
        invitations = connection.execute(pipeline_bench.text("SELECT count(*) FROM invitations")).scalar_one()
    if invitations < emails:
        pipeline_bench.measure_match(engine, 2, pipeline_bench.CRITERIA["broad"], 10_000, work)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.smtp_sink",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--out",
            str(sink_log),
        ],
        cwd=web_bench.ROOT,
        stdout=subprocess.PIPE,
    )
    assert sink.stdout is not None
    sink.stdout.readline()  # "listening"
    return engine, sink, port


def dispatch_rows(emails: int, rounds: int) -> list[LimitRow]:
    """Panel's dispatch (a real ``celery -A workers worker -Q contact`` with 1 and 2 processes,
    ``bench.pipeline_bench.measure_dispatch``) against ``baselines/dispatch_smtp_only`` with as
    many processes, both sending ``emails`` invitations to one ``bench/smtp_sink.py`` process,
    alternately (baseline, Panel, baseline, Panel ...), ``rounds`` of each; medians, with the
    load average beside each run. The volunteers and their queued invitations (the broad set
    over 40,000 synthetic profiles) are in the database ``panel_limits_dispatch``, reused."""
    import statistics

    from bench import pipeline_bench

    work = web_bench.ROOT / "bench" / "results"
    engine, sink, port = dispatch_setup(emails, work / "dispatch-sink.jsonl")
    rates: dict[tuple[str, int], list[float]] = {}
    try:
        for processes in (1, 2):
            for _ in range(rounds):
                load = load_average()
                rate = dispatch_smtp_only.send("127.0.0.1", port, emails, processes)
                print(
                    f"dispatch baseline, {processes} process(es): {rate:,.0f} emails/s (load {load})",
                    file=sys.stderr,
                )
                rates.setdefault(("limit", processes), []).append(rate)
                load = load_average()
                result = pipeline_bench.measure_dispatch(engine, processes, emails, work, smtp_port=port)
                if result["emails"] != emails:
                    raise RuntimeError(f"dispatch: {result['emails']} of {emails} sent")
                print(
                    f"dispatch Panel, {processes} process(es): {result['rate']:,.0f} emails/s (load {load})",
                    file=sys.stderr,
                )
                rates.setdefault(("panel", processes), []).append(result["rate"])
    finally:
        sink.terminate()
        sink.wait()
        engine.dispose()
    median = {key: statistics.median(values) for key, values in rates.items()}
    rows = []
    for processes in (1, 2):
        panel, limit = median[("panel", processes)], median[("limit", processes)]
        rows.append(
            LimitRow(
                f"dispatch, {processes} process{'es' if processes > 1 else ''} ({emails:,} emails, median of {rounds})",
                f"{panel:,.0f} emails/s",
                f"the SMTP path alone: {limit:,.0f} emails/s",
                limit / panel,
                3,
            )
        )
    scaling = median[("panel", 2)] / median[("panel", 1)]
    rows.append(
        LimitRow(
            "dispatch, 1 → 2 processes",
            f"{scaling:.2f}x the emails/s",
            f"the SMTP path alone: {median[('limit', 2)] / median[('limit', 1)]:.2f}x",
            None,
            1.7,
            "met" if scaling >= 1.7 else "missed",
            target_text="≥ 1.7x",
        )
    )
    return rows


def markdown(rows: list[LimitRow]) -> str:
    lines = [
        "| path | Panel | limit measured beside it | ratio | target | |",
        "| --- | --- | --- | ---: | --- | --- |",
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true", help="20,000 profiles (the default)")
    size.add_argument("--profiles", type=int, default=20_000, help="profiles for the criteria rows")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per web path (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop web clients (default 8)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per criteria query (default 15)")
    parser.add_argument("--import-lines", type=int, default=0, help="lines to import (default: --profiles)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="web rounds, Panel and baselines alternately (default 3)"
    )
    parser.add_argument(
        "--incremental-runs", type=int, default=300, help="volunteers matched incrementally (default 300)"
    )
    parser.add_argument(
        "--emails", type=int, default=3_000, help="invitations per dispatch run (default 3,000)"
    )
    parser.add_argument(
        "--dispatch-rounds", type=int, default=3, help="alternating dispatch runs per side (default 3)"
    )
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated groups of rows: {', '.join(GROUPS)} (default: all)",
    )
    parser.add_argument("--skip-web", action="store_true", help="every group but web")
    parser.add_argument("--web-only", action="store_true", help="only the three web rows (= --only web)")
    parser.add_argument(
        "--criteria-database",
        default="panel_limits_bench",
        help="PostgreSQL database for the criteria rows (default panel_limits_bench)",
    )
    parser.add_argument(
        "--incremental-database",
        default=incremental_bench.DATABASE,
        help=f"PostgreSQL database for the incremental-match row (default {incremental_bench.DATABASE})",
    )
    parser.add_argument(
        "--recruit-database",
        default=recruit_bench.DATABASE,
        help=f"PostgreSQL database for the recruit row (default {recruit_bench.DATABASE})",
    )
    options = parser.parse_args(argv)
    only = {"web"} if options.web_only else set(options.only.split(","))
    if options.skip_web:
        only.discard("web")
    unknown = only - set(GROUPS)
    if unknown:
        parser.error(
            f"--only: unknown group(s) {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}"
        )
    profiles = 20_000 if options.small else options.profiles
    started = dt.datetime.now(dt.UTC)
    start_load = load_average()
    print(
        f"Limits measured side by side, {started:%Y-%m-%d %H:%M} UTC, `python -m bench.limits {' '.join(argv or sys.argv[1:])}`"
        f" (load average {start_load} at the start; PostgreSQL shared_buffers {server_setting('shared_buffers')})"
    )
    print()
    print(markdown([]), flush=True)
    # Each group's rows are printed as soon as they are measured, so a failure in a later group
    # keeps the figures already taken.
    groups: dict[str, Callable[[], list[LimitRow]]] = {
        "web": lambda: web_rows(options.duration, options.clients, options.rounds),
        "criteria": lambda: criteria_rows(profiles, options.runs, options.criteria_database),
        "import": lambda: [import_row(options.import_lines or profiles)],
        "pipeline": lambda: [
            incremental_row(profiles, options.incremental_runs, options.incremental_database),
            recruit_row(profiles, 5, options.recruit_database),
        ],
        "dispatch": lambda: dispatch_rows(options.emails, options.dispatch_rounds),
    }
    for group in GROUPS:
        if group in only:
            for row in groups[group]():
                print("| " + " | ".join(row.cells()) + " |", flush=True)
    print()
    print(f"Load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
