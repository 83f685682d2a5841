from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from panel_service.db import Base
from panel_service.models.types import BigId, created_at, int_pk


class AuditEvent(Base):
    """Insert-only record of every approval, identity release, export and erasure.

    The database refuses UPDATE, DELETE and TRUNCATE of this table (triggers made by migration
    ``0002_audit_insert_only``), so nothing rewrites the trail — erasure included. It is
    therefore pseudonymous from the start: a volunteer, as actor or subject, is recorded as
    ``participant:<pseudonym>`` (``services.audit``), never by id, account, email or name.

    ``actor_id`` is a staff account's id at the time, deliberately not a foreign key: the record
    outlives the account, and an ``ON DELETE SET NULL`` would be an UPDATE the trigger refuses.
    SQLite's batch mode rebuilds a table and drops its triggers: a migration that alters this
    table in batch mode must create them again.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
        Index("ix_audit_events_actor_action", "actor_id", "action", "created_at"),
    )

    id: Mapped[int_pk]
    actor_id: Mapped[int | None] = mapped_column(BigId)
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(60))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[created_at]
