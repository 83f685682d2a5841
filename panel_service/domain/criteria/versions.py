"""Parsed criteria per study version: parsing is paid once per version, not once per profile."""

from __future__ import annotations

from typing import Any

from panel_service.domain.criteria.json_form import parse_json
from panel_service.domain.criteria.model import Node

_PARSED: dict[tuple[int, str], Node] = {}


def criteria_of(version_id: int, content_hash: str, criteria: dict[str, Any]) -> Node:
    """Parsed criteria, cached per version (immutable) and content hash; the compiled evaluator
    is in turn cached by value by ``compile_criteria``."""
    key = (version_id, content_hash)
    node = _PARSED.get(key)
    if node is None:
        if len(_PARSED) > 4096:
            _PARSED.clear()
        node = _PARSED[key] = parse_json(criteria)
    return node
