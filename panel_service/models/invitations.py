from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from panel_service.db import Base
from panel_service.domain.vocab import (
    INVITATION_REASONS,
    Answer,
    InvitationStatus,
    MatchRunKind,
    TokenPurpose,
)
from panel_service.models.types import BigId, check_in, created_at, int_pk, sha256_hex, timestamp


class Invitation(Base):
    """At most one per (study, participant), ever: the primary key is the promise (P2)."""

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint(check_in("status", InvitationStatus), name="status"),
        CheckConstraint(f"response IS NULL OR {check_in('response', Answer)}", name="response"),
        # Migration 0003_closed_sets: a cancel or fail reason of domain.vocab, nothing else.
        CheckConstraint(f"reason IS NULL OR {check_in('reason', INVITATION_REASONS)}", name="reason"),
        CheckConstraint(
            f"status <> '{InvitationStatus.CANCELLED}' OR reason IS NOT NULL", name="cancel_has_reason"
        ),
        CheckConstraint(
            f"status <> '{InvitationStatus.FAILED}' OR reason IS NOT NULL", name="failed_has_reason"
        ),
        # The dispatcher's work queue: only rows still waiting are indexed.
        Index(
            "ix_invitations_queued",
            "next_attempt_at",
            postgresql_where=text(f"status = '{InvitationStatus.QUEUED}'"),
            sqlite_where=text(f"status = '{InvitationStatus.QUEUED}'"),
        ),
        Index("ix_invitations_participant", "participant_id", "status"),
        # One key for the study and its version (0006_invitation_lean): the version is that
        # study's, and the bulk match's insert runs two foreign-key triggers a row, not three.
        ForeignKeyConstraint(
            ["study_id", "study_version_id"],
            ["study_versions.study_id", "study_versions.id"],
            ondelete="RESTRICT",
        ),
    )

    study_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    study_version_id: Mapped[int] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(
        String(20), server_default=InvitationStatus.QUEUED.value, default=InvitationStatus.QUEUED
    )
    reason: Mapped[str | None] = mapped_column(String(60))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    next_attempt_at: Mapped[timestamp | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[created_at]
    claimed_at: Mapped[timestamp | None]
    # While 'claimed': the claim's lease, renewed by the sending job's heartbeat. Once past, the
    # claim died between SMTP and the record of it and the detector marks it 'ambiguous'.
    lease_until: Mapped[timestamp | None]
    sent_at: Mapped[timestamp | None]
    cancelled_at: Mapped[timestamp | None]
    response: Mapped[str | None] = mapped_column(String(20))
    responded_at: Mapped[timestamp | None]


class MatchRun(Base):
    """One bulk match of one study version, split into id-range chunks."""

    __tablename__ = "match_runs"
    __table_args__ = (CheckConstraint(check_in("kind", MatchRunKind), name="kind"),)

    id: Mapped[int_pk]
    study_id: Mapped[int] = mapped_column(BigId, ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    study_version_id: Mapped[int] = mapped_column(BigId, ForeignKey("study_versions.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(20))
    match_date: Mapped[dt.date]
    chunk_size: Mapped[int] = mapped_column(Integer)
    chunks_total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[created_at]
    finished_at: Mapped[timestamp | None]


class MatchChunk(Base):
    __tablename__ = "match_chunks"

    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("match_runs.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    low_id: Mapped[int] = mapped_column(BigId)
    high_id: Mapped[int] = mapped_column(BigId)
    matched: Mapped[int | None] = mapped_column(Integer)
    done_at: Mapped[timestamp | None]


class ActionToken(Base):
    """A signed link's server-side record: single use, expiring, looked up by hash."""

    __tablename__ = "action_tokens"
    __table_args__ = (CheckConstraint(check_in("purpose", TokenPurpose), name="purpose"),)

    token_hash: Mapped[sha256_hex] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    participant_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE")
    )
    study_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("studies.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(320))  # the address a change_email link confirms
    created_at: Mapped[created_at]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    used_at: Mapped[timestamp | None]
