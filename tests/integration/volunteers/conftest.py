from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from panel_service.extensions import limiter
from tests.support.volunteers import ensure_match_job


@pytest.fixture(autouse=True)
def _fresh_limits(app: Flask) -> Iterator[None]:
    """Rate-limit counters live in memory for the whole session; each test starts clean."""
    ensure_match_job()
    with app.app_context():
        limiter.reset()
    yield
