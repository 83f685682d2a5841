"""Every background job Panel runs, by name: the one closed set of task names.

A name is what the outbox row, the Celery task and the beat schedule share. Code queues work
only through the ``request_*()`` function of the module that owns the job (which passes one of
these); ``jobs.check_handlers`` asserts at start-up that each name has its handler.
"""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    ACCOUNTS_SEND_VERIFICATION = "accounts.send_verification"
    ACCOUNTS_SEND_SIGNUP_EXISTING = "accounts.send_signup_existing"
    ACCOUNTS_SEND_EMAIL_CHANGE = "accounts.send_email_change"
    ACCOUNTS_SEND_EMAIL_CHANGED = "accounts.send_email_changed"
    ACCOUNTS_SEND_EMAIL_TAKEN = "accounts.send_email_taken"
    ACCOUNTS_SEND_PASSWORD_RESET = "accounts.send_password_reset"  # noqa: S105 - a task name, not a password
    ANSWERS_SEND_INTEREST_WITHDRAWN = "answers.send_interest_withdrawn"
    CONTACT_DISPATCH_DUE = "contact.dispatch_due"
    CONTACT_SEND_INVITATION = "contact.send_invitation"
    CONTACT_SWEEP = "contact.sweep"
    CONTACT_DETECT_AMBIGUOUS = "contact.detect_ambiguous"
    CONTACT_PURGE_TOKENS = "contact.purge_tokens"
    MATCHING_START_STUDY = "matching.start_study"
    MATCHING_MATCH_CHUNK = "matching.match_chunk"
    MATCHING_MATCH_PROFILE = "matching.match_profile"
    MATCHING_REMATCH_ALL = "matching.rematch_all"
    MATCHING_NIGHTLY = "matching.nightly"
    MATCHING_EXPIRE_APPROVALS = "matching.expire_approvals"
    OUTBOX_RECONCILE = "outbox.reconcile"
    OUTBOX_PURGE = "outbox.purge"
    QUESTIONS_REMIND_DUE = "questions.remind_due"
    QUESTIONS_SEND_REMINDER = "questions.send_reminder"
    STUDIES_SEND_REVIEW_DECISION = "studies.send_review_decision"
