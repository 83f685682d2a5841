"""Closed sets of values that the database, the API and the forms all share."""

from __future__ import annotations

ROLES = ("participant", "coordinator", "reviewer", "admin")
STAFF_ROLES = ("coordinator", "reviewer", "admin")
SEXES = ("female", "male", "other")
CONTACT_CHANNELS = ("email", "sms")
LANGUAGES = ("en", "da")
APPROVAL_KINDS = ("IRB", "IEC", "REC")

STUDY_STATUSES = ("draft", "in_review", "approved", "recruiting", "paused", "closed", "rejected")
VERSION_REVIEW_STATES = ("draft", "in_review", "approved", "rejected", "superseded")

INVITATION_STATUSES = ("queued", "claimed", "sent", "cancelled", "ambiguous", "failed")
INVITATION_RESPONSES = ("interested", "not_interested")
# What a coordinator records about a respondent after contacting them (respondent_outcomes).
RESPONDENT_OUTCOMES = ("screened", "enrolled", "not_enrolled")
# Why an invitation was cancelled (docs/pipeline.md); "other" holds any reason not listed here.
CANCEL_REASONS = (
    "consent_withdrawn",
    "contact_paused",
    "erased",
    "study_paused",
    "study_closed",
    "study_not_recruiting",
    "version_changed",
    "approval_expired",
    "no_longer_matches",
    "no_email",
    "other",
)

MATCH_RUN_KINDS = ("recruit", "nightly", "import", "manual")
TOKEN_PURPOSES = ("verify_email", "reset_password", "answer", "unsubscribe")
CONSENT_KINDS = ("contact_about_studies",)
