"""Web benchmark: Panel's pages under gunicorn on PostgreSQL, beside two bare Flask baselines.

    python -m bench.web_bench [--duration 10] [--clients 8]

Creates the PostgreSQL database ``panel_web_bench`` afresh (``panel db upgrade``), seeds the demo
staff and study with a few hundred synthetic volunteers, 19 more studies for the same coordinator
(20 in all), an API token for the coordinator and a password for one volunteer with a profile,
then serves Panel with gunicorn (2 sync workers, ``-c python:config.gunicorn``, PANEL_ENV=
production) on a free loopback port, signs the volunteer in through the login page (CSRF token
and all) and drives, each for ``--duration`` seconds with ``--clients`` closed-loop clients
(``bench.loadgen``), each after an unrecorded warm-up of a fifth of that (at most 2 s):

* ``GET /api/v1/studies`` with the coordinator's bearer token (20 studies on the page);
* ``GET /me`` with the volunteer's session cookie (the dashboard);
* ``GET /healthz`` (database and broker checks).

The same generator drives, with the same gunicorn settings (access log to stdout as Panel's
config does), the baselines in ``bench/baselines/``: ``flask_pk_read`` (one account read by
primary key from the same database) and ``flask_trivial`` (a constant JSON answer). All three
servers run side by side and ``--rounds`` rounds each measure every path once, Panel's and the
baselines' alternately, so that load which comes and goes on a shared machine falls on both
sides of a ratio; req/s are medians over the rounds, a ratio is the median of the rounds'
ratios, and the 1-minute load average is printed beside every run. Nothing leaves the loopback
interface.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.loadgen import LoadResult, fetch_status, run_load

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_SERVER = os.environ.get("PANEL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("PANEL_BENCH_WEB_DB", "panel_web_bench")
DATABASE_URL = f"{PG_SERVER}/{DB_NAME}"
REDIS_URL = os.environ.get("PANEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
HOST = "127.0.0.1"
STUDIES = 20
VOLUNTEERS = 300
VOLUNTEER_PASSWORD = "web-bench-volunteer-password"  # noqa: S105 - a throw-away local database


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Seeded:
    api_token: str
    volunteer_email: str
    account_id: int


def base_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PANEL_", "SMTP_", "CELERY_", "DATABASE_"))
    }
    env.update({"DATABASE_URL": DATABASE_URL, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)})
    return env


def create_database() -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([str(BIN / "panel"), "db", "upgrade"], env=base_env(), check=True, cwd=ROOT)


def seed() -> Seeded:
    """Demo staff and study, 19 more studies, a token and a volunteer's password: through the
    services, on development settings (demo data is refused in production)."""
    from sqlalchemy import select

    from config.settings import load_settings
    from panel_service.models import Account, Participant, Profile
    from panel_service.runtime import Runtime
    from panel_service.services import accounts, studies
    from panel_service.services.demo import DEMO_STAFF, load_demo

    settings = load_settings({**base_env(), "PANEL_ENV": "development", "PANEL_IN_PROCESS_JOBS": "false"})
    runtime = Runtime(settings)
    try:
        load_demo(runtime, volunteers=VOLUNTEERS)
        with runtime.database.session_scope() as session:
            coordinator = accounts.find_account(session, DEMO_STAFF[0][0])
            assert coordinator is not None
            for number in range(2, STUDIES + 1):
                studies.create_study(
                    session,
                    coordinator,
                    studies.StudyFields(
                        title=f"Benchmark study {number}",
                        summary="Adults with high blood pressure.",
                        criteria="age between 40 and 75 and has condition I10 and not pregnant",
                        invitation_text="A study to benchmark the study list; nothing is asked of you.",
                        site_region="DK-84",
                        target_enrolment=50,
                    ),
                )
            token = accounts.create_api_token(session, coordinator, "web-bench")
            volunteer = session.scalars(
                select(Account)
                .join(Participant, Participant.account_id == Account.id)
                .join(Profile, Profile.participant_id == Participant.id)
                .order_by(Account.id)
                .limit(1)
            ).one()
            volunteer.password_hash = accounts.hash_password(settings, VOLUNTEER_PASSWORD)
            return Seeded(api_token=token, volunteer_email=volunteer.email, account_id=volunteer.id)
    finally:
        runtime.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(app: str, ready_path: str, *, panel: bool) -> Iterator[int]:
    port = free_port()
    env = base_env()
    args = [str(BIN / "gunicorn"), "-w", "2", "-k", "sync", "-b", f"{HOST}:{port}"]
    if panel:
        args += ["-c", "python:config.gunicorn"]
        env.update(
            {
                "PANEL_ENV": "production",
                "SECRET_KEY": secrets.token_urlsafe(48),
                "CELERY_BROKER_URL": REDIS_URL,
                "PANEL_BASE_URL": f"http://{HOST}:{port}",
            }
        )
    else:
        args += ["--access-logfile", "-"]
    # stderr to a file, not a pipe: a pipe nobody reads would block the workers once full.
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen([*args, app], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            request = f"GET {ready_path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    errors.seek(0)
                    raise RuntimeError(f"gunicorn {app} exited: {errors.read()[-4000:]}")
                with contextlib.suppress(OSError):
                    if fetch_status(HOST, port, request) == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn {app} did not answer {ready_path} within 60 s")
                time.sleep(0.2)
            # Both workers have imported the app and answered once before the clock starts.
            for _ in range(8):
                fetch_status(HOST, port, request)
            yield port
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _cookies(response: http.client.HTTPResponse, jar: dict[str, str]) -> None:
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]


def sign_in(port: int, email: str, password: str) -> str:
    """Sign in through the login page as a browser would; return the Cookie header value."""
    jar: dict[str, str] = {}
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request("GET", "/login")
    response = connection.getresponse()
    page = response.read().decode()
    _cookies(response, jar)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    if found is None:
        raise RuntimeError("no csrf_token on /login")
    from urllib.parse import urlencode

    body = urlencode({"csrf_token": found.group(1), "email": email, "password": password, "next": ""})
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request(
        "POST",
        "/login",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"sign-in answered {response.status}, not a redirect")
    _cookies(response, jar)
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def check(port: int, path: str, headers: dict[str, str]) -> bytes:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status} before the run")
    return body


@dataclass(frozen=True)
class Measured:
    """One path measured once per round; the figures are the median round's."""

    runs: tuple[LoadResult, ...]
    loads: tuple[float, ...]  # the 1-minute load average at the end of each run

    @property
    def median_run(self) -> LoadResult:
        return sorted(self.runs, key=lambda run: run.rps)[len(self.runs) // 2]

    @property
    def rps(self) -> float:
        return statistics.median(run.rps for run in self.runs)

    @property
    def p50(self) -> float:
        return self.median_run.p50

    @property
    def p99(self) -> float:
        return self.median_run.p99

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)

    def load_text(self) -> str:
        return " to ".join(f"{load:.1f}" for load in (min(self.loads), max(self.loads)))


