"""short renewed leases: the run lease's owner on outbox rows, a claim lease on invitations

Revision ID: 0002_leases
Revises: 0002_outbox_retries
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_leases"
down_revision: str | None = "0002_histories"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("lease_until")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lease_owner")
