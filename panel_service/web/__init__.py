"""Blueprints, one package per area, each exposing ``bp``."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from panel_service.web.accounts.views import bp as accounts_bp
    from panel_service.web.api import bp as api_bp
    from panel_service.web.coordinators import bp as coordinators_bp
    from panel_service.web.public.views import bp as public_bp
    from panel_service.web.review import bp as review_bp
    from panel_service.web.volunteers import bp as volunteers_bp

    for blueprint in (public_bp, accounts_bp, volunteers_bp, coordinators_bp, review_bp, api_bp):
        app.register_blueprint(blueprint)
