"""A volunteer's rights over their data: everything held, as a download (GDPR art. 15 and 20),
and erasure (P6). Both take the caller's session and never commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.profile import display_icd10
from panel_service.domain.questions import answers_to_json
from panel_service.models import (
    Account,
    ActionToken,
    Consent,
    Invitation,
    OutboxMessage,
    Participant,
    Profile,
    ProfileAnswer,
    ProfileCondition,
    ProfileMedication,
    QuestionReminder,
    QuestionSkip,
    StudyVersion,
    WebSession,
)
from panel_service.services import accounts, invitations
from panel_service.services.audit import record
from panel_service.services.errors import ValidationFailed
from panel_service.services.participants import participant_for
from panel_service.services.profiles import stored_entries
from panel_service.services.questions import answers_of
from panel_service.timeutil import utcnow


def export_data(session: Session, account: Account, participant: Participant) -> dict[str, Any]:
    """Everything Panel holds about the volunteer, as JSON-ready data (GDPR art. 15 and 20)."""

    def when(value: dt.datetime | dt.date | None) -> str | None:
        return value.isoformat() if value is not None else None

    profile = session.get(Profile, participant.id)
    consents = session.scalars(
        select(Consent).where(Consent.participant_id == participant.id).order_by(Consent.given_at)
    ).all()
    invitation_rows = session.execute(
        select(Invitation, StudyVersion.title)
        .join(StudyVersion, StudyVersion.id == Invitation.study_version_id)
        .where(Invitation.participant_id == participant.id)
        .order_by(Invitation.created_at)
    ).all()
    sessions = session.scalars(
        select(WebSession).where(WebSession.account_id == account.id).order_by(WebSession.created_at)
    ).all()
    profile_part: dict[str, Any] | None = None
    if profile is not None:
        conditions = stored_entries(session, participant.id, "icd10")
        medications = stored_entries(session, participant.id, "atc")
        profile_part = {
            "birth_date": when(profile.birth_date),
            "sex": profile.sex,
            "region": profile.region,
            "height_cm": profile.height_cm,
            "weight_kg": profile.weight_kg,
            "bmi": profile.bmi,
            "smoker": profile.smoker,
            "pregnant": profile.pregnant,
            "home": None
            if profile.home_lat is None
            else {
                "lat": profile.home_lat,
                "lon": profile.home_lon,
                "place": profile.home_place,
                "geonameid": profile.home_geonameid,
            },
            # Each entry as in profile JSON: a code, or an object with its history (§4a).
            "conditions": [replace(entry, code=display_icd10(entry.code)).to_json() for entry in conditions]
            if profile.conditions_answered
            else None,
            "medications": [entry.to_json() for entry in medications]
            if profile.medications_answered
            else None,
            # Answers to catalogue questions (§4a), each with the day it was given.
            "answers": answers_to_json(answers_of(session, participant.id)),
            "updated_at": when(profile.updated_at),
        }
    reminder = session.get(QuestionReminder, participant.id)
    record(session, account, "data.export", "participant", participant.id)
    return {
        "format": "panel-volunteer-export/1",
        "exported_at": utcnow().isoformat(),
        "account": {
            "email": account.email,
            "pending_email": account.pending_email,
            "role": account.role,
            "email_verified_at": when(account.email_verified_at),
            "created_at": when(account.created_at),
        },
        "identity": {
            "name": participant.name,
            "phone": participant.phone,
            "preferred_channel": participant.preferred_channel,
            "language": participant.language,
            "contact_paused_until": when(participant.contact_paused_until),
            "created_at": when(participant.created_at),
        },
        "consents": [
            {
                "kind": consent.kind,
                "text_version": consent.text_version,
                "given_at": when(consent.given_at),
                "withdrawn_at": when(consent.withdrawn_at),
            }
            for consent in consents
        ],
        "profile": profile_part,
        # Questions put aside on the "questions that matter" pages, and the reminder email.
        "skipped_questions": [
            {"question": skip.ask_key, "reason": skip.reason, "skipped_on": when(skip.skipped_on)}
            for skip in session.scalars(
                select(QuestionSkip)
                .where(QuestionSkip.participant_id == participant.id)
                .order_by(QuestionSkip.ask_key)
            )
        ],
        "question_reminders": None
        if reminder is None
        else {
            "opted_out_at": when(reminder.opted_out_at),
            "last_sent_at": when(reminder.last_sent_at),
        },
        "invitations": [
            {
                "study_id": invitation.study_id,
                "study_title": title,
                "study_version_id": invitation.study_version_id,
                "status": invitation.status,
                "reason": invitation.reason,
                "created_at": when(invitation.created_at),
                "sent_at": when(invitation.sent_at),
                "cancelled_at": when(invitation.cancelled_at),
                "response": invitation.response,
                "responded_at": when(invitation.responded_at),
            }
            for invitation, title in invitation_rows
        ],
        "sign_ins": [
            {
                "created_at": when(web_session.created_at),
                "last_seen_at": when(web_session.last_seen_at),
                "revoked_at": when(web_session.revoked_at),
                "user_agent": web_session.user_agent,
            }
            for web_session in sessions
        ],
    }


def erase(session: Session, settings: Settings, account: Account, password: str) -> int:
    """Erase a volunteer after they re-entered their password (P6).

    Deletes the account (and with it sessions and API tokens), the profile with its
    conditions and medications, the consents and every link token; blanks the error texts of
    the volunteer's invitations and any outbox error text that quotes their address, name or
    phone. The ``participants`` row stays as an anonymous tombstone (no name, phone, account
    or audit pseudonym) so that invitation counts and the at-most-once rule survive. The
    audit trail is not touched (it cannot be: it is insert-only): it names the volunteer only
    by a pseudonym, whose one link to this row is removed here. Returns the tombstone's id.
    """
    if not accounts.verify_password(settings, account.password_hash, password):
        raise ValidationFailed("The password is not correct.", {"password": "wrong"})
    participant = participant_for(session, account.id)
    participant_id = participant.id
    identity = [
        value
        for value in (
            account.email,
            account.pending_email,
            account.previous_email,
            participant.name,
            participant.phone,
        )
        if value
    ]
    # Recorded while the pseudonym still exists: the last event under it.
    record(session, None, "account.erase", "participant", participant_id, volunteer=participant_id)
    invitations.cancel_pending(session, reason="erased", participant_id=participant_id)
    # Error texts may quote the server's answer about the volunteer's address.
    session.execute(
        update(Invitation)
        .where(Invitation.participant_id == participant_id, Invitation.last_error.is_not(None))
        .values(last_error=None)
    )
    session.execute(
        update(OutboxMessage)
        .where(or_(*(OutboxMessage.last_error.contains(value, autoescape=True) for value in identity)))
        .values(last_error="[erased]")
    )
    session.execute(delete(ProfileCondition).where(ProfileCondition.participant_id == participant_id))
    session.execute(delete(ProfileMedication).where(ProfileMedication.participant_id == participant_id))
    session.execute(delete(ProfileAnswer).where(ProfileAnswer.participant_id == participant_id))
    session.execute(delete(Profile).where(Profile.participant_id == participant_id))
    session.execute(delete(Consent).where(Consent.participant_id == participant_id))
    # What they skipped ("I'd rather not say" about a health question says something too) and
    # their reminder preferences.
    session.execute(delete(QuestionSkip).where(QuestionSkip.participant_id == participant_id))
    session.execute(delete(QuestionReminder).where(QuestionReminder.participant_id == participant_id))
    session.execute(
        delete(ActionToken).where(
            or_(ActionToken.participant_id == participant_id, ActionToken.account_id == account.id)
        )
    )
    session.execute(delete(WebSession).where(WebSession.account_id == account.id))
    session.execute(
        update(Participant)
        .where(Participant.id == participant_id)
        .values(
            name=None,
            phone=None,
            account_id=None,
            contact_paused_until=None,
            audit_pseudonym=None,
            erased_at=utcnow(),
        )
        .execution_options(synchronize_session="fetch")
    )
    session.delete(account)
    session.flush()
    session.expire_all()
    return participant_id
