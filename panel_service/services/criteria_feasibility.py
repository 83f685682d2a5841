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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from panel_service.domain.criteria import Node, criteria_hash, to_text
from panel_service.domain.disclosure import protect_chain
from panel_service.domain.geo import Sites
from panel_service.models import Account
from panel_service.queries.criteria_sql import attrition_counts, matching_ids
from panel_service.queries.eligibility import contactable_clause
from panel_service.services.audit import record
from panel_service.services.study_reports import Count


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
    dialect = session.get_bind().dialect.name
    base = contactable_clause(dialect, today, sites=sites)
    matching = matching_ids(node, today, dialect, sites).where(base).subquery()
    count = session.scalar(select(func.count()).select_from(matching)) or 0
    steps = attrition_counts(session.connection(), node, today, base_where=base, sites=sites)
    digest = criteria_hash(node)
    record(
        session,
        actor,
        "feasibility.query",
        "study" if study_id is not None else "criteria",
        study_id if study_id is not None else digest[:60],
        {"criteria_hash": digest, "on": today.isoformat(), "builder": True},
    )
    chain = protect_chain([remaining for _, remaining in steps] + [int(count)], threshold)
    return CriteriaCount(
        criteria_text=to_text(node),
        criteria_hash=digest,
        on=today,
        matching=chain[-1],
        attrition=[(text, shown) for (text, _), shown in zip(steps, chain, strict=False)],
    )
