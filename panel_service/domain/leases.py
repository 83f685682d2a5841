"""Lease arithmetic for background work (outbox job runs and invitation claims).

A lease is a deadline on a row: while it is in the future, the row belongs to whoever took it;
once it is past, the reconciler (jobs) or the ambiguity detector (claims) takes over. Leases are
short and a heartbeat renews them while the work runs, so work lost with its process is noticed
within ``lease + sweep interval`` seconds, while work that runs long keeps its row.

The heartbeat renews every third of the lease, so two renewals may fail in a row (a slow
database, a busy machine) before the lease runs out. A holder that could not renew stops working
before its lease ends: ``must_stop`` says when.
"""

from __future__ import annotations

import datetime as dt

# The longest a publish lease grows (the lease a job has between being published and starting).
PUBLISH_LEASE_CAP_SECONDS = 300


def lease_end(now: dt.datetime, lease_seconds: float) -> dt.datetime:
    """The deadline of a lease taken or renewed at ``now``."""
    return now + dt.timedelta(seconds=lease_seconds)


def renew_every(lease_seconds: float) -> float:
    """Seconds between heartbeats: a third of the lease (at least half a second)."""
    return max(0.5, lease_seconds / 3)


def must_stop(last_renewed: dt.datetime, now: dt.datetime, lease_seconds: float) -> bool:
    """True once a holder that has not renewed since ``last_renewed`` must give up: one heartbeat
    interval before the lease ends, so it stops before anyone else can take the row over."""
    margin = dt.timedelta(seconds=renew_every(lease_seconds))
    return now >= lease_end(last_renewed, lease_seconds) - margin


def publish_lease_seconds(lease_seconds: float, publish_count: int) -> float:
    """The lease of a published job that has not started yet. The first is one lease; each
    re-publication of the same row (its message waited in a busy queue, or was lost with a
    worker) makes it one lease longer, up to five minutes, so a backlog is not published again
    every few seconds. A job that starts takes a fresh run lease, renewed by its heartbeat."""
    grown = lease_seconds * max(1, publish_count)
    return float(min(max(lease_seconds, PUBLISH_LEASE_CAP_SECONDS), grown))


def recovery_bound(lease_seconds: float, sweep_every_seconds: float) -> float:
    """The longest lost work stays unnoticed: its lease runs out, then the next sweep sees it."""
    return lease_seconds + sweep_every_seconds
