"""condition and medication histories (product contract §4a)

Every existing row keeps its meaning: all the new columns are NULL, which is a plain code
(present, status and dates unknown), exactly as in version 1.

Revision ID: 0002_histories
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_histories"
down_revision: str | None = "0002_atc_gabapentinoids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("profile_conditions", "profile_medications")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("status", sa.String(length=10), nullable=True))
            batch.add_column(sa.Column("since", sa.String(length=10), nullable=True))
            batch.add_column(sa.Column("until", sa.String(length=10), nullable=True))
            for column in ("since_lo", "since_hi", "until_lo", "until_hi"):
                batch.add_column(sa.Column(column, sa.Date(), nullable=True))
            batch.create_check_constraint("status", "status IN ('current', 'past')")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_status"), type_="check")
            for column in ("until_hi", "until_lo", "since_hi", "since_lo", "until", "since", "status"):
                batch.drop_column(column)
