"""question_skips and question_reminders: what a volunteer put aside on the "questions that
matter" pages, and the question reminder email's opt-out and spacing (issue 13 item 1)

Revision ID: 0006_reminders
Revises: 0005_too_far
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_reminders"
down_revision: str | None = "0006_invitation_lean"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "question_skips",
        sa.Column("participant_id", ID, nullable=False),
        sa.Column("ask_key", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("skipped_on", sa.Date(), nullable=False),
        sa.CheckConstraint("reason IN ('later', 'rather_not')", name=op.f("ck_question_skips_reason")),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_question_skips_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("participant_id", "ask_key", name=op.f("pk_question_skips")),
    )
    op.create_table(
        "question_reminders",
        sa.Column("participant_id", ID, nullable=False),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_question_reminders_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("participant_id", name=op.f("pk_question_reminders")),
    )


def downgrade() -> None:
    op.drop_table("question_reminders")
    op.drop_table("question_skips")
