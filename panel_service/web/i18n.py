"""Locale choice: an explicit choice stored in the session wins, else the browser's preference."""

from __future__ import annotations

from flask import request, session

from panel_service.domain.vocab import LANGUAGES


def select_locale() -> str | None:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or "en"
