"""Volunteer use cases: sign-up, verification, profile, consent, pause, export and erasure.

Every function takes the caller's session and flushes but never commits. Emails are never
sent from here: a job is recorded in the outbox (ids only) and goes out after the commit
(``services.volunteer_mail``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service import outbox
from panel_service.domain.criteria import Truth, explain, parse_json
from panel_service.domain.criteria.explain import Explanation
from panel_service.domain.criteria.model import Condition, FieldLeaf, Medication, QuestionLeaf, leaves
from panel_service.domain.history import Entry
from panel_service.domain.passwords import password_problem
from panel_service.domain.profile import (
    ProfileData,
    bmi,
    display_icd10,
    latest_adult_birth_date,
)
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
    Study,
    StudyVersion,
    WebSession,
)
from panel_service.services import accounts, invitations
from panel_service.services.audit import record
from panel_service.services.errors import Forbidden, ValidationFailed
from panel_service.services.matching import load_profile
from panel_service.services.questions import answers_of, sync_smoking_status
from panel_service.timeutil import panel_today, pause_ends_at, utcnow

# The version of the consent text shown at sign-up and on the contact page. Change it whenever
# the wording changes, so that every recorded consent says which words were agreed to.
CONSENT_TEXT_VERSION = "2026-12"
CONSENT_KIND = "contact_about_studies"
MATCH_JOB = "matching.match_profile"
# The longest pause a volunteer can choose at once; longer means "withdraw consent".
MAX_PAUSE = dt.timedelta(days=2 * 366)

# Profile sections a volunteer can answer, keyed by the criteria field or leaf kind that an
# answer settles. Used for "answering N more questions..." without naming any study.
SECTION_OF_FIELD = {
    "age": "birth_date",
    "sex": "sex",
    "region": "region",
    "bmi": "height_weight",
    "height_cm": "height_weight",
    "weight_kg": "height_weight",
    "smoker": "smoker",
    "pregnant": "pregnant",
}


@dataclass(frozen=True)
class SignUpResult:
    account_id: int
    created: bool  # False: the email was already registered (and its owner is emailed instead)


def sign_up(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    name: str,
    consent: bool,
    language: str = "en",
) -> SignUpResult:
    """Create an unverified volunteer, or — for an email already registered — only email the
    owner. The caller shows the same "check your email" page either way (membership of a
    health panel is itself sensitive)."""
    normalised = accounts.normalise_email(email)
    problem = password_problem(password, email=normalised)
    if problem:
        raise ValidationFailed("The password is not accepted.", {"password": problem})
    cleaned_name = " ".join(name.split())
    if not cleaned_name:
        raise ValidationFailed("Enter your name.", {"name": "required"})
    # Hash before looking the email up, so both paths cost the same time.
    password_hash = accounts.hash_password(settings, password)
    existing = accounts.find_account(session, normalised)
    if existing is not None:
        outbox.enqueue(session, "accounts.send_signup_existing", {"account_id": existing.id})
        return SignUpResult(existing.id, created=False)
    account = Account(email=normalised, password_hash=password_hash, role="participant", is_active=True)
    session.add(account)
    session.flush()
    participant = Participant(account_id=account.id, name=cleaned_name, language=language)
    session.add(participant)
    session.flush()
    if consent:
        give_consent(session, participant)
    record(session, account, "account.signup", "participant", participant.id, {"consent": consent})
    outbox.enqueue(session, "accounts.send_verification", {"account_id": account.id})
    return SignUpResult(account.id, created=True)


def participant_for(session: Session, account_id: int) -> Participant:
    participant = session.scalar(select(Participant).where(Participant.account_id == account_id))
    if participant is None or participant.erased_at is not None:
        raise Forbidden("This account has no volunteer profile.")
    return participant


def update_details(session: Session, participant: Participant, *, name: str, phone: str | None) -> None:
    """Name and phone: what a study team receives when the volunteer answers "interested"."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationFailed("Enter your name.", {"name": "required"})
    participant.name = cleaned[:200]
    participant.phone = " ".join((phone or "").split())[:40] or None
    session.flush()


