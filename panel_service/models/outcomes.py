from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from panel_service.db import Base
from panel_service.domain.vocab import RESPONDENT_OUTCOMES
from panel_service.models.types import BigId, check_in, timestamp


class RespondentOutcome(Base):
    """What became of a respondent (a volunteer who answered "interested"), as the study's
    coordinator records it: screened, enrolled or not enrolled. One per invitation (same key);
    every change is audited (``respondent.outcome``). Exported as FHIR ResearchSubject status."""

    __tablename__ = "respondent_outcomes"
    __table_args__ = (
        CheckConstraint(check_in("outcome", RESPONDENT_OUTCOMES), name="outcome"),
        ForeignKeyConstraint(
            ["study_id", "participant_id"],
            ["invitations.study_id", "invitations.participant_id"],
            ondelete="CASCADE",
        ),
    )

    study_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20))
    recorded_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="SET NULL"))
    recorded_at: Mapped[timestamp]
