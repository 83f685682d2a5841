"""Volunteers: identity, consent and the health profile, kept in separate tables.

The profile tables hold no name, email or phone. Erasure deletes the profile and the
identity fields but keeps the ``participants`` row as an anonymous tombstone so that
invitation counts (and the at-most-once rule) survive.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel_service.db import Base
from panel_service.domain.history import STATUSES
from panel_service.domain.vocab import ConsentKind, ContactChannel, Language, Sex
from panel_service.models.types import (
    BigId,
    CodeString,
    CodeSummary,
    check_in,
    created_at,
    int_pk,
    postgresql_only,
    timestamp,
)


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (
        CheckConstraint(check_in("preferred_channel", ContactChannel), name="channel"),
        CheckConstraint(check_in("language", Language), name="language"),
        Index("uq_participants_audit_pseudonym", "audit_pseudonym", unique=True),
    )

    id: Mapped[int_pk]
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="SET NULL"), unique=True
    )
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    preferred_channel: Mapped[str] = mapped_column(
        String(10), server_default=ContactChannel.EMAIL.value, default=ContactChannel.EMAIL
    )
    language: Mapped[str] = mapped_column(String(5), server_default=Language.EN.value, default=Language.EN)
    contact_paused_until: Mapped[dt.date | None] = mapped_column(Date)
    erased_at: Mapped[timestamp | None]
    created_at: Mapped[created_at]
    # How the audit trail names this volunteer (random, assigned on first use by
    # services.audit). Erasure sets it to NULL, which breaks the only link between the
    # insert-only audit rows and this row.
    audit_pseudonym: Mapped[str | None] = mapped_column(String(24))

    profile: Mapped[Profile | None] = relationship(back_populates="participant", uselist=False)


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(check_in("kind", ConsentKind), name="kind"),
        # At most one active consent of a kind per volunteer.
        Index(
            "uq_consents_active",
            "participant_id",
            "kind",
            unique=True,
            postgresql_where=text("withdrawn_at IS NULL"),
            sqlite_where=text("withdrawn_at IS NULL"),
        ),
    )

    id: Mapped[int_pk]
    participant_id: Mapped[int] = mapped_column(BigId, ForeignKey("participants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40), default=ConsentKind.CONTACT_ABOUT_STUDIES)
    text_version: Mapped[str] = mapped_column(String(40))
    given_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    withdrawn_at: Mapped[timestamp | None]


class Profile(Base):
    __tablename__ = "profiles"
    __table_args__ = (
        CheckConstraint(check_in("sex", Sex), name="sex"),
        CheckConstraint("height_cm IS NULL OR (height_cm >= 40 AND height_cm <= 260)", name="height"),
        CheckConstraint("weight_kg IS NULL OR (weight_kg >= 20 AND weight_kg <= 400)", name="weight"),
        CheckConstraint(f"NOT (sex = '{Sex.MALE}' AND pregnant)", name="male_not_pregnant"),
        Index("ix_profiles_region", "region"),
        # distance_to_site_km prefilters on a latitude/longitude box around each site.
        Index("ix_profiles_home", "home_lat", "home_lon"),
        CheckConstraint("home_lat IS NULL OR (home_lat >= -90 AND home_lat <= 90)", name="home_lat"),
        CheckConstraint("home_lon IS NULL OR (home_lon >= -180 AND home_lon <= 180)", name="home_lon"),
        CheckConstraint("(home_lat IS NULL) = (home_lon IS NULL)", name="home_point"),
        # Plain code leaves are one && on these (queries.criteria_sql); SQLite has no GIN.
        postgresql_only(Index("ix_profiles_condition_codes", "condition_codes", postgresql_using="gin")),
        postgresql_only(Index("ix_profiles_medication_codes", "medication_codes", postgresql_using="gin")),
    )

    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    birth_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    sex: Mapped[str | None] = mapped_column(String(10))
    region: Mapped[str | None] = mapped_column(String(10))
    height_cm: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    # Derived from height and weight by panel_service.domain.profile.bmi(); stored so that
    # the compiled criteria compare a plain indexed column.
    bmi: Mapped[float | None] = mapped_column(Float)
    smoker: Mapped[bool | None] = mapped_column(Boolean)
    pregnant: Mapped[bool | None] = mapped_column(Boolean)
    conditions_answered: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    medications_answered: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    # The code summary of each list (domain.criteria.summary): each listed code marked exact
    # (``=G2581``) and the prefixes a criterion can name (``G``, ``G2``, ``G25``, ``G258``); NULL
    # while the list is unanswered. Written with the join rows by the one writer of each path
    # (services.profiles.save_codes, the import).
    condition_codes: Mapped[list[str] | None] = mapped_column(CodeSummary)
    medication_codes: Mapped[list[str] | None] = mapped_column(CodeSummary)
    # Home (§4a): a point rounded to 0.01° (a town, never an address) and, when picked from the
    # gazetteer, its place name and GeoNames id.
    home_lat: Mapped[float | None] = mapped_column(Float)
    home_lon: Mapped[float | None] = mapped_column(Float)
    home_place: Mapped[str | None] = mapped_column(String(200))
    home_geonameid: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    participant: Mapped[Participant] = relationship(back_populates="profile")
    conditions: Mapped[list[ProfileCondition]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ProfileCondition.code"
    )
    medications: Mapped[list[ProfileMedication]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ProfileMedication.code"
    )


class HistoryColumns:
    """The history of one code (product contract §4a): ``status`` and the partial dates as given,
    plus the first and last day each partial date covers, so that SQL compares plain dates.

    All NULL is a plain code: present, status and dates unknown (the version-1 meaning).
    """

    status: Mapped[str | None] = mapped_column(String(10))
    since: Mapped[str | None] = mapped_column(String(10))
    until: Mapped[str | None] = mapped_column(String(10))
    since_lo: Mapped[dt.date | None] = mapped_column(Date)
    since_hi: Mapped[dt.date | None] = mapped_column(Date)
    until_lo: Mapped[dt.date | None] = mapped_column(Date)
    until_hi: Mapped[dt.date | None] = mapped_column(Date)


class ProfileCondition(HistoryColumns, Base):
    """One ICD-10 code a volunteer reported, normalised: upper case, no dot (``G2581``)."""

    __tablename__ = "profile_conditions"
    __table_args__ = (
        Index("ix_profile_conditions_code", "code", "participant_id"),
        CheckConstraint(check_in("status", STATUSES), name="status"),
    )

    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("profiles.participant_id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(CodeString, primary_key=True)


class ProfileMedication(HistoryColumns, Base):
    """One ATC code a volunteer reported, normalised upper case (``A12CC``)."""

    __tablename__ = "profile_medications"
    __table_args__ = (
        Index("ix_profile_medications_code", "code", "participant_id"),
        CheckConstraint(check_in("status", STATUSES), name="status"),
    )

    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("profiles.participant_id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(CodeString, primary_key=True)
