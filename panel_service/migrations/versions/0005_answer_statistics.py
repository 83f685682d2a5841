"""extended statistics on profile_answers (key, value) for the planner (PostgreSQL only)

Without them PostgreSQL takes ``key`` and ``value_text`` / ``value_num`` as independent and
underestimates a ``question`` leaf's rows about 24× at 1M profiles with 20 answers each, then
nested-loops the whole answer set through ``profiles`` (docs/performance.md, profile v2: the v2
study 5.1 s → 1.2–1.4 s). SQLite has no such object: a no-op there.

Revision ID: 0005_answer_statistics
Revises: 0003_questions
"""

from collections.abc import Sequence

from alembic import op

from panel_service.models.questions import ANSWER_STATISTICS

revision: str = "0005_answer_statistics"
down_revision: str | None = "0003_questions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in ANSWER_STATISTICS:
        op.execute(f"CREATE STATISTICS {name} (mcv) ON {columns} FROM profile_answers")
    op.execute("ANALYZE profile_answers")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _ in ANSWER_STATISTICS:
        op.execute(f"DROP STATISTICS IF EXISTS {name}")
