"""Lease arithmetic (panel_service/domain/leases.py): how soon lost work is noticed, how often a
heartbeat renews, when a holder that cannot renew must stop, how a publish lease grows."""

from __future__ import annotations

import datetime as dt

from config.celery import SCHEDULE
from config.settings import load_settings
from panel_service.domain import leases

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def test_a_lease_ends_its_length_after_it_is_taken() -> None:
    assert leases.lease_end(T0, 30) == T0 + dt.timedelta(seconds=30)


def test_the_heartbeat_renews_every_third_of_the_lease() -> None:
    assert leases.renew_every(30) == 10
    assert leases.renew_every(5) == 5 / 3
    assert leases.renew_every(1) == 0.5  # never a busy loop


def test_a_holder_that_cannot_renew_stops_one_interval_before_its_lease_ends() -> None:
    assert not leases.must_stop(T0, T0 + dt.timedelta(seconds=19), 30)
    assert leases.must_stop(T0, T0 + dt.timedelta(seconds=20), 30)
    assert leases.must_stop(T0, T0 + dt.timedelta(seconds=31), 30)


def test_a_publish_lease_grows_with_each_republication_up_to_five_minutes() -> None:
    assert [leases.publish_lease_seconds(30, n) for n in (0, 1, 2, 3, 10, 11, 100)] == [
        30,
        30,
        60,
        90,
        300,
        300,
        300,
    ]
    assert leases.publish_lease_seconds(600, 2) == 600  # never shorter than the lease itself


def test_lost_work_and_crashed_claims_are_noticed_within_a_minute_by_default() -> None:
    settings = load_settings({})
    every = {entry.task: entry.every_seconds for entry in SCHEDULE}
    reconcile, detect = every["outbox.reconcile"], every["contact.detect_ambiguous"]
    assert reconcile is not None and detect is not None
    assert leases.recovery_bound(settings.outbox_lease_seconds, reconcile) <= 60
    assert leases.recovery_bound(settings.claim_lease_seconds, detect) <= 60
