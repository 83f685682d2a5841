"""Locale choice: an explicit choice stored in the session wins, else the browser's preference."""

from __future__ import annotations

from flask import request, session

from panel_service.domain.vocab import LANGUAGES


def select_locale() -> str | None:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or "en"


def region_in_page_language(code: str | None) -> str:
    """The ``region`` template filter: a region code by its name in the page's language
    ("DK-84" → "Region Hovedstaden" in Danish), never the bare code (issue 13 item 4)."""
    from flask_babel import get_locale

    from panel_service.domain.regions import region_name

    if not code:
        return ""
    return region_name(code, str(get_locale() or "en")) or code
