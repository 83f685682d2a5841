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
