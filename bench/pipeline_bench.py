"""Pipeline benchmark: recruit → every invitation queued, and dispatch to a local SMTP server.

    python -m bench.pipeline_bench --profiles 100000 --workers 1 --workers 2

Loads N synthetic volunteers (``panel_service.synthetic.generate_volunteers``) into the
PostgreSQL database ``panel_pipeline_bench`` with COPY (reused when already loaded), then for
each worker count:

* match: a real ``celery -A workers worker -Q matching,...`` with that many pool processes; a
  study is set recruiting and ``matching.start_study`` enqueued in one transaction (as the
  studies service does); the time runs from that commit until the match run is finished (every
  invitation queued). Peak RSS (VmHWM) of each pool process is read from /proc.
* dispatch: the queued invitations (at most ``--emails``) reset to queued, a ``-Q contact``
  worker with that many processes sends them to an aiosmtpd server in this process; emails/s
  from the first claim to the last recorded send.

Uses Redis database 14 (``PANEL_BENCH_REDIS_URL`` to change) and flushes it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from panel_service.db import make_engine
from panel_service.domain.criteria import criteria_hash, parse_any, to_json
from panel_service.domain.criteria.summary import code_summary
from panel_service.domain.profile import bmi, normalise_atc, normalise_icd10
from panel_service.migrate import upgrade
from panel_service.synthetic import generate_volunteers

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("PANEL_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("PANEL_BENCH_PIPELINE_DB", "panel_pipeline_bench")
# One strong key per run (production settings refuse a guessable one); worker and publisher share it.
SECRET_KEY = secrets.token_urlsafe(48)
REDIS_URL = os.environ.get("PANEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# Production settings refuse a guessable key; one per benchmark run.
SECRET_KEY = secrets.token_urlsafe(48)
CRITERIA = {
    "broad": "age between 40 and 75 and (has condition I10 or has condition E11) and bmi between 25 and 40 "
    "and not has condition N18 and not pregnant",
    "narrow": "age between 18 and 75 and has condition G25.81 and not has condition N18 "
    "and not has condition D66 "
    "and not pregnant",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- data ----------------------------------------------------------------------------------------


def ensure_database(profiles: int, reload: bool) -> Engine:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
        if exists and reload:
            admin.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    engine = make_engine(f"{PG}/{DB_NAME}")
    upgrade(engine)
    with engine.connect() as connection:
        loaded = connection.execute(text("SELECT count(*) FROM profiles")).scalar_one()
    if loaded != profiles:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "TRUNCATE invitations, match_chunks, match_runs, outbox, action_tokens, "
                    "ethics_approvals, studies, study_versions, organisations, consents, "
                    "profile_conditions, profile_medications, "
                    "profiles, participants, accounts RESTART IDENTITY CASCADE"
                )
            )
        copy_volunteers(engine, profiles, ROOT / "bench" / "results" / "load")
    return engine


TABLES = {
    "accounts": "id, email, role, email_verified_at",
    "participants": "id, account_id, name, phone, language",
    "profiles": "participant_id, birth_date, sex, region, height_cm, weight_kg, bmi, smoker, pregnant, "
    "conditions_answered, medications_answered, condition_codes, medication_codes",
    "consents": "participant_id, kind, text_version",
    "profile_conditions": "participant_id, code",
    "profile_medications": "participant_id, code",
}


def _tsv(values: tuple[Any, ...]) -> str:
    return "\t".join("\\N" if value is None else str(value) for value in values) + "\n"


def _array(codes: list[str] | None, system: str) -> str | None:
    """The code summary of a list (domain.criteria.summary) as a ``text[]`` literal for COPY
    (codes and their ``=`` marks need no quoting); None for an unanswered list."""
    summary = code_summary(codes, system)
    return None if summary is None else "{" + ",".join(summary) + "}"


def copy_volunteers(engine: Engine, count: int, work: Path) -> None:
    """One pass of the generator into one text file per table, then one COPY per table, in
    foreign-key order on one connection (a connection runs one COPY at a time)."""
    started = time.monotonic()
    today = dt.date.today()
    work.mkdir(parents=True, exist_ok=True)
    files = {table: (work / f"{table}.tsv").open("w") for table in TABLES}
    for number, person in enumerate(generate_volunteers(count, seed=1, today=today), start=1):
        files["accounts"].write(_tsv((number, person["email"], "participant", "2026-01-01T00:00:00+00:00")))
        files["participants"].write(
            _tsv((number, number, person["name"], person["phone"], person["language"]))
        )
        conditions = (
            None
            if person["conditions"] is None
            else sorted({normalise_icd10(c) for c in person["conditions"]})
        )
        medications = (
            None
            if person["medications"] is None
            else sorted({normalise_atc(c) for c in person["medications"]})
        )
        files["profiles"].write(
            _tsv(
                (
                    number,
                    person["birth_date"],
                    person["sex"],
                    person["region"],
                    person["height_cm"],
                    person["weight_kg"],
                    bmi(person["height_cm"], person["weight_kg"]),
                    person["smoker"],
                    False if person["sex"] == "male" else person["pregnant"],
                    person["conditions"] is not None,
                    person["medications"] is not None,
                    _array(conditions, "icd10"),
                    _array(medications, "atc"),
                )
            )
        )
        if person["consent"]:
            files["consents"].write(_tsv((number, "contact_about_studies", "1")))
        for code in conditions or ():
            files["profile_conditions"].write(_tsv((number, code)))
        for code in medications or ():
            files["profile_medications"].write(_tsv((number, code)))
    for handle in files.values():
        handle.close()
    log(f"generated {count} volunteers in {time.monotonic() - started:.1f} s")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()  # type: ignore[attr-defined]
        for table, columns in TABLES.items():
            with (
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
                (work / f"{table}.tsv").open("rb") as data,
            ):
                while block := data.read(1 << 20):
                    copy.write(block)
            (work / f"{table}.tsv").unlink()
        for table in ("accounts", "participants"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {count})")
        raw.commit()
        # VACUUM merges the GIN pending list of the code summaries (filled by the COPY) into the index.
        raw.driver_connection.autocommit = True  # type: ignore[attr-defined]
        cursor.execute("VACUUM ANALYZE")
        # Back to transactions before the pool hands it out again: SQLAlchemy does not know the
        # driver's autocommit was set, and a later engine.begin() would run outside a transaction.
        raw.driver_connection.autocommit = False  # type: ignore[attr-defined]
    finally:
        raw.close()
    log(f"loaded {count} volunteers with COPY in {time.monotonic() - started:.1f} s")


def reset_pipeline(engine: Engine) -> None:
    # No CASCADE: organisations are referenced by accounts, which must survive.
    with engine.begin() as connection:
        # audit_events is insert-only (triggers); the benchmark's superuser may skip them.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text(
                "TRUNCATE respondent_outcomes, invitations, match_chunks, match_runs, outbox, action_tokens, "
                "audit_events, "
                "ethics_approvals, study_versions, studies RESTART IDENTITY"
            )
        )
        connection.execute(text("DELETE FROM organisations"))
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


# -- processes -----------------------------------------------------------------------------------


def worker_env(smtp_port: int | None, chunk_size: int) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PANEL_", "SMTP_", "CELERY_", "DATABASE_"))
    }
    env.update(
        {
            "DATABASE_URL": f"{PG}/{DB_NAME}",
            "CELERY_BROKER_URL": REDIS_URL,
            "PANEL_ENV": "production",
            "SECRET_KEY": SECRET_KEY,
            "LOG_LEVEL": "INFO",  # the worker says " ready." at INFO
            "PANEL_MATCH_CHUNK_SIZE": str(chunk_size),
            "PYTHONPATH": str(ROOT),
        }
    )
    if smtp_port is not None:
        env.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port)})
    return env


@contextlib.contextmanager
def worker(
    queues: str, processes: int, env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    handle = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={processes}",
            "-Q",
            queues,
            "-n",
            f"bench-{queues.split(',')[0]}-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while b" ready." not in log_path.read_bytes() and not answers_ping(env):
            # "ready." is an info line, which LOG_LEVEL=WARNING leaves out: a ping answered will do
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        warm_up(queues.split(",")[0], processes, env)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        handle.close()


def answers_ping(env: dict[str, str]) -> bool:
    """Whether a worker on the broker answers a control ping (it is consuming)."""
    from celery import Celery

    from config.celery import celery_settings
    from config.settings import load_settings

    client = Celery("bench-ping", set_as_current=False)
    client.conf.update(celery_settings(load_settings(env | {"PANEL_ENV": "test"})))
    try:
        return bool(client.control.ping(timeout=1.0))
    except Exception:  # not up yet
        return False
    finally:
        client.close()


def warm_up(queue: str, processes: int, env: dict[str, str]) -> None:
    """A fresh pool process builds its runtime (settings, engine, relay) on its first task, which
    takes a second or two here; a running production worker has long done that. Give every pool
    process a no-op task first (ids that do not exist) so the measurement starts warm."""
    from celery import Celery

    from config.celery import celery_settings
    from config.settings import load_settings

    client = Celery("bench-warm-up", set_as_current=False)
    client.conf.update(celery_settings(load_settings(env | {"PANEL_ENV": "test"})))
    task, kwargs = (
        ("matching.start_study", {"study_id": 0})
        if queue == "matching"
        else ("contact.send_invitation", {"study_id": 0, "participant_id": 0})
    )
    for _ in range(processes * 3):
        client.send_task(task, kwargs=kwargs, queue=queue, ignore_result=True)
    client.close()
    time.sleep(4.0)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def peak_rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- scenarios -----------------------------------------------------------------------------------


def recruit(engine: Engine, criteria: str, organisation: str = "Bench") -> tuple[int, float]:
    """Study + approved version + approval, status recruiting and the start_study outbox row in one
    transaction; the relay publishes after commit. Returns (study id, commit time)."""
    from config.settings import load_settings
    from panel_service.runtime import Runtime

    node = parse_any(criteria)
    settings = load_settings(worker_env(None, 10_000) | {"PANEL_ENV": "test"})
    runtime = Runtime(settings)
    try:
        from panel_service import outbox

        with runtime.database.session_scope() as session:
            org = session.execute(
                text("INSERT INTO organisations (name) VALUES (:n) RETURNING id"), {"n": organisation}
            ).scalar_one()
            study = session.execute(
                text("INSERT INTO studies (organisation_id, status) VALUES (:o, 'draft') RETURNING id"),
                {"o": org},
            ).scalar_one()
            version = session.execute(
                text(
                    "INSERT INTO study_versions (study_id, number, criteria, title, summary, "
                    "organisation_name, sites, invitation_text, site_region, target_enrolment, "
                    "content_hash, review_state) VALUES (:s, 1, :c, 'Bench', '', 'Bench', '[]', "
                    "'Please take part.', 'DK-84', 100, :h, 'approved') RETURNING id"
                ),
                {"s": study, "c": json.dumps(to_json(node)), "h": criteria_hash(node)},
            ).scalar_one()
            session.execute(
                text(
                    "INSERT INTO ethics_approvals (study_version_id, committee, kind, reference, "
                    "approved_on, "
                    "expires_on, letter_sha256) VALUES (:v, 'Bench IEC', 'IEC', 'B-1', :a, :e, :l)"
                ),
                {
                    "v": version,
                    "a": dt.date.today() - dt.timedelta(days=1),
                    "e": dt.date.today() + dt.timedelta(days=300),
                    "l": "0" * 64,
                },
            )
            session.execute(
                text(
                    "UPDATE studies SET status = 'recruiting', active_version_id = :v, "
                    "latest_version_id = :v WHERE id = :s"
                ),
                {"v": version, "s": study},
            )
            outbox.enqueue(session, "matching.start_study", {"study_id": study})
        committed = time.monotonic()
    finally:
        runtime.close()
    return study, committed


def measure_match(
    engine: Engine, processes: int, criteria: str, chunk_size: int, work: Path
) -> dict[str, Any]:
    reset_pipeline(engine)
    env = worker_env(None, chunk_size)
    with worker("matching,maintenance,default", processes, env, work / f"match-{processes}.log") as process:
        pool = children(process.pid)
        study, committed = recruit(engine, criteria)
        deadline = time.monotonic() + 600
        while True:
            with engine.connect() as connection:
                finished = connection.execute(
                    text("SELECT finished_at IS NOT NULL, chunks_total FROM match_runs WHERE study_id = :s"),
                    {"s": study},
                ).first()
            if finished and finished[0]:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("match did not finish in 10 minutes")
            time.sleep(0.02)
        elapsed = time.monotonic() - committed
        rss = [peak_rss_mib(pid) for pid in pool]
        with engine.connect() as connection:
            invited = connection.execute(text("SELECT count(*) FROM invitations")).scalar_one()
    log(
        f"match with {processes} process(es): {invited} invitations queued in {elapsed:.2f} s; peak RSS {rss}"
    )
    return {
        "processes": processes,
        "seconds": elapsed,
        "invitations": invited,
        "chunks": finished[1],
        "peak_rss_mib": max(rss or [0]),
    }


def reset_dispatch_queue(engine: Engine, emails: int) -> int:
    """Every invitation back to ``queued`` and then all but the first ``emails`` cancelled, no
    tokens, no contact jobs; vacuumed. Returns how many are queued."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM action_tokens"))
        connection.execute(text("DELETE FROM outbox WHERE task_name LIKE 'contact.%'"))
        connection.execute(
            text(
                "UPDATE invitations SET status = 'queued', reason = NULL, claimed_at = NULL, sent_at = NULL, "
                "cancelled_at = NULL, attempts = 0, next_attempt_at = NULL, message_id = NULL, "
                "lease_until = NULL, last_error = NULL"
            )
        )
        connection.execute(
            text(
                "UPDATE invitations SET status = 'cancelled', reason = 'other', cancelled_at = now() "
                "WHERE participant_id > (SELECT participant_id FROM invitations ORDER BY participant_id "
                "OFFSET :n LIMIT 1)"
            ),
            {"n": emails - 1},
        )
        queued = connection.execute(
            text("SELECT count(*) FROM invitations WHERE status = 'queued'")
        ).scalar_one()
    # The reset leaves a dead version of every row; a run on a table still full of them measures
    # the previous run's debris (autovacuum would clear it in production, at its own time).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) invitations, action_tokens, outbox"))
    return int(queued)


