"""Blueprints, one package per area. Each package exposes ``bp`` in its ``__init__`` or in
its ``views`` module; ``register_blueprints`` finds them, so adding an area touches no list."""

from __future__ import annotations

import importlib
import pkgutil

from flask import Blueprint, Flask


def register_blueprints(app: Flask) -> None:
    import panel_service.web as web

    for module in sorted(pkgutil.iter_modules(web.__path__), key=lambda m: m.name):
        if not module.ispkg:
            continue
        blueprint = _find_blueprint(f"panel_service.web.{module.name}")
        if blueprint is not None:
            app.register_blueprint(blueprint)


def _find_blueprint(package: str) -> Blueprint | None:
    found = getattr(importlib.import_module(package), "bp", None)
    if found is None:
        try:
            found = getattr(importlib.import_module(f"{package}.views"), "bp", None)
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.views":
                raise
    return found if isinstance(found, Blueprint) else None
