"""The lower bound for ``/healthz``: a Flask app with one trivial JSON view and nothing else.

Served by ``bench.web_bench`` with gunicorn exactly as Panel is (2 sync workers, loopback,
access log to stdout): ``gunicorn -w 2 'bench.baselines.flask_trivial:app'``.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
