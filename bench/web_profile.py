"""Where one request's time goes: Panel's benchmarked pages under cProfile, in one process.

    python -m bench.web_profile [--requests 300] [--top 25] [--path /me] [--no-seed]

Seeds the database of ``bench.web_bench`` (``PANEL_BENCH_WEB_DB``, default ``panel_web_bench``)
the same way, builds the app with the production settings gunicorn gets there, signs the
volunteer in through the login page with the test client, then sends ``--requests`` GETs to
each path (after 20 unrecorded ones) under ``cProfile`` and prints, per path: the mean time per
request in this process (no HTTP server, no network), the SQL statements one request sends
(SQLAlchemy's ``before_cursor_execute``), and the functions with the most cumulative and own
time. It measures nothing against a baseline: the figures are for finding overhead, the
ratios come from ``bench.web_bench``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import secrets
import time
from typing import Any

from sqlalchemy import event

from bench import web_bench

PATHS = ("/api/v1/studies", "/me", "/healthz")


def make_app() -> Any:
    from config.settings import load_settings
    from panel_service import create_app

    env = web_bench.base_env()
    env.update(
        {
            "PANEL_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "CELERY_BROKER_URL": web_bench.REDIS_URL,
            "PANEL_BASE_URL": "http://127.0.0.1:8000",
        }
    )
    return create_app(load_settings(env), start_background_jobs=False)


def sign_in(client: Any, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert found is not None, "no csrf_token on /login"
    response = client.post(
        "/login",
        data={
            "csrf_token": found.group(1),
            "email": email,
            "password": web_bench.VOLUNTEER_PASSWORD,
            "next": "",
        },
    )
    assert response.status_code == 302, response.status_code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="profiled GETs per path")
    parser.add_argument("--top", type=int, default=25, help="functions listed per path")
    parser.add_argument("--path", action="append", help="only this path (repeatable)")
    parser.add_argument(
        "--sort", default="cumulative", choices=("cumulative", "tottime"), help="order of the list"
    )
    options = parser.parse_args(argv)
    web_bench.create_database()
    seeded = web_bench.seed()
    app = make_app()
    engine = app.extensions["panel_runtime"].database.engine
    client = app.test_client()
    sign_in(client, seeded.volunteer_email)
    api = {"Authorization": f"Bearer {seeded.api_token}", "Accept": "application/json"}
    for path in options.path or PATHS:
        headers = api if path.startswith("/api/") else {}
        for _ in range(20):
            assert client.get(path, headers=headers).status_code == 200, path
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any, seen: list[str] = seen) -> None:
            seen.append(" ".join(statement.split())[:150])

        event.listen(engine, "before_cursor_execute", record)
        client.get(path, headers=headers)
        event.remove(engine, "before_cursor_execute", record)
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for _ in range(options.requests):
            client.get(path, headers=headers)
        profile.disable()
        elapsed = time.perf_counter() - started
        print(f"\n=== {path}: {elapsed / options.requests * 1000:.2f} ms per request under cProfile")
        print(f"{len(seen)} statements:")
        for number, sql in enumerate(seen, 1):
            print(f"  {number}. {sql}")
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(options.sort).print_stats(options.top)
        print(out.getvalue())
    app.extensions["panel_runtime"].close()


if __name__ == "__main__":
    main()
