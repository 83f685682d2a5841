from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from panel_service.db import Base
from panel_service.models.types import created_at, int_pk, timestamp


class OutboxMessage(Base):
    """Work recorded in the same transaction as the change that needs it.

    The relay publishes a row after commit; a task marks it ``completed_at`` when done; the
    reconciler re-publishes rows whose lease ran out unfinished. A run that raises records
    ``attempts`` + 1 and ``last_error`` and is due again after a backoff (``available_at``); after
    ``PANEL_JOB_MAX_ATTEMPTS`` the row is dead (``dead_at``): never published again until an
    operator re-queues it (``panel jobs retry``). Payloads carry ids only.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "lease_until",
            postgresql_where=text("completed_at IS NULL"),
            sqlite_where=text("completed_at IS NULL"),
        ),
        # A dedup key makes "queue this once" structural (e.g. one dispatch per invitation).
        Index("uq_outbox_dedup_key", "dedup_key", unique=True),
    )

    id: Mapped[int_pk]
    task_name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[created_at]
    # Not published before this time (delayed work such as a retry or a capped invitation).
    available_at: Mapped[dt.datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))
    published_at: Mapped[timestamp | None]
    lease_until: Mapped[timestamp | None]
    # The run holding the lease (a token per run), NULL while published and not started: the
    # heartbeat renews only its own lease, and a second delivery does not start beside it.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    publish_count: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    completed_at: Mapped[timestamp | None]
    # Failed runs so far (publishing is counted in publish_count); the error names the exception
    # type only: messages may hold personal data (an address in an SMTP answer).
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_failed_at: Mapped[timestamp | None]
    dead_at: Mapped[timestamp | None]
