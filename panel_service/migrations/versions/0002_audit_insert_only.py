"""audit trail insert-only and pseudonymous

Revision ID: 0002_audit_insert_only
Revises: 0001

- ``participants.audit_pseudonym``: how the audit trail names a volunteer (erasure nulls it).
- ``audit_events.actor_id`` is no longer a foreign key: its ``ON DELETE SET NULL`` was an
  UPDATE of the trail, and the record must outlive the account.
- Existing events are rewritten once, here, to name volunteers by pseudonym (the last
  rewrite they will ever get); volunteer actors were labelled ``participant:<account id>``
  by mistake, so the account is looked up through ``actor_id``.
- Triggers refuse UPDATE, DELETE (and, on PostgreSQL, TRUNCATE) of ``audit_events``.
  On PostgreSQL they are ordinary triggers, so ``session_replication_role = replica`` (a
  superuser-only setting the application's role cannot use) skips them: that is how the
  test harness and a deliberate maintenance job empty the table. SQLite has no such
  setting; the harness drops and re-creates the triggers inside its transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002_audit_insert_only"
down_revision: str | None = "0002_outbox_retries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_FUNCTION = """
CREATE FUNCTION audit_events_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is insert-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""
PG_TRIGGERS = (
    "CREATE TRIGGER audit_events_insert_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_insert_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_insert_only()",
)
SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER audit_events_no_{op_name.lower()} BEFORE {op_name} ON audit_events "
    f"BEGIN SELECT RAISE(ABORT, 'audit_events is insert-only: {op_name} refused'); END"
    for op_name in ("UPDATE", "DELETE")
)


def _pseudonym() -> str:
    return "v-" + secrets.token_hex(10)


def _rewrite_existing_events(connection: sa.Connection) -> None:
    participants = sa.table(
        "participants",
        sa.column("id", sa.BigInteger),
        sa.column("account_id", sa.BigInteger),
        sa.column("erased_at", sa.DateTime),
        sa.column("audit_pseudonym", sa.String),
    )
    accounts = sa.table("accounts", sa.column("id", sa.BigInteger), sa.column("role", sa.String))
    events = sa.table(
        "audit_events",
        sa.column("id", sa.BigInteger),
        sa.column("actor_id", sa.BigInteger),
        sa.column("actor_label", sa.String),
        sa.column("subject_type", sa.String),
        sa.column("subject_id", sa.String),
        sa.column("details", sa.JSON),
    )
    by_account = dict(
        connection.execute(
            sa.select(participants.c.account_id, participants.c.id).where(participants.c.account_id.is_not(None))
        ).all()
    )
    volunteer_accounts = set(
        connection.execute(sa.select(accounts.c.id).where(accounts.c.role == "participant")).scalars()
    )
    erased = set(connection.execute(sa.select(participants.c.id).where(participants.c.erased_at.is_not(None))).scalars())
    pseudonyms: dict[int, str] = {}

    def pseudonym(participant_id: int | None) -> str:
        if participant_id is None:
            return "erased"
        if participant_id not in pseudonyms:
            pseudonyms[participant_id] = _pseudonym()  # erased ones get one that is never stored
        return pseudonyms[participant_id]

    def participant_number(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    rows = connection.execute(
        sa.select(events).where(
            sa.or_(
                events.c.actor_label.like("participant:%"),
                events.c.actor_id.in_(volunteer_accounts) if volunteer_accounts else sa.false(),
                events.c.subject_type.in_(("participant", "invitation", "account")),
            )
        )
    ).all()
    for row in rows:
        changes: dict[str, Any] = {}
        if row.actor_id is not None and row.actor_id in volunteer_accounts:
            changes["actor_id"] = None
            changes["actor_label"] = f"participant:{pseudonym(by_account.get(row.actor_id))}"
        elif row.actor_id is None and row.actor_label.startswith("participant:"):
            number = participant_number(row.actor_label.partition(":")[2])
            if number is not None:
                changes["actor_label"] = f"participant:{pseudonym(number)}"
        if row.subject_type == "participant" and (number := participant_number(row.subject_id)) is not None:
            changes["subject_id"] = pseudonym(number)
        elif row.subject_type == "account" and (number := participant_number(row.subject_id)) is not None:
            if number in volunteer_accounts:
                changes["subject_type"] = "participant"
                changes["subject_id"] = pseudonym(by_account.get(number))
        elif row.subject_type == "invitation":
            study, _, who = row.subject_id.partition(":")
            if (number := participant_number(who)) is not None:
                changes["subject_id"] = f"{study}:{pseudonym(number)}"
        # A volunteer's free-text token label could name them; the participant id is replaced.
        dropped = {"participant_id"} | ({"label"} if "actor_label" in changes else set())
        if isinstance(row.details, dict) and dropped & row.details.keys():
            changes["details"] = {key: value for key, value in row.details.items() if key not in dropped}
        if changes:
            connection.execute(sa.update(events).where(events.c.id == row.id).values(**changes))
    for participant_id, value in pseudonyms.items():
        if participant_id not in erased:
            connection.execute(
                sa.update(participants).where(participants.c.id == participant_id).values(audit_pseudonym=value)
            )


def upgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audit_pseudonym", sa.String(length=24), nullable=True))
    op.create_index("uq_participants_audit_pseudonym", "participants", ["audit_pseudonym"], unique=True)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_audit_events_actor_id_accounts", type_="foreignkey")
    connection = op.get_bind()
    _rewrite_existing_events(connection)
    if connection.dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_insert_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_insert_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_audit_events_actor_id_accounts", "accounts", ["actor_id"], ["id"], ondelete="SET NULL"
        )
    op.drop_index("uq_participants_audit_pseudonym", table_name="participants")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_column("audit_pseudonym")
