"""The lower bound for a page that reads the database: a Flask app whose one view reads one
account by primary key from the same PostgreSQL database as Panel and answers it as JSON.

One psycopg connection per gunicorn worker, opened on first use (after the fork), autocommit:
no ORM, no session, no sign-in, no template. ``DATABASE_URL`` names the database (a plain
``postgresql://`` URL). Served by ``bench.web_bench`` with gunicorn as Panel is.
"""

from __future__ import annotations

import os
from typing import Any

import psycopg
from flask import Flask

app = Flask(__name__)
_connection: psycopg.Connection[Any] | None = None


def _database() -> psycopg.Connection[Any]:
    global _connection
    if _connection is None or _connection.closed:
        url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        _connection = psycopg.connect(url, autocommit=True)
    return _connection


@app.get("/account/<int:account_id>")
def account(account_id: int) -> tuple[dict[str, Any], int]:
    row = _database().execute("SELECT id, email, role FROM accounts WHERE id = %s", (account_id,)).fetchone()
    if row is None:
        return {"error": "not found"}, 404
    return {"id": row[0], "email": row[1], "role": row[2]}, 200
