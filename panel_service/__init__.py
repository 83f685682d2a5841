"""Panel: research-panel participant matching service."""

from __future__ import annotations

from flask import Flask

from config.settings import Settings


def create_app(settings: Settings | None = None, *, start_background_jobs: bool | None = None) -> Flask:
    from panel_service.app import build_app

    return build_app(settings, start_background_jobs=start_background_jobs)
