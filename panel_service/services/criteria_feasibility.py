"""Feasibility of criteria still being written (the criteria builder, issue 13 item 8).

The same count as a study's feasibility query (``study_reports.feasibility``): volunteers who
could be invited today whose profile makes the criteria TRUE, and what each top-level criterion
leaves, protected as one attrition chain by ``domain.disclosure.protect_chain`` (P4). It is
audited as ``feasibility.query`` with the criteria hash and, like every feasibility query, the
caller counts it against the coordinator's feasibility budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from panel_service.domain.criteria import Node, criteria_hash, to_text
from panel_service.domain.geo import Sites
from panel_service.models import Account
from panel_service.services.audit import record
from panel_service.services.study_reports import Count, protected_counts


@dataclass(frozen=True)
class CriteriaCount:
    criteria_text: str
    criteria_hash: str
    on: dt.date
    matching: Count
    attrition: list[tuple[str, Count]]

    def as_dict(self) -> dict[str, object]:
        return {
            "criteria": self.criteria_text,
            "criteria_hash": self.criteria_hash,
            "on": self.on.isoformat(),
            "matching": self.matching,
            "attrition": [{"criterion": text, "remaining": count} for text, count in self.attrition],
        }


def count_criteria(
    session: Session,
    actor: Account,
    node: Node,
    *,
    today: dt.date,
    threshold: int,
    study_id: int | None = None,
    sites: Sites = (),
) -> CriteriaCount:
    """How many volunteers ``node`` would reach today and what each top-level criterion leaves,
    suppressed below ``threshold``. Audited (with the study when the criteria are a study's).
    ``sites`` are the study's, for ``distance_to_site_km`` (none: that leaf stays unknown)."""
    matching, attrition = protected_counts(session, node, today, sites, threshold)
    digest = criteria_hash(node)
    record(
        session,
        actor,
        "feasibility.query",
        "study" if study_id is not None else "criteria",
        study_id if study_id is not None else digest[:60],
        {"criteria_hash": digest, "on": today.isoformat(), "builder": True},
    )
    return CriteriaCount(
        criteria_text=to_text(node), criteria_hash=digest, on=today, matching=matching, attrition=attrition
    )
