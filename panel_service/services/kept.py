"""What a volunteer's page works out from what it read, kept per process under everything it is
worked out from (the dashboard's explanations, sections' prompt and questions to ask).

A key names every input: the stored profile as read (``queries.matching.DashboardRow.
profile_key``: its columns, lists and answers), the question catalogue's stamp, the versions (id
and content hash: never edited in place, P5), the day, the language and, where they count, the
studies already inviting. An equal key gives an equal answer; any change to what the page reads
is a new key, worked out afresh on the very next page (P6), and nothing is kept that was not read
in this request. Shared by the process, emptied when it grows past ``MAX``."""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
MAX = 4096
_KEPT: dict[Hashable, Any] = {}


def remembered(key: Hashable | None, work: Callable[[], T]) -> T:
    """``work()``, or what it gave before under ``key``; None: no key, always ``work()``. What
    is kept must never be changed by its readers (tuples, frozen dataclasses)."""
    if key is None:
        return work()
    if key in _KEPT:
        return t.cast(T, _KEPT[key])
    value = work()
    if len(_KEPT) >= MAX:
        _KEPT.clear()
    _KEPT[key] = value
    return value
