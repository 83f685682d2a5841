"""What anyone may read about studies, signed in or not: the recruiting ones (P5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from panel_service.models import EthicsApproval, Study, StudyVersion


def _recruiting(today: dt.date) -> Select[Any]:
    """Studies a visitor may read about: recruiting, with the active version's approval in force
    today (P5: an approval past its expiry recruits no more, even before the daily job pauses
    the study). Every value is the active (approved) version's: an edit awaiting review is not
    shown, nor is the organisation's current name."""
    return (
        select(
            Study.id,
            StudyVersion.title,
            StudyVersion.summary,
            StudyVersion.organisation_name,
            StudyVersion.site_region,
            StudyVersion.sites,
            StudyVersion.invitation_text,
            EthicsApproval.committee,
            EthicsApproval.kind,
            EthicsApproval.reference,
        )
        .join(StudyVersion, StudyVersion.id == Study.active_version_id)
        .join(EthicsApproval, EthicsApproval.study_version_id == StudyVersion.id)
        .where(
            Study.status == "recruiting",
            EthicsApproval.approved_on <= today,
            EthicsApproval.expires_on > today,
        )
    )


def recruiting_studies(session: Session, today: dt.date, *, limit: int) -> list[Row[Any]]:
    """The newest ``limit`` recruiting studies."""
    return list(session.execute(_recruiting(today).order_by(Study.id.desc()).limit(limit)).all())


def recruiting_study(session: Session, today: dt.date, study_id: int) -> Row[Any] | None:
    """One study if it is recruiting; None for one that is not, exactly as for a missing id."""
    return session.execute(_recruiting(today).where(Study.id == study_id)).first()
