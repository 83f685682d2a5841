"""The small crash storm in ``make test``: a few thousand volunteers, about a minute of faults.

``make chaos`` runs the full size (20,000 volunteers, three seeds); see tests/chaos/storm.py for
what the storm does and checks. Private PostgreSQL and Redis instances: with CI=true a missing
server binary is an error, never a skip.
"""

from __future__ import annotations

import os

import pytest

from tests.chaos import storm

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(600)]


def test_a_small_crash_storm_loses_nothing_and_sends_nothing_twice() -> None:
    seed = int(os.environ.get("PANEL_CHAOS_SEED", "11"))
    ok, line = storm.run(seed=seed, volunteers=2000, duration=30)
    print(line)
    assert ok, line
