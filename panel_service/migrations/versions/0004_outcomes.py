"""respondent_outcomes: screened / enrolled / not enrolled, recorded per respondent by a coordinator

Revision ID: 0004_outcomes
Revises: 0004_staff_language
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_outcomes"
down_revision: str | None = "0004_staff_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "respondent_outcomes",
        sa.Column("study_id", ID, nullable=False),
        sa.Column("participant_id", ID, nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("recorded_by_id", ID, nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('screened', 'enrolled', 'not_enrolled')", name=op.f("ck_respondent_outcomes_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["study_id", "participant_id"],
            ["invitations.study_id", "invitations.participant_id"],
            name=op.f("fk_respondent_outcomes_study_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["accounts.id"],
            name=op.f("fk_respondent_outcomes_recorded_by_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("study_id", "participant_id", name=op.f("pk_respondent_outcomes")),
    )


def downgrade() -> None:
    op.drop_table("respondent_outcomes")
