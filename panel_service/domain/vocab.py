"""Closed sets of values that the database, the API and the forms all share.

Each set is a ``StrEnum``: a member *is* its string (``InvitationStatus.SENT == "sent"``), so the
columns stay plain strings and JSON, templates and SQL see the same text. The models build their
CHECK constraints from these enums (``models.types.check_in``), so a value the code does not know
cannot be stored. The tuples below each enum keep the order the forms and reports list them in.
"""

from __future__ import annotations

from enum import StrEnum


def values(members: type[StrEnum]) -> tuple[str, ...]:
    """The values of a closed set, in declaration order."""
    return tuple(member.value for member in members)


class Role(StrEnum):
    PARTICIPANT = "participant"
    COORDINATOR = "coordinator"
    REVIEWER = "reviewer"
    ADMIN = "admin"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class ContactChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Language(StrEnum):
    EN = "en"
    DA = "da"


class ApprovalKind(StrEnum):
    IRB = "IRB"
    IEC = "IEC"
    REC = "REC"


class StudyStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    RECRUITING = "recruiting"
    PAUSED = "paused"
    CLOSED = "closed"
    REJECTED = "rejected"


class ReviewState(StrEnum):
    """A study version's review."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class InvitationStatus(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    SENT = "sent"
    CANCELLED = "cancelled"
    AMBIGUOUS = "ambiguous"
    FAILED = "failed"


class Answer(StrEnum):
    """A volunteer's answer to an invitation (``invitations.response``)."""

    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"


class SubjectOutcome(StrEnum):
    """What a coordinator records about a respondent after contacting them (``respondent_outcomes``)."""

    SCREENED = "screened"
    ENROLLED = "enrolled"
    NOT_ENROLLED = "not_enrolled"


class CancelReason(StrEnum):
    """Why an invitation was cancelled (docs/pipeline.md). ``OTHER`` is never stored: reports
    count any stored reason they do not list under it."""

    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONTACT_PAUSED = "contact_paused"
    ERASED = "erased"
    STUDY_PAUSED = "study_paused"
    STUDY_CLOSED = "study_closed"
    STUDY_NOT_RECRUITING = "study_not_recruiting"
    VERSION_CHANGED = "version_changed"
    APPROVAL_EXPIRED = "approval_expired"
    NO_LONGER_MATCHES = "no_longer_matches"
    NO_EMAIL = "no_email"
    TOO_FAR = "too_far"  # migration 0005_too_far
    OTHER = "other"


class FailReason(StrEnum):
    """Why an invitation ended ``failed``."""

    SMTP_REFUSED = "smtp_refused"


class MatchRunKind(StrEnum):
    RECRUIT = "recruit"
    NIGHTLY = "nightly"
    IMPORT = "import"
    MANUAL = "manual"


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a token purpose, not a password
    ANSWER = "answer"
    UNSUBSCRIBE = "unsubscribe"
    CHANGE_EMAIL = "change_email"  # confirms a new address (issue 13 item 7)


class ConsentKind(StrEnum):
    CONTACT_ABOUT_STUDIES = "contact_about_studies"


ROLES = values(Role)
STAFF_ROLES = (Role.COORDINATOR.value, Role.REVIEWER.value, Role.ADMIN.value)
SEXES = values(Sex)
CONTACT_CHANNELS = values(ContactChannel)
LANGUAGES = values(Language)
APPROVAL_KINDS = values(ApprovalKind)

STUDY_STATUSES = values(StudyStatus)
VERSION_REVIEW_STATES = values(ReviewState)

INVITATION_STATUSES = values(InvitationStatus)
INVITATION_RESPONSES = values(Answer)
RESPONDENT_OUTCOMES = values(SubjectOutcome)
CANCEL_REASONS = values(CancelReason)
# Every value ``invitations.reason`` may hold: a cancel reason or a fail reason.
INVITATION_REASONS = CANCEL_REASONS + values(FailReason)

MATCH_RUN_KINDS = values(MatchRunKind)
TOKEN_PURPOSES = values(TokenPurpose)
CONSENT_KINDS = values(ConsentKind)
