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

Then the same generator against the same gunicorn settings serving the baselines in
``bench/baselines/`` (access log to stdout as Panel's config does): ``flask_pk_read`` (one
account read by primary key from the same database) and ``flask_trivial`` (a constant JSON
answer). Prints one line per path and a markdown table. Nothing leaves the loopback interface.
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
class WebResults:
    studies: LoadResult
    me: LoadResult
    healthz: LoadResult
    pk_read: LoadResult
    trivial: LoadResult


def warm_up(duration: float) -> float:
    """An unrecorded run before each measured one (caches, pools, lazy imports): a fifth of it."""
    return min(2.0, duration / 5)


def measure(duration: float, clients: int) -> WebResults:
    log(f"creating {DB_NAME} and seeding {STUDIES} studies, {VOLUNTEERS} volunteers")
    create_database()
    seeded = seed()
    with gunicorn("panel_service:create_app()", "/healthz", panel=True) as port:
        cookie = sign_in(port, seeded.volunteer_email, VOLUNTEER_PASSWORD)
        api = {"Authorization": f"Bearer {seeded.api_token}", "Accept": "application/json"}
        listed = json.loads(check(port, "/api/v1/studies", api))
        if len(listed["items"]) != STUDIES:
            raise RuntimeError(f"/api/v1/studies lists {len(listed['items'])} studies, not {STUDIES}")
        check(port, "/me", {"Cookie": cookie})
        results = []
        for path, headers in (("/api/v1/studies", api), ("/me", {"Cookie": cookie}), ("/healthz", {})):
            run_load(HOST, port, path, headers=headers, clients=clients, duration=warm_up(duration))
            result = run_load(HOST, port, path, headers=headers, clients=clients, duration=duration)
            log(f"panel {result.line()}")
            results.append(result)
    pk_path = f"/account/{seeded.account_id}"
    with gunicorn("bench.baselines.flask_pk_read:app", pk_path, panel=False) as port:
        run_load(HOST, port, pk_path, clients=clients, duration=warm_up(duration))
        pk_read = run_load(HOST, port, pk_path, clients=clients, duration=duration)
        log(f"flask_pk_read {pk_read.line()}")
    with gunicorn("bench.baselines.flask_trivial:app", "/healthz", panel=False) as port:
        run_load(HOST, port, "/healthz", clients=clients, duration=warm_up(duration))
        trivial = run_load(HOST, port, "/healthz", clients=clients, duration=duration)
        log(f"flask_trivial {trivial.line()}")
    return WebResults(studies=results[0], me=results[1], healthz=results[2], pk_read=pk_read, trivial=trivial)


def table(results: WebResults) -> str:
    rows = [
        ("Panel `GET /api/v1/studies` (20 studies, bearer token)", results.studies),
        ("Panel `GET /me` (signed-in volunteer)", results.me),
        ("Panel `GET /healthz`", results.healthz),
        ("baseline `flask_pk_read` (one PK read)", results.pk_read),
        ("baseline `flask_trivial` (constant JSON)", results.trivial),
    ]
    lines = ["| path | req/s | p50 ms | p99 ms | errors |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {name} | {r.rps:,.0f} | {r.p50:.1f} | {r.p99:.1f} | {r.errors} |" for name, r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per path (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients (default 8)")
    options = parser.parse_args(argv)
    print(table(measure(options.duration, options.clients)))


if __name__ == "__main__":
    main()
