from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel_service.db import Base
from panel_service.domain.vocab import Role
from panel_service.models.types import BigId, check_in, created_at, int_pk, sha256_hex, short_text, timestamp


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int_pk]
    name: Mapped[short_text] = mapped_column(unique=True)
    created_at: Mapped[created_at]


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(check_in("role", Role), name="role"),
        CheckConstraint("role <> 'coordinator' OR organisation_id IS NOT NULL", name="coordinator_org"),
        # Email is unique case-insensitively; the column always holds the lowered form.
        CheckConstraint("email = lower(email)", name="email_lower"),
    )

    id: Mapped[int_pk]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    email_verified_at: Mapped[timestamp | None]
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), default=True)
    failed_logins: Mapped[int] = mapped_column(server_default=text("0"), default=0)
    locked_until: Mapped[timestamp | None]
    # A staff member's chosen language (the switcher), which the emails to them follow; a
    # volunteer's is ``participants.language``. None: English.
    language: Mapped[str | None] = mapped_column(String(2))
    # A change of address (issue 13 item 7): the address asked for, until its link is used (the
    # account keeps ``email`` until then), and the old address, until it has been told.
    pending_email: Mapped[str | None] = mapped_column(String(320))
    previous_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[created_at]

    organisation: Mapped[Organisation | None] = relationship()


class ApiToken(Base):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int_pk]
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[sha256_hex] = mapped_column(unique=True)
    label: Mapped[short_text] = mapped_column(server_default="")
    created_at: Mapped[created_at]
    last_used_at: Mapped[timestamp | None]
    revoked_at: Mapped[timestamp | None]


class WebSession(Base):
    """Server-side login session: the cookie carries a random id whose hash is stored here."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_account_active", "account_id", "revoked_at"),)

    id: Mapped[int_pk]
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    session_hash: Mapped[sha256_hex] = mapped_column(unique=True)
    created_at: Mapped[created_at]
    last_seen_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[timestamp | None]
    user_agent: Mapped[str] = mapped_column(String(300), server_default="")