def mark_verified(session: Session, account: Account) -> None:
    if account.email_verified_at is None:
        account.email_verified_at = utcnow()
        record(session, account, "account.verify_email", "account", account.id)


# --- consent and contact -----------------------------------------------------------------


def active_consent(session: Session, participant_id: int) -> Consent | None:
    return session.scalar(
        select(Consent).where(
            Consent.participant_id == participant_id,
            Consent.kind == CONSENT_KIND,
            Consent.withdrawn_at.is_(None),
        )
    )


def give_consent(session: Session, participant: Participant) -> Consent:
    current = active_consent(session, participant.id)
    if current is not None:
        return current
    consent = Consent(
        participant_id=participant.id, kind=CONSENT_KIND, text_version=CONSENT_TEXT_VERSION, given_at=utcnow()
    )
    session.add(consent)
    session.flush()
    record(
        session,
        None,
        "consent.give",
        "participant",
        participant.id,
        {"text_version": CONSENT_TEXT_VERSION},
        volunteer=participant.id,
    )
    outbox.enqueue(session, MATCH_JOB, {"participant_id": participant.id})
    return consent


def withdraw_consent(session: Session, participant: Participant) -> int:
    """Withdraw and cancel every pending contact in the same transaction (P6)."""
    consent = active_consent(session, participant.id)
    if consent is not None:
        consent.withdrawn_at = utcnow()
    cancelled = invitations.cancel_pending(session, reason="consent_withdrawn", participant_id=participant.id)
    record(
        session,
        None,
        "consent.withdraw",
        "participant",
        participant.id,
        {"cancelled": cancelled},
        volunteer=participant.id,
    )
    session.flush()
    return cancelled


def pause_contact(session: Session, settings: Settings, participant: Participant, until: dt.date) -> int:
    """Pause contact through ``until`` (P6): pending invitations are held, not cancelled; they go
    out after the pause if they still match then (re-checked as in P1). Returns how many are held."""
    today = panel_today(settings)
    if until <= today:
        raise ValidationFailed("Choose a date after today.", {"until": "not_future"})
    if until > today + MAX_PAUSE:
        raise ValidationFailed("Choose a date within two years.", {"until": "too_far"})
    participant.contact_paused_until = until
    held = invitations.hold_pending(
        session, participant_id=participant.id, until=pause_ends_at(settings, until)
    )
    record(
        session,
        None,
        "contact.pause",
        "participant",
        participant.id,
        {"until": until.isoformat(), "held": held},
        volunteer=participant.id,
    )
    session.flush()
    return held


def resume_contact(session: Session, settings: Settings, participant: Participant) -> None:
    """End a pause early: what it held is due now (and re-checked at send), and the volunteer is
    matched again against every recruiting study (matching skips paused volunteers)."""
    from panel_service.services import contact

    until = participant.contact_paused_until
    participant.contact_paused_until = None
    if until is not None:
        released = invitations.release_held(
            session, participant_id=participant.id, held_until=pause_ends_at(settings, until)
        )
        if released:
            contact.request_dispatch(session)
    outbox.enqueue(session, MATCH_JOB, {"participant_id": participant.id})
    record(
        session,
        None,
        "contact.resume",
        "participant",
        participant.id,
        {"paused_until": until.isoformat() if until is not None else None},
        volunteer=participant.id,
    )
    session.flush()


def is_paused(settings: Settings, participant: Participant) -> bool:
    until = participant.contact_paused_until
    return until is not None and until >= panel_today(settings)


# --- the health profile --------------------------------------------------------------------


def get_or_create_profile(session: Session, participant: Participant) -> Profile:
    profile = session.get(Profile, participant.id)
    if profile is None:
        profile = Profile(
            participant_id=participant.id, conditions_answered=False, medications_answered=False
        )
        session.add(profile)
        session.flush()
    return profile