@dataclass(frozen=True)
class WebResults:
    studies: Measured
    me: Measured
    healthz: Measured
    pk_read: Measured
    trivial: Measured

    @staticmethod
    def ratio(baseline: Measured, panel: Measured) -> float:
        """The baseline's req/s over Panel's, round by round (measured seconds apart), median."""
        return statistics.median(b.rps / p.rps for b, p in zip(baseline.runs, panel.runs, strict=True))


def warm_up(duration: float) -> float:
    """An unrecorded run before each path's first measured one (caches, pools, lazy imports)."""
    return min(2.0, duration / 5)


def measure(duration: float, clients: int, rounds: int = 3) -> WebResults:
    """All three servers run side by side; each round measures every path once, Panel's and the
    baselines' alternately (study list, one-PK read, /me, /healthz, trivial view), so load that
    comes and goes on the machine falls on both sides of each ratio."""
    log(f"creating {DB_NAME} and seeding {STUDIES} studies, {VOLUNTEERS} volunteers")
    create_database()
    seeded = seed()
    pk_path = f"/account/{seeded.account_id}"
    with contextlib.ExitStack() as servers:
        panel = servers.enter_context(gunicorn("panel_service:create_app()", "/healthz", panel=True))
        pk_port = servers.enter_context(gunicorn("bench.baselines.flask_pk_read:app", pk_path, panel=False))
        trivial_port = servers.enter_context(
            gunicorn("bench.baselines.flask_trivial:app", "/healthz", panel=False)
        )
        cookie = sign_in(panel, seeded.volunteer_email, VOLUNTEER_PASSWORD)
        api = {"Authorization": f"Bearer {seeded.api_token}", "Accept": "application/json"}
        listed = json.loads(check(panel, "/api/v1/studies", api))
        if len(listed["items"]) != STUDIES:
            raise RuntimeError(f"/api/v1/studies lists {len(listed['items'])} studies, not {STUDIES}")
        check(panel, "/me", {"Cookie": cookie})
        order = (
            ("studies", "panel", panel, "/api/v1/studies", api),
            ("pk_read", "flask_pk_read", pk_port, pk_path, {}),
            ("me", "panel", panel, "/me", {"Cookie": cookie}),
            ("healthz", "panel", panel, "/healthz", {}),
            ("trivial", "flask_trivial", trivial_port, "/healthz", {}),
        )
        runs: dict[str, list[LoadResult]] = {name: [] for name, *_ in order}
        loads: dict[str, list[float]] = {name: [] for name, *_ in order}
        for number in range(1, rounds + 1):
            for name, server, port, path, headers in order:
                if number == 1:
                    run_load(HOST, port, path, headers=headers, clients=clients, duration=warm_up(duration))
                result = run_load(HOST, port, path, headers=headers, clients=clients, duration=duration)
                load = os.getloadavg()[0]
                log(f"round {number}: {server} {result.line()} (load average {load:.2f})")
                runs[name].append(result)
                loads[name].append(load)
    measured = {name: Measured(tuple(runs[name]), tuple(loads[name])) for name in runs}
    return WebResults(**measured)


