"""The question catalogue and volunteers' answers (ARCHITECTURE §4a, ``domain.questions``).

A question's wording, help, options and scoring live in ``data`` (the JSON form of
``domain.questions.question_to_data``), its key and type in columns of their own: those never
change once answered. An answer keeps its value as given (``value``) and, for the compiled
criteria, in the one typed column that fits the question's type: ``value_num`` for booleans
(0/1), integers, decimals and scores, ``value_text`` for a choice (the option key) or a
multi_choice (``|da|en|``: every option between bars, so ``has`` is one ``LIKE``), ``value_date``
for a date. Answers carry no foreign key to ``questions``: the shipped keys are valid even
before the seed is loaded, and the key is checked against the catalogue on every write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DDL, JSON, Date, Float, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from panel_service.db import Base
from panel_service.models.types import BigId, created_at, timestamp

QUESTION_KEY = String(48)


class QuestionRow(Base):
    __tablename__ = "questions"

    key: Mapped[str] = mapped_column(QUESTION_KEY, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    section: Mapped[str] = mapped_column(String(48))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(default=0)
    retired_at: Mapped[timestamp | None]
    created_at: Mapped[created_at]
    updated_at: Mapped[timestamp | None]


class ProfileAnswer(Base):
    __tablename__ = "profile_answers"
    __table_args__ = (
        Index("ix_profile_answers_key_num", "key", "value_num"),
        Index("ix_profile_answers_key_text", "key", "value_text"),
    )

    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("profiles.participant_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(QUESTION_KEY, primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(String(2000))
    value_date: Mapped[dt.date | None] = mapped_column(Date)
    answered_on: Mapped[dt.date] = mapped_column(Date)


# Extended statistics (PostgreSQL): key and value are far from independent, and without these the
# planner underestimates a question leaf's rows about 24 times at 1M profiles (migration 0005_answer_statistics).
ANSWER_STATISTICS = (
    ("st_profile_answers_key_text", "key, value_text"),
    ("st_profile_answers_key_num", "key, value_num"),
)
for _name, _columns in ANSWER_STATISTICS:
    event.listen(
        ProfileAnswer.__table__,
        "after_create",
        DDL(f"CREATE STATISTICS {_name} (mcv) ON {_columns} FROM profile_answers").execute_if(
            dialect="postgresql"
        ),
    )