def validate_birth_date(settings: Settings, birth_date: dt.date) -> str | None:
    """A message key, or None: not in the future, not before 1900, an adult today."""
    today = panel_today(settings)
    if birth_date > today:
        return "future"
    if birth_date.year < 1900:
        return "too_old"
    if birth_date > latest_adult_birth_date(today):
        return "under_18"
    return None


def save_about(
    session: Session,
    settings: Settings,
    participant: Participant,
    *,
    birth_date: dt.date | None,
    sex: str | None,
    region: str | None,
    height_cm: float | None,
    weight_kg: float | None,
    smoker: bool | None,
    pregnant: bool | None,
) -> Profile:
    """Store the answered basics; ``None`` stores "unanswered". Enqueues a re-match."""
    if birth_date is not None:
        problem = validate_birth_date(settings, birth_date)
        if problem:
            raise ValidationFailed("The date of birth is not accepted.", {"birth_date": problem})
    profile = get_or_create_profile(session, participant)
    profile.birth_date = birth_date
    profile.sex = sex
    profile.region = region
    profile.height_cm = height_cm
    profile.weight_kg = weight_kg
    profile.bmi = bmi(height_cm, weight_kg)
    profile.smoker = smoker
    session.flush()
    sync_smoking_status(session, participant.id, smoker, panel_today(settings))
    # The one rule of fact (ARCHITECTURE §3): a man is stored as not pregnant.
    profile.pregnant = False if sex == "male" else pregnant
    profile.updated_at = utcnow()
    session.flush()
    outbox.enqueue(session, MATCH_JOB, {"participant_id": participant.id})
    return profile


def save_codes(
    session: Session, participant: Participant, *, system: str, codes: list[str] | None
) -> Profile:
    """Replace the condition (``icd10``) or medication (``atc``) list. ``None`` = skip: the
    stored answer stays as it is (unanswered stays unanswered). ``[]`` = "I have none"."""
    profile = get_or_create_profile(session, participant)
    if codes is None:
        return profile
    unique = sorted(set(codes))
    model = ProfileCondition if system == "icd10" else ProfileMedication
    # Codes that stay keep their history (§4a); the others go, new ones come in plain.
    session.execute(delete(model).where(model.participant_id == participant.id, model.code.not_in(unique)))
    kept = set(stored_codes(session, participant.id, system))
    session.add_all(model(participant_id=participant.id, code=code) for code in unique if code not in kept)
    if system == "icd10":
        profile.conditions_answered = True
    else:
        profile.medications_answered = True
    profile.updated_at = utcnow()
    session.flush()
    session.expire(profile, ["conditions", "medications"])
    outbox.enqueue(session, MATCH_JOB, {"participant_id": participant.id})
    return profile


def stored_entries(session: Session, participant_id: int, system: str) -> list[Entry]:
    model = ProfileCondition if system == "icd10" else ProfileMedication
    rows = session.execute(
        select(model.code, model.status, model.since, model.until)
        .where(model.participant_id == participant_id)
        .order_by(model.code)
    )
    return [Entry(code, status, since, until) for code, status, since, until in rows]


def stored_codes(session: Session, participant_id: int, system: str) -> list[str]:
    model = ProfileCondition if system == "icd10" else ProfileMedication
    return list(session.scalars(select(model.code).where(model.participant_id == participant_id)))


def profile_data(session: Session, participant_id: int) -> ProfileData:
    """The stored profile as the criteria engine reads it (``None`` = unanswered): the very loader
    matching and dispatch use, so the dashboard explains exactly what the matcher saw."""
    return load_profile(session, participant_id) or ProfileData()


def stored_profile(session: Session, participant_id: int) -> ProfileData | None:
    """The stored profile as ``profile_data`` reads it, or None when there is none yet."""
    return load_profile(session, participant_id)


def has_profile(session: Session, participant_id: int) -> bool:
    return session.get(Profile, participant_id) is not None


# --- the dashboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationView:
    study_id: int
    title: str
    invitation_text: str
    site_region: str
    sites: tuple[str, ...]
    organisation: str
    status: str
    sent_at: dt.datetime | None
    response: str | None
    responded_at: dt.datetime | None
    explanation: Explanation | None


