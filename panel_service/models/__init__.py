"""All models, imported here so ``Base.metadata`` is complete wherever this package is used."""

from panel_service.models.accounts import Account, ApiToken, Organisation, WebSession
from panel_service.models.asking import QuestionReminder, QuestionSkip
from panel_service.models.audit import AuditEvent
from panel_service.models.invitations import ActionToken, Invitation, MatchChunk, MatchRun
from panel_service.models.outbox import OutboxMessage
from panel_service.models.outcomes import RespondentOutcome
from panel_service.models.people import Consent, Participant, Profile, ProfileCondition, ProfileMedication
from panel_service.models.questions import ProfileAnswer, QuestionRow
from panel_service.models.studies import EthicsApproval, Study, StudyVersion

__all__ = [
    "Account",
    "ActionToken",
    "ApiToken",
    "AuditEvent",
    "Consent",
    "EthicsApproval",
    "Invitation",
    "MatchChunk",
    "MatchRun",
    "Organisation",
    "OutboxMessage",
    "Participant",
    "Profile",
    "ProfileAnswer",
    "ProfileCondition",
    "ProfileMedication",
    "QuestionReminder",
    "QuestionRow",
    "QuestionSkip",
    "RespondentOutcome",
    "Study",
    "StudyVersion",
    "WebSession",
]
