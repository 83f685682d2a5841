"""Parsed criteria per study version: parsing is paid once per version, not once per profile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from panel_service.domain.criteria.json_form import parse_json
from panel_service.domain.criteria.model import Node
from panel_service.domain.questions import Catalogue

_PARSED: dict[tuple[int, str], Node] = {}


def criteria_of(
    version_id: int,
    content_hash: str,
    criteria: dict[str, Any],
    catalogue: Callable[[], Catalogue] | None = None,
) -> Node:
    """Parsed criteria, cached per version (immutable) and content hash; the compiled evaluator
    is in turn cached by value by ``compile_criteria``. ``catalogue`` loads the question catalogue
    (admin-added questions too) when the version is not cached yet; without it, the shipped seed.
    A question's key and type never change once answered, so a cached parse stays right."""
    key = (version_id, content_hash)
    node = _PARSED.get(key)
    if node is None:
        if len(_PARSED) > 4096:
            _PARSED.clear()
        node = _PARSED[key] = parse_json(criteria, catalogue() if catalogue is not None else None)
    return node
