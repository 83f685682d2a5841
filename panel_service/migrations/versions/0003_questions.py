"""the question catalogue and volunteers' answers (ARCHITECTURE §4a)

The shipped questions are loaded after the schema by ``panel db upgrade``
(``services.questions.load_seed``), not here: a migration holds schema only, and the seed
keeps growing after this revision.

Revision ID: 0003_questions
Revises: 0004_outcomes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_questions"
down_revision: str | None = "0004_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "questions",
        sa.Column("key", sa.String(length=48), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("section", sa.String(length=48), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_questions")),
    )
    op.create_table(
        "profile_answers",
        sa.Column("participant_id", BigId, nullable=False),
        sa.Column("key", sa.String(length=48), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("value_num", sa.Float(), nullable=True),
        sa.Column("value_text", sa.String(length=2000), nullable=True),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("answered_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["profiles.participant_id"],
            name=op.f("fk_profile_answers_participant_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("participant_id", "key", name=op.f("pk_profile_answers")),
    )
    op.create_index("ix_profile_answers_key_num", "profile_answers", ["key", "value_num"])
    op.create_index("ix_profile_answers_key_text", "profile_answers", ["key", "value_text"])


def downgrade() -> None:
    op.drop_index("ix_profile_answers_key_text", table_name="profile_answers")
    op.drop_index("ix_profile_answers_key_num", table_name="profile_answers")
    op.drop_table("profile_answers")
    op.drop_table("questions")