def measure_dispatch(
    engine: Engine, processes: int, emails: int, work: Path, smtp_port: int | None = None
) -> dict[str, Any]:
    """``smtp_port``: send to that server (``bench.limits`` runs ``bench/smtp_sink.py``) instead
    of an aiosmtpd counter in this process."""
    from aiosmtpd.controller import Controller

    from tests.support.services import SmtpRecorder, free_port

    class Counter(SmtpRecorder):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with self.received:
                self.envelopes.append(None)
            return "250 OK"

    queued = reset_dispatch_queue(engine, emails)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.delete("contact")
    client.close()
    recorder = Counter(port=smtp_port or free_port())
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    if smtp_port is None:
        controller.start()
    try:
        env = worker_env(recorder.port, 10_000)
        with worker("contact", processes, env, work / f"dispatch-{processes}.log"):
            # One dispatch task per process to start with; each keeps itself going while work remains.
            from config.settings import load_settings
            from panel_service.runtime import Runtime
            from panel_service.services import contact

            runtime = Runtime(load_settings(env | {"PANEL_ENV": "test"}))
            with runtime.database.session_scope() as session:
                for _ in range(processes):
                    contact.request_dispatch(session)
            runtime.close()
            deadline = time.monotonic() + 1200
            while True:
                with engine.connect() as connection:
                    left = connection.execute(
                        text("SELECT count(*) FROM invitations WHERE status IN ('queued', 'claimed')")
                    ).scalar_one()
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        with engine.connect() as connection:
            sent, first, last = connection.execute(
                text("SELECT count(*), min(claimed_at), max(sent_at) FROM invitations WHERE status = 'sent'")
            ).one()
    finally:
        if smtp_port is None:
            controller.stop()
    seconds = (last - first).total_seconds() if sent else float("nan")
    rate = sent / seconds if sent else 0.0
    log(
        f"dispatch with {processes} process(es): {sent}/{queued} sent in {seconds:.1f} s "
        f"= {rate:.0f} emails/s"
    )
    return {
        "processes": processes,
        "emails": sent,
        "seconds": seconds,
        "rate": rate,
        "smtp_received": len(recorder.envelopes) if smtp_port is None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--workers", type=int, action="append", choices=(1, 2))
    parser.add_argument("--criteria", choices=sorted(CRITERIA), default="broad")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--emails", type=int, default=5_000, help="invitations to dispatch per run")
    parser.add_argument("--skip-dispatch", action="store_true")
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    workers = args.workers or [1, 2]
    work = ROOT / "bench" / "results"
    work.mkdir(parents=True, exist_ok=True)
    engine = ensure_database(args.profiles, args.reload)
    results: dict[str, Any] = {
        "profiles": args.profiles,
        "criteria": args.criteria,
        "match": [],
        "dispatch": [],
    }
    for processes in workers:
        results["match"].append(
            measure_match(engine, processes, CRITERIA[args.criteria], args.chunk_size, work)
        )
        if not args.skip_dispatch:
            results["dispatch"].append(measure_dispatch(engine, processes, args.emails, work))
    out = work / f"pipeline-{args.profiles}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
