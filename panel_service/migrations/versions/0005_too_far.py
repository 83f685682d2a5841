"""too far: invitations.reason may be ``too_far`` (a volunteer's travel limit, ARCHITECTURE §4a)

The dispatcher cancels an invitation whose study's nearest site is farther than the volunteer
said they would travel. The values are written out here, as in 0003_closed_sets.

Revision ID: 0005_too_far
Revises: 0005_answer_statistics
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_too_far"
down_revision: str | None = "0005_answer_statistics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = (
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
AFTER = (*BEFORE, "too_far")


def _condition(reasons: Sequence[str]) -> str:
    return "reason IS NULL OR reason IN ({})".format(", ".join(f"'{reason}'" for reason in reasons))


def _replace(reasons: Sequence[str]) -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_constraint(op.f("ck_invitations_reason"), type_="check")
        batch.create_check_constraint(op.f("ck_invitations_reason"), sa.text(_condition(reasons)))


def upgrade() -> None:
    _replace(AFTER)


def downgrade() -> None:
    # Invitations cancelled as too far read as cancelled for another reason before this revision.
    op.execute(sa.text("UPDATE invitations SET reason = 'other' WHERE reason = 'too_far'"))
    _replace(BEFORE)
