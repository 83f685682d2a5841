"""closed sets: invitations.reason holds only a cancel or fail reason of domain.vocab

Every other closed-set column (statuses, roles, consent kinds, answers, ...) has had its CHECK
constraint since 0001; the reason column was free text. The values are written out here, not
imported, so that this revision means the same whatever domain.vocab later becomes.

Revision ID: 0003_closed_sets
Revises: 0002_leases
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_closed_sets"
down_revision: str | None = "0002_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = (
    "consent_withdrawn",
    "contact_paused",
    "erased",
    "study_paused",
    "study_closed",
    "study_not_recruiting",
    "version_changed",
    "approval_expired",
    "no_longer_matches",
    "no_email",
    "other",
    "smtp_refused",
)
CONDITION = "reason IS NULL OR reason IN ({})".format(", ".join(f"'{reason}'" for reason in REASONS))


def upgrade() -> None:
    # A row outside the set would make the constraint fail with a bare "check violated"; name
    # the values instead, so an operator can decide what they should become.
    unknown = (
        op.get_bind()
        .execute(
            sa.text("SELECT DISTINCT reason FROM invitations WHERE reason IS NOT NULL AND reason NOT IN :known")
            .bindparams(sa.bindparam("known", expanding=True))
            .params(known=list(REASONS))
        )
        .scalars()
        .all()
    )
    if unknown:
        raise RuntimeError(
            f"invitations.reason holds values outside the closed set: {sorted(unknown)}; "
            "change them to one of the reasons in docs/pipeline.md before upgrading"
        )
    with op.batch_alter_table("invitations") as batch:
        batch.create_check_constraint(op.f("ck_invitations_reason"), sa.text(CONDITION))


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_constraint(op.f("ck_invitations_reason"), type_="check")
