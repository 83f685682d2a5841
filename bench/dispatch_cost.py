"""What one send costs, per email, in figures a loaded machine moves less than emails/s.

``python -m bench.dispatch_cost --emails 1500`` resets the queued invitations of the dispatch
rows' database (``bench.limits.dispatch_setup``: ``PANEL_BENCH_PIPELINE_DB``, default
``panel_limits_dispatch``), starts ``bench/smtp_sink.py``, and sends in this process the way ``contact.dispatch_due`` does
(``dispatch_one`` in a loop over one SMTP connection), after 50 unrecorded warm-up sends. It
prints, per email: wall time, the sending process's CPU time, the CPU time of the database's
PostgreSQL backends (from ``/proc``; run it on the database's host), the statements sent (the
engine's ``before_cursor_execute``; psycopg's own ``BEGIN`` and ``COMMIT`` are not among them,
and on PostgreSQL neither are the claim and the record, which go to psycopg directly: 0 there),
and the load average. Wall time follows the machine's load and its disk (two flushed commits
per email); the CPU times and the statements follow the code.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text

from bench import limits, pipeline_bench


def backend_cpu_seconds(engine: Engine) -> float:
    """CPU time so far of the other PostgreSQL backends connected to this database."""
    with engine.connect() as connection:
        pids = connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ).scalars()
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=1500, help="invitations queued (default 1,500)")
    options = parser.parse_args()
    warm_up = 50
    engine, sink, port = limits.dispatch_setup(options.emails, Path(os.devnull))
    pipeline_bench.reset_dispatch_queue(engine, options.emails)
    from config.settings import load_settings
    from panel_service.runtime import Runtime
    from panel_service.services.contact import jobs

    try:
        runtime = Runtime(load_settings(pipeline_bench.worker_env(port, 10_000)))
        statements = 0

        def count(*_args: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(runtime.database.engine, "before_cursor_execute", count)
        with runtime.mailer.batch() as mail:
            for _ in range(warm_up):
                jobs.dispatch_one(runtime, mail=mail)
            backend_before, statements = backend_cpu_seconds(engine), 0
            wall_before, cpu_before = time.perf_counter(), time.process_time()
            sent = 0
            while jobs.dispatch_one(runtime, mail=mail) is not None:
                sent += 1
            wall, cpu = time.perf_counter() - wall_before, time.process_time() - cpu_before
            backend = backend_cpu_seconds(engine) - backend_before
        runtime.close()
    finally:
        sink.terminate()
        sink.wait()
        engine.dispose()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"{sent} emails: wall {1000 * wall / sent:.2f} ms/email ({sent / wall:.0f} emails/s), "
        f"sender CPU {1000 * cpu / sent:.2f} ms/email, PostgreSQL backend CPU {1000 * backend / sent:.2f} "
        f"ms/email, {statements / sent:.2f} statements/email (load {load})"
    )


if __name__ == "__main__":
    main()
