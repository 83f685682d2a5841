"""What a volunteer put aside on the "questions that matter" pages, and the question reminder
email's opt-out and spacing (issue 13 item 1; ``domain.asking``).

Both belong to the volunteer: erasure deletes them (P6) and the data download lists them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from panel_service.db import Base
from panel_service.domain.asking import SkipReason
from panel_service.models.types import BigId, check_in, timestamp


class QuestionSkip(Base):
    """One thing a volunteer skipped ("Skip for now", "I'd rather not say"), by its ask key
    (``q:smoking_status``, ``c:G258``); it is not asked again until ``domain.asking.SKIP_DAYS``
    have passed."""

    __tablename__ = "question_skips"
    __table_args__ = (CheckConstraint(check_in("reason", SkipReason), name="reason"),)

    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    ask_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(12))
    skipped_on: Mapped[dt.date] = mapped_column(Date)


class QuestionReminder(Base):
    """The question reminder email of one volunteer: when it last went out, when the volunteer
    was last checked and found nothing worth asking, and whether they opted out. No row: never
    reminded, not opted out."""

    __tablename__ = "question_reminders"

    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    opted_out_at: Mapped[timestamp | None]
    last_sent_at: Mapped[timestamp | None]
    last_checked_at: Mapped[timestamp | None]
