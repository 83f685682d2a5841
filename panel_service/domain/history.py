"""Condition and medication histories (product contract §4a): partial dates, durations, qualifiers.

A profile entry is a code, optionally with a ``status`` (``current`` or ``past``) and partial
dates ``since`` and ``until`` (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``). A partial date stands
for every day it covers: ``2025-11`` is any day from 1 to 30 November 2025. An ``until`` means
the entry ended, so an entry with ``until`` is ``past``. ``since`` never lies after ``until``.

A criteria leaf may carry qualifiers, each a test of one entry on the evaluation day:

- ``current: true`` / ``false``: the entry is / is not current;
- ``within: D``: present at some time on or after today - D (current, or ended on or after it;
  as ``since`` ≤ ``until``, a ``since`` on or after it also settles it);
- ``for_at_least: D``: current, and ``since`` on or before today - D.

An entry *definitely* satisfies the leaf's qualifiers when they hold for every status and every
pair of days its answer allows (with ``since`` ≤ ``until``), and *possibly* does when they hold
for some. ``definitely`` and ``possibly`` below are that, worked out on the date bounds (the
earliest and latest day a partial date covers) so the SQL compiler can say the same over stored
bounds; ``tests/unit/criteria/test_histories.py`` checks them against a brute force over days.

Durations are ISO 8601 with one component: ``P14D``, ``P2W``, ``P3M``, ``P1Y``. "today - P3M"
is the same day number three months earlier, clamped to the end of a shorter month (31 May -
P3M = 28 or 29 February); years likewise (29 February - P1Y = 28 February).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

STATUSES = ("current", "past")
PARTIAL_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
DURATION = re.compile(r"P([0-9]{1,5})([DWMY])")
DURATION_LIMITS = {"D": 36_600, "W": 5_200, "M": 1_200, "Y": 100}
UNIT_WORDS = {"D": ("day", "days"), "W": ("week", "weeks"), "M": ("month", "months"), "Y": ("year", "years")}
EARLIEST_YEAR = 1900


def partial_date_bounds(text: str) -> tuple[dt.date, dt.date]:
    """The first and last day ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` covers; ValueError if malformed."""
    match = PARTIAL_DATE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a date as YYYY, YYYY-MM or YYYY-MM-DD: {text!r}")
    year = int(match.group(1))
    if not EARLIEST_YEAR <= year <= 9998:
        raise ValueError(f"year out of range: {text!r}")
    if match.group(2) is None:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    month = int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"no such month: {text!r}")
    if match.group(3) is None:
        return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
    day = dt.date(year, month, int(match.group(3)))  # ValueError for 2025-02-30
    return day, day


def normalise_duration(text: str) -> str:
    """``p03m`` → ``P3M``; ValueError unless one positive component within its limit."""
    match = DURATION.fullmatch(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    amount, unit = int(match.group(1)), match.group(2)
    if not 1 <= amount <= DURATION_LIMITS[unit]:
        raise ValueError(f"duration out of range: {text!r}")
    return f"P{amount}{unit}"


def duration_words(duration: str) -> str:
    """``P3M`` → ``3 months``."""
    amount, unit = int(duration[1:-1]), duration[-1]
    one, many = UNIT_WORDS[unit]
    return f"{amount} {one if amount == 1 else many}"


def subtract_duration(day: dt.date, duration: str) -> dt.date:
    """``day`` - ``duration``; months and years clamp to the end of a shorter month."""
    amount, unit = int(duration[1:-1]), duration[-1]
    if unit == "D":
        return day - dt.timedelta(days=amount)
    if unit == "W":
        return day - dt.timedelta(weeks=amount)
    months = amount if unit == "M" else 12 * amount
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, order=True)
class Entry:
    """One condition or medication a volunteer reported, normalised.

    ``status`` is ``past`` whenever ``until`` is given; ``None`` fields are unknown.
    """

    code: str
    status: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def plain(self) -> bool:
        return self.status is None and self.since is None and self.until is None

    def to_json(self) -> str | dict[str, str]:
        if self.plain:
            return self.code
        entry = {"code": self.code, "status": self.status, "since": self.since, "until": self.until}
        return {key: value for key, value in entry.items() if value is not None}


def make_entry(code: str, status: object, since: object, until: object) -> Entry:
    """Validate the history of one code (already normalised); ValueError names the key at fault.

    The error message starts with the key (``since: ...``) so callers can place it.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"status: expected current or past, got {status!r}")
    bounds: dict[str, tuple[dt.date, dt.date]] = {}
    for key, value in (("since", since), ("until", until)):
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a date as YYYY, YYYY-MM or YYYY-MM-DD, got {value!r}")
        try:
            bounds[key] = partial_date_bounds(value)
        except ValueError:
            raise ValueError(
                f"{key}: expected a date as YYYY, YYYY-MM or YYYY-MM-DD, got {value!r}"
            ) from None
    if until is not None:
        if status == "current":
            raise ValueError("until: a current entry has no end date; use status past or leave until out")
        status = "past"
    if "since" in bounds and "until" in bounds and bounds["since"][0] > bounds["until"][1]:
        raise ValueError(f"until: {until!r} is before since {since!r}")
    return Entry(code, _text(status), _text(since), _text(until))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """An entry as the evaluator sees it: its date bounds worked out once."""

    code: str
    status: str | None
    since_lo: dt.date | None
    since_hi: dt.date | None
    until_lo: dt.date | None
    until_hi: dt.date | None
    since_text: str | None = None  # as the volunteer gave it, for explanations
    until_text: str | None = None


def entry_facts(entry: Entry) -> EntryFacts:
    since = partial_date_bounds(entry.since) if entry.since else (None, None)
    until = partial_date_bounds(entry.until) if entry.until else (None, None)
    return EntryFacts(
        entry.code, entry.status, since[0], since[1], until[0], until[1], entry.since, entry.until
    )


@dataclass(frozen=True)
class Thresholds:
    """A leaf's qualifiers resolved for one evaluation day."""

    current: bool | None
    within: dt.date | None  # today - within
    for_at_least: dt.date | None  # today - for_at_least


def thresholds(on: dt.date, current: bool | None, within: str | None, for_at_least: str | None) -> Thresholds:
    return Thresholds(
        current,
        None if within is None else subtract_duration(on, within),
        None if for_at_least is None else subtract_duration(on, for_at_least),
    )


def definitely(entry: EntryFacts, q: Thresholds) -> bool:
    """The qualifiers hold for every status and every day the entry's answer allows."""
    if q.current is not None and entry.status != ("current" if q.current else "past"):
        return False
    if q.within is not None and not (
        entry.status == "current"
        or (entry.until_lo is not None and entry.until_lo >= q.within)
        or (entry.since_lo is not None and entry.since_lo >= q.within)
    ):
        return False
    return q.for_at_least is None or (
        entry.status == "current" and entry.since_hi is not None and entry.since_hi <= q.for_at_least
    )


def possibly(entry: EntryFacts, q: Thresholds) -> bool:
    """The qualifiers hold for some status and some days the entry's answer allows.

    Exact for every combination the criteria validator admits (it refuses ``current: false``
    with ``for_at_least``, which no entry can satisfy).
    """
    if q.current is not None and entry.status == ("past" if q.current else "current"):
        return False
    if q.within is not None and (
        entry.status == "past" and entry.until_hi is not None and entry.until_hi < q.within
    ):
        return False
    return q.for_at_least is None or (
        entry.status != "past" and (entry.since_lo is None or entry.since_lo <= q.for_at_least)
    )


HISTORY_COLUMNS = ("status", "since", "until", "since_lo", "since_hi", "until_lo", "until_hi")


def history_values(entry: Entry) -> tuple[str | dt.date | None, ...]:
    """The stored history of ``entry`` in the order of ``HISTORY_COLUMNS`` (all None when plain)."""
    since = partial_date_bounds(entry.since) if entry.since else (None, None)
    until = partial_date_bounds(entry.until) if entry.until else (None, None)
    return (entry.status, entry.since, entry.until, since[0], since[1], until[0], until[1])


def history_row(entry: Entry) -> dict[str, str | dt.date | None]:
    return dict(zip(HISTORY_COLUMNS, history_values(entry), strict=True))
