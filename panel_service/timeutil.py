"""Time helpers. Stored timestamps are UTC; SQLite hands them back naive, so compare with
``as_utc``. "Today" is the date in the panel's time zone (PANEL_TIMEZONE)."""

from __future__ import annotations

import datetime as dt

from config.settings import Settings


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def panel_today(settings: Settings, now: dt.datetime | None = None) -> dt.date:
    return (now or utcnow()).astimezone(settings.zone).date()


def day_start_utc(settings: Settings, day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in the panel's time zone, as a UTC timestamp."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=settings.zone).astimezone(dt.UTC)


def pause_ends_at(settings: Settings, paused_until: dt.date) -> dt.datetime:
    """When a volunteer's contact pause is over: the start of the day after ``paused_until`` (the
    pause holds through that whole day, panel time zone). Held invitations become due then."""
    return day_start_utc(settings, paused_until + dt.timedelta(days=1))
