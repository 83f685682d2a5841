"""Dates and moments as people read them, registered on the app by the factory.

English is written the British way ("23 April 1980", "2 December 2026, 14:05"), never the US
order that Babel's plain ``en`` locale gives; Danish as Danes write it ("23. april 1980"). One
place for every page and email rendered through Flask, so no template formats a date itself."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from babel.dates import format_date, format_datetime
from flask_babel import get_locale

from panel_service.extensions import settings
from panel_service.timeutil import as_utc

if TYPE_CHECKING:
    from flask import Flask

# Babel's "en" is US English; the panel writes English the British way.
_BABEL_LOCALE = {"en": "en_GB", "da": "da_DK"}
_DATE_PATTERNS = {"da": "d. MMMM y", "en": "d MMMM y"}
_SHORT_DATE_PATTERNS = {"da": "d. MMM y", "en": "d MMM y"}
_MOMENT_PATTERNS = {"da": "d. MMMM y 'kl.' HH.mm", "en": "d MMMM y, HH:mm"}


def _language() -> str:
    language = str(get_locale() or "en").split("_")[0]
    return language if language in _DATE_PATTERNS else "en"


def readable_date(
    value: str | dt.date | dt.datetime | None, style: str = "long", *, language: str | None = None
) -> str:
    """A calendar date: "23 April 1980" / "23. april 1980" ("medium": "23 Apr 1980").
    A moment is first put in the panel's time zone, so a late-evening UTC time keeps its local day."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = (
            dt.datetime.fromisoformat(value) if "T" in value or " " in value else dt.date.fromisoformat(value)
        )
    if isinstance(value, dt.datetime):
        value = as_utc(value).astimezone(settings().zone).date()
    lang = language or _language()
    patterns = _SHORT_DATE_PATTERNS if style in {"short", "medium"} else _DATE_PATTERNS
    return str(format_date(value, patterns[lang], locale=_BABEL_LOCALE[lang]))


def panel_time(value: str | dt.datetime | None, *, language: str | None = None) -> str:
    """A moment in the panel's time zone: "2 December 2026, 14:05" in English (British order),
    "2. december 2026 kl. 14.05" in Danish."""
    if value is None or value == "":
        return ""
    moment = as_utc(dt.datetime.fromisoformat(value) if isinstance(value, str) else value)
    lang = language or _language()
    return str(
        format_datetime(moment, _MOMENT_PATTERNS[lang], tzinfo=settings().zone, locale=_BABEL_LOCALE[lang])
    )


def register_date_filters(app: Flask) -> None:
    """Called by the app factory after Flask-Babel: ``dateformat`` replaces Flask-Babel's own
    filter of that name (which writes English the US way), ``panel_date`` is its staff-page name,
    ``panel_time`` is the moment filter."""
    app.jinja_env.filters["dateformat"] = readable_date
    # The staff pages' day filter (``panel_date``) is the same British-order date.
    app.jinja_env.filters["panel_date"] = readable_date
    app.jinja_env.filters["panel_time"] = panel_time
