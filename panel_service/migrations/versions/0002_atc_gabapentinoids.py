"""gabapentin and pregabalin: N03AX12 / N03AX16 become N02BF01 / N02BF02

Revision ID: 0002_atc_gabapentinoids
Revises: 0002_pinned_content

The WHO ATC index moved gabapentin and pregabalin from the antiepileptics (N03AX12, N03AX16)
to a group of their own under the analgesics (N02BF01, N02BF02). A volunteer who told us they
take gabapentin still takes it: their stored answer moves to the current code, so a study that
asks for ``takes N02BF01`` (or excludes it) reads the answer as they meant it. Where a profile
already holds the new code, the old row is simply dropped. The downgrade moves them back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_atc_gabapentinoids"
down_revision: str | None = "0002_pinned_content"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVES = (("N03AX12", "N02BF01"), ("N03AX16", "N02BF02"))


def _move(old: str, new: str) -> None:
    op.execute(
        sa.text(
            "DELETE FROM profile_medications WHERE code = :old AND participant_id IN "
            "(SELECT participant_id FROM profile_medications WHERE code = :new)"
        ).bindparams(old=old, new=new)
    )
    op.execute(
        sa.text("UPDATE profile_medications SET code = :new WHERE code = :old").bindparams(old=old, new=new)
    )


def upgrade() -> None:
    for old, new in MOVES:
        _move(old, new)


def downgrade() -> None:
    for old, new in MOVES:
        _move(new, old)
