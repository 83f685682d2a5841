from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel_service.db import Base
from panel_service.domain.vocab import ApprovalKind, ReviewState, StudyStatus
from panel_service.models.types import BigId, check_in, created_at, int_pk, sha256_hex, timestamp


class Study(Base):
    __tablename__ = "studies"
    __table_args__ = (
        CheckConstraint(check_in("status", StudyStatus), name="status"),
        Index("ix_studies_status", "status"),
    )

    id: Mapped[int_pk]
    organisation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="SET NULL"))
    # Title, summary and everything else a volunteer is shown live on the versions (P5): volunteers
    # see the active version's, coordinators and reviewers the newest's (``latest_title``).
    status: Mapped[str] = mapped_column(String(20), default=StudyStatus.DRAFT)
    # The version that recruits (approved); None until a first approval.
    active_version_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("study_versions.id", ondelete="RESTRICT", use_alter=True)
    )
    # The newest version, which may be awaiting review while the active one recruits.
    latest_version_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("study_versions.id", ondelete="RESTRICT", use_alter=True)
    )
    created_at: Mapped[created_at]
    updated_at: Mapped[timestamp | None]

    active_version: Mapped[StudyVersion | None] = relationship(foreign_keys=[active_version_id])
    latest_version: Mapped[StudyVersion | None] = relationship(foreign_keys=[latest_version_id])

    @property
    def latest_title(self) -> str:
        """The newest version's title, which may await review: for staff pages only. What
        volunteers see comes from the active (approved) version."""
        return self.latest_version.title if self.latest_version is not None else ""


class StudyVersion(Base):
    """Immutable once written: an edit of anything a volunteer is shown (title, summary,
    organisation name, sites, invitation text) or of the criteria makes a new row (P5)."""

    __tablename__ = "study_versions"
    __table_args__ = (
        CheckConstraint(check_in("review_state", ReviewState), name="review_state"),
        CheckConstraint("target_enrolment > 0", name="target_positive"),
        Index("uq_study_versions_study_number", "study_id", "number", unique=True),
        # The target of an invitation's one foreign key to its study's version (0006_invitation_lean).
        Index("uq_study_versions_study_id_id", "study_id", "id", unique=True),
    )

    id: Mapped[int_pk]
    study_id: Mapped[int] = mapped_column(BigId, ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    # The organisation's name when the version was made: a later rename does not change what an
    # approval covers; the next version takes the new name (and needs its own approval).
    organisation_name: Mapped[str] = mapped_column(String(200))
    # [{"name", "lat", "lon"}, ...] (domain.sites), in the coordinator's order.
    sites: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    invitation_text: Mapped[str] = mapped_column(Text)
    site_region: Mapped[str] = mapped_column(String(10))
    target_enrolment: Mapped[int] = mapped_column(Integer)
    # SHA-256 over the canonical criteria and everything a volunteer is shown (services.studies).
    content_hash: Mapped[sha256_hex]
    review_state: Mapped[str] = mapped_column(String(20), default=ReviewState.DRAFT)
    submitted_at: Mapped[timestamp | None]
    rejected_at: Mapped[timestamp | None]
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[created_at]

    study: Mapped[Study] = relationship(foreign_keys=[study_id])
    approval: Mapped[EthicsApproval | None] = relationship(back_populates="study_version", uselist=False)


class EthicsApproval(Base):
    __tablename__ = "ethics_approvals"
    __table_args__ = (
        CheckConstraint(check_in("kind", ApprovalKind), name="kind"),
        CheckConstraint("expires_on > approved_on", name="expires_after_decision"),
    )

    id: Mapped[int_pk]
    study_version_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("study_versions.id", ondelete="RESTRICT"), unique=True
    )
    committee: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(100))
    approved_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date] = mapped_column(Date, index=True)
    letter_sha256: Mapped[sha256_hex]
    letter_filename: Mapped[str | None] = mapped_column(String(255))
    letter: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    recorded_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[created_at]

    study_version: Mapped[StudyVersion] = relationship(back_populates="approval")
