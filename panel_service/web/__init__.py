"""Blueprints, one package per area. Each area's ``views`` module defines its ``bp`` and the
package re-exports it; ``BLUEPRINTS`` lists every area, so adding one is one line here."""

from __future__ import annotations

from flask import Blueprint, Flask

from panel_service.web import (
    accounts,
    admin,
    answers,
    api,
    coordinators,
    public,
    questions,
    review,
    volunteers,
)

BLUEPRINTS: tuple[Blueprint, ...] = (
    accounts.bp,
    admin.bp,
    answers.bp,
    api.bp,
    coordinators.bp,
    public.bp,
    questions.bp,
    review.bp,
    volunteers.bp,
)


def register_blueprints(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
