"""code summary: profiles.condition_codes / medication_codes next to the join tables (issue 15)

Each answered list's codes marked exact (``=G2581``) with the strict prefixes a criterion can name
(every one for ICD-10; the levels 1, 3, 4, 5 for ATC); NULL while the list is unanswered
(``domain.criteria.summary``). ``text[]`` under a GIN index on
PostgreSQL, where plain code leaves compile to one ``&&`` on it; JSON text on SQLite, which keeps
matching on the join tables. The backfill derives the summary from the join tables in SQL on
each engine, written out here so that the revision means the same whatever the code does later.

Revision ID: 0006_code_summary
Revises: 0005_too_far
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_code_summary"
down_revision: str | None = "0006_reminders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (column, join table, answered flag, which strict prefix lengths n are kept)
LISTS = (
    ("condition_codes", "profile_conditions", "conditions_answered", "true"),
    ("medication_codes", "profile_medications", "medications_answered", "n IN (1, 3, 4, 5)"),
)
LONGEST_CODE = 16  # CodeString is VARCHAR(16)

# The kept strict prefixes of every code and the code marked exact, per profile; an answered list
# without rows is empty, an unanswered one stays NULL.
POSTGRESQL_BACKFILL = """
UPDATE profiles p SET {column} = coalesce(s.items, '{{}}'::text[])
FROM (
    SELECT q.participant_id, s.items
    FROM profiles q
    LEFT JOIN (
        SELECT c.participant_id, array_agg(DISTINCT item ORDER BY item) AS items
        FROM {table} c
        CROSS JOIN LATERAL (
            SELECT left(c.code, n) AS item FROM generate_series(1, length(c.code) - 1) AS n WHERE {kept}
            UNION ALL SELECT '=' || c.code
        ) AS i
        GROUP BY c.participant_id
    ) s ON s.participant_id = q.participant_id
    WHERE q.{answered}
) s
WHERE p.participant_id = s.participant_id
"""

SQLITE_BACKFILL = """
WITH RECURSIVE lengths(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM lengths WHERE n < {longest}),
items(participant_id, item) AS (
    SELECT c.participant_id, substr(c.code, 1, n) FROM {table} c JOIN lengths ON n < length(c.code) AND {kept}
    UNION SELECT c.participant_id, '=' || c.code FROM {table} c
)
UPDATE profiles SET {column} = (
    SELECT json_group_array(item) FROM (
        SELECT item FROM items WHERE items.participant_id = profiles.participant_id ORDER BY item
    )
)
WHERE {answered}
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    column_type = postgresql.ARRAY(sa.Text()) if dialect == "postgresql" else sa.Text()
    with op.batch_alter_table("profiles") as batch:
        for column, *_ in LISTS:
            batch.add_column(sa.Column(column, column_type, nullable=True))
    for column, table, answered, kept in LISTS:
        if dialect == "postgresql":
            op.execute(POSTGRESQL_BACKFILL.format(column=column, table=table, answered=answered, kept=kept))
            op.create_index(f"ix_profiles_{column}", "profiles", [column], postgresql_using="gin")
        else:
            op.execute(
                SQLITE_BACKFILL.format(
                    column=column, table=table, answered=answered, kept=kept, longest=LONGEST_CODE
                )
            )
    if dialect == "postgresql":
        op.execute("ANALYZE profiles")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for column, *_ in LISTS:
            op.drop_index(f"ix_profiles_{column}", table_name="profiles")
    with op.batch_alter_table("profiles") as batch:
        for column, *_ in reversed(LISTS):
            batch.drop_column(column)