def table(results: WebResults) -> str:
    rows = [
        ("Panel `GET /api/v1/studies` (20 studies, bearer token)", results.studies),
        ("Panel `GET /me` (signed-in volunteer)", results.me),
        ("Panel `GET /healthz`", results.healthz),
        ("baseline `flask_pk_read` (one PK read)", results.pk_read),
        ("baseline `flask_trivial` (constant JSON)", results.trivial),
    ]
    lines = [
        "| path | req/s (median) | each round | p50 ms | p99 ms | errors | load average |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {name} | {m.rps:,.0f} | {' / '.join(f'{run.rps:,.0f}' for run in m.runs)} | {m.p50:.1f} "
        f"| {m.p99:.1f} | {m.errors} | {m.load_text()} |"
        for name, m in rows
    ]
    ratio = WebResults.ratio
    lines += [
        "",
        "| ratio (baseline req/s over Panel's, median of the rounds) | ratio | target |",
        "| --- | ---: | --- |",
        f"| study list vs one-PK read | {ratio(results.pk_read, results.studies):.1f}x | ≤ 3x |",
        f"| `/me` vs one-PK read | {ratio(results.pk_read, results.me):.1f}x | ≤ 2x |",
        f"| `/healthz` vs trivial view | {ratio(results.trivial, results.healthz):.1f}x | ≤ 1.5x |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per path (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all paths (default 3)")
    options = parser.parse_args(argv)
    print(table(measure(options.duration, options.clients, options.rounds)))


if __name__ == "__main__":
    main()
