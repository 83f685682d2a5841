"""email change (issue 13 item 7): a volunteer changes their address, verified again

``accounts.pending_email`` is the address asked for and not yet confirmed (the account keeps
its old one until then); ``accounts.previous_email`` is the old address, kept only until it has
been told of the change. ``action_tokens.email`` is the address a ``change_email`` link confirms,
so that a link mailed to one address can never confirm another asked for later.

Revision ID: 0006_email_change
Revises: 0005_too_far
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_email_change"
down_revision: str | None = "0005_too_far"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("verify_email", "reset_password", "answer", "unsubscribe")
AFTER = (*BEFORE, "change_email")


def _purposes(purposes: Sequence[str]) -> None:
    with op.batch_alter_table("action_tokens") as batch:
        batch.drop_constraint(op.f("ck_action_tokens_purpose"), type_="check")
        batch.create_check_constraint(
            op.f("ck_action_tokens_purpose"),
            sa.text("purpose IN ({})".format(", ".join(f"'{purpose}'" for purpose in purposes))),
        )


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("pending_email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("previous_email", sa.String(length=320), nullable=True))
    with op.batch_alter_table("action_tokens") as batch:
        batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
    _purposes(AFTER)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM action_tokens WHERE purpose = 'change_email'"))
    _purposes(BEFORE)
    with op.batch_alter_table("action_tokens") as batch:
        batch.drop_column("email")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("previous_email")
        batch.drop_column("pending_email")
