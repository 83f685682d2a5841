"""invitation lean: one foreign key from an invitation to its study's version, instead of two

An invitation referenced its study (``study_id`` → ``studies``) and its version
(``study_version_id`` → ``study_versions``) with a foreign key each, so every invitation the bulk
match inserts ran three foreign-key triggers (the third is the volunteer's). Measured on 100,000
profiles (10,394 invitations, docs/performance.md "Recruit"), each trigger costs about the same,
about 15 µs a row, whichever row it checks. Now one composite key, ``(study_id,
study_version_id)`` → ``study_versions (study_id, id)``, checks both at once, and says more: the
version is *that study's* version (before, an invitation could name study 1 and a version of
study 2). ``study_versions`` gains the unique index on ``(study_id, id)`` the key needs.

On delete: a version with invitations cannot be deleted (RESTRICT, as before); Panel deletes
neither studies nor versions (a study is closed, never removed), so the old ``ON DELETE CASCADE``
from studies, which no code path used, is not kept: deleting a study that has invitations is now
refused instead of taking its invitation history with it.

Revision ID: 0006_invitation_lean
Revises: 0005_too_far
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_invitation_lean"
down_revision: str | None = "0006_email_change"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("uq_study_versions_study_id_id", "study_versions", ["study_id", "id"], unique=True)
    with op.batch_alter_table("invitations") as batch:
        batch.drop_constraint(op.f("fk_invitations_study_id_studies"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_invitations_study_version_id_study_versions"), type_="foreignkey")
        batch.create_foreign_key(
            op.f("fk_invitations_study_id_study_versions"),
            "study_versions",
            ["study_id", "study_version_id"],
            ["study_id", "id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_constraint(op.f("fk_invitations_study_id_study_versions"), type_="foreignkey")
        batch.create_foreign_key(
            op.f("fk_invitations_study_id_studies"), "studies", ["study_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_foreign_key(
            op.f("fk_invitations_study_version_id_study_versions"),
            "study_versions",
            ["study_version_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    op.drop_index("uq_study_versions_study_id_id", table_name="study_versions")