def visible_invitations(
    session: Session, settings: Settings, participant_id: int, data: ProfileData | None = None
) -> list[InvitationView]:
    """Invitations that reached the volunteer (sent), newest first, each with its explanation
    for the exact study version it was sent for. ``data``: the profile when the caller has
    loaded it already (the dashboard loads it once per request)."""
    rows = session.execute(
        select(Invitation, StudyVersion)
        .join(StudyVersion, StudyVersion.id == Invitation.study_version_id)
        .where(Invitation.participant_id == participant_id, Invitation.status == "sent")
        .order_by(Invitation.sent_at.desc(), Invitation.study_id)
    ).all()
    if data is None:
        data = profile_data(session, participant_id)
    today = panel_today(settings)
    views = []
    for invitation, version in rows:
        # The version the invitation was sent for: an approved version, and the one in force when
        # it was sent (a claim is cancelled otherwise), so the page says what the email said (P5).
        views.append(
            InvitationView(
                study_id=invitation.study_id,
                title=version.title,
                invitation_text=version.invitation_text,
                site_region=version.site_region,
                sites=tuple(str(site.get("name", "")) for site in version.sites),
                organisation=version.organisation_name,
                status=invitation.status,
                sent_at=invitation.sent_at,
                response=invitation.response,
                responded_at=invitation.responded_at,
                explanation=_explain(version.criteria, data, today),
            )
        )
    return views


def invitation_view(
    session: Session, settings: Settings, participant_id: int, study_id: int
) -> InvitationView | None:
    """One of the volunteer's own invitations; None for anyone else's (P7)."""
    for view in visible_invitations(session, settings, participant_id):
        if view.study_id == study_id:
            return view
    return None


def _explain(criteria: dict[str, Any], data: ProfileData, today: dt.date) -> Explanation | None:
    try:
        return explain(parse_json(criteria), data, today)
    except Exception:  # a stored version is validated on write; never let one break the page
        return None


def open_questions(
    session: Session, settings: Settings, participant_id: int, data: ProfileData | None = None
) -> list[str]:
    """Profile sections whose answer could settle an *unknown* result for some recruiting
    study. Only sections are returned, never a study, a criterion or a code: the volunteer
    learns how much answering helps without learning what any uninvited study looks for."""
    if data is None:
        data = profile_data(session, participant_id)
    today = panel_today(settings)
    criteria_rows = session.scalars(
        select(StudyVersion.criteria)
        .join(Study, Study.active_version_id == StudyVersion.id)
        .where(Study.status == "recruiting")
    ).all()
    sections: set[str] = set()
    for criteria in criteria_rows:
        try:
            tree = parse_json(criteria)
        except Exception:  # noqa: S112 - a broken stored version must not break the dashboard
            continue
        explanation = explain(tree, data, today)
        if explanation.result is not Truth.UNKNOWN:
            continue
        for leaf, explained in zip(leaves(tree), explanation.leaves, strict=False):
            if explained.result is not Truth.UNKNOWN:
                continue
            if isinstance(leaf, Condition):
                sections.add("conditions")
            elif isinstance(leaf, Medication):
                sections.add("medications")
            elif isinstance(leaf, FieldLeaf):
                sections.add(SECTION_OF_FIELD[leaf.field])
            elif isinstance(leaf, QuestionLeaf):
                sections.add("questions")  # the catalogue's questions (§4a), never which one
    order = [
        "birth_date",
        "sex",
        "region",
        "height_weight",
        "smoker",
        "pregnant",
        "conditions",
        "medications",
        "questions",
    ]
    return [section for section in order if section in sections]


# --- export and erasure --------------------------------------------------------------------


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
    record(session, account, "data.export", "participant", participant.id)
    return {
        "format": "panel-volunteer-export/1",
        "exported_at": utcnow().isoformat(),
        "account": {
            "email": account.email,
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
    identity = [value for value in (account.email, participant.name, participant.phone) if value]
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
