"""The study list's answer without marshmallow: what ``StudyList().dump(body)`` gives, built
directly, and each study's item kept as JSON text.

Dumping a page of twenty studies (each with two versions, their approvals and sites) through
marshmallow called some 700 field serialisers per request, about a quarter of the list's time.
The list is the API's most frequent read, so its view builds the same dictionaries here
(``study_item``) and writes the answer itself; ``@bp.output(StudyList)`` still documents the
shape (OpenAPI), and ``tests/integration/test_request_overhead.py`` holds the answer equal to
the marshmallow dump, byte for byte as ``jsonify`` writes it, on studies in every state. A field
added to ``StudyOut``, ``VersionOut``, ``ApprovalOut`` or ``SiteOut`` must be added here too
(the test fails until it is).

Since the third round of web work (docs/performance.md), ``study_page`` keeps each study's item
as JSON text under the study's page key and builds only the items of studies that changed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from panel_service.web.api.schemas import ApprovalOut, SiteOut, StudyOut, VersionOut

Convert = Callable[[Any], Any]


def _iso(value: dt.date | dt.datetime) -> str:
    return value.isoformat()


def _dict(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _fields(shape: Mapping[str, Convert]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Dump a mapping as a marshmallow schema does: declared keys only, a missing key left out,
    None kept as None, every other value converted."""

    def dump(source: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, convert in shape.items():
            if key in source:
                value = source[key]
                out[key] = None if value is None else convert(value)
        return out

    return dump


SITE: dict[str, Convert] = {"name": str, "lat": float, "lon": float}
APPROVAL: dict[str, Convert] = {
    "committee": str,
    "kind": str,
    "reference": str,
    "approved_on": _iso,
    "expires_on": _iso,
    "letter_sha256": str,
    "letter_filename": str,
}
_site = _fields(SITE)
_approval = _fields(APPROVAL)


def _sites(value: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [_site(site) for site in value]


VERSION: dict[str, Convert] = {
    "number": int,
    "review_state": str,
    "title": str,
    "summary": str,
    "organisation_name": str,
    "sites": _sites,
    "criteria": _dict,
    "criteria_text": str,
    "invitation_text": str,
    "site_region": str,
    "target_enrolment": int,
    "content_hash": str,
    "created_at": _iso,
    "submitted_at": _iso,
    "rejected_at": _iso,
    "rejection_reason": str,
    "approval": _approval,
}
_version = _fields(VERSION)
STUDY: dict[str, Convert] = {
    "id": int,
    "organisation_id": int,
    "title": str,
    "summary": str,
    "organisation_name": str,
    "sites": _sites,
    "status": str,
    "criteria": _dict,
    "criteria_text": str,
    "invitation_text": str,
    "site_region": str,
    "target_enrolment": int,
    "version": int,
    "active_version": _version,
    "pending_version": _version,
    "created_at": _iso,
    "updated_at": _iso,
}
study_item = _fields(STUDY)

# The schemas mirrored, each with the fields written for it: the test compares the two, so a
# field added to a schema fails the test instead of vanishing from the list's answer.
MIRRORED: dict[type, dict[str, Convert]] = {
    SiteOut: SITE,
    ApprovalOut: APPROVAL,
    VersionOut: VERSION,
    StudyOut: STUDY,
}


# --- the list's answer, kept per study -----------------------------------------------------------

# Each study's item as JSON text, under its page key (``services.studies.study_page_keys``):
# the key holds every column the item is made from that can change, and the id and content
# hash of each version whose content it shows, so an item kept here is what the item would be
# made from the same row again. Which studies a page holds, and who may see them, comes from the
# page's own statement on every request; nothing of one study is ever found under another's key.
_ITEMS: dict[tuple[Any, ...], str] = {}
_ITEMS_MAX = 4096


def _json_text(value: Any) -> str:
    """As Flask's ``jsonify`` writes it outside debug mode (ASCII, sorted keys, compact)."""
    return json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


def study_page(
    keys: list[tuple[Any, ...]],
    total: int,
    page: int,
    per_page: int,
    load: Callable[[list[int]], Mapping[int, tuple[tuple[Any, ...], Mapping[str, Any]]]],
) -> str:
    """The list's answer as JSON text: what ``jsonify(study_list(body))`` writes for the same
    studies. ``load`` gives, for the ids of studies not kept yet, each study's current key and
    its item before the dump (``study_json``); an item is kept only when that key is the one the
    page read (a study that changed in between is shown as loaded, and kept by a later request)."""
    items = [_ITEMS.get(key) for key in keys]
    missing = [key[0] for key, item in zip(keys, items, strict=True) if item is None]
    if missing:
        loaded = load(missing)
        for index, key in enumerate(keys):
            if items[index] is not None or key[0] not in loaded:
                continue  # kept, or gone since the page was read
            current, item = loaded[key[0]]
            text = _json_text(study_item(item))
            if current == key:
                if len(_ITEMS) >= _ITEMS_MAX:
                    _ITEMS.clear()
                _ITEMS[key] = text
            items[index] = text
    shown = ",".join(item for item in items if item is not None)
    return f'{{"items":[{shown}],"page":{int(page)},"per_page":{int(per_page)},"total":{int(total)}}}\n'
