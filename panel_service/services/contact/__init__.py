"""Contact: sending queued invitations, exactly once, nothing lost (ARCHITECTURE §2 P1-P3, §6.4).

An invitation moves ``queued → claimed → sent``, or to ``cancelled`` (reason), ``failed``
(reason) or ``ambiguous``. One send is three steps:

1. *Claim* (one short transaction): take one due queued row and its volunteer's row, both
   locked ``FOR NO KEY UPDATE SKIP LOCKED`` (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises
   writers), re-check P1 (consent active, not erased, study recruiting, the invitation's
   version is the active one under an approval in force today, the profile still TRUE today),
   the contact pause and the contact cap (a paused or capped volunteer's invitation is deferred
   to the end of the pause or cap, not cancelled); then mark it ``claimed``, issue its link
   tokens and COMMIT.
2. *Send* over SMTP, outside any transaction, with a Message-ID derived from the invitation.
3. *Record*: ``sent`` on success; on refusal back to ``queued`` with exponential backoff, or
   ``failed`` after ``send_max_attempts``. The outcome is known once SMTP has answered, so it is
   kept in memory and the record is retried with backoff, on a fresh connection each time, while
   the database is unreachable (a restart, a failover) for up to ``claim_lease_seconds``.

A process that dies between 1 and 3 leaves the row ``claimed``; its claim lease (``lease_until``,
taken for ``claim_lease_seconds`` and renewed by the sending job's heartbeat while the send runs)
then runs out, and the detector marks it ``ambiguous`` and nothing sends it again (P2 wins over
P3); an operator resolves it with ``panel invitations resolve``. Only a process death (or a
database unreachable for longer than the lease) leaves a row ``ambiguous``.

Modules, one concern each: ``requests`` (what other code asks for, through the outbox),
``claim`` (step 1 and the P1 re-check, ``domain.eligibility``), ``send`` (steps 2 and 3, the
claim lease), ``jobs`` (the five jobs, which own the transactions), ``operator`` (resolving
ambiguous rows). Its SQL is ``queries.contact``; withdrawing consent is ``services.consent``.

Work arrives as ``contact.dispatch_due`` (a batch loop, queued by each matched chunk and by the
sweep), ``contact.send_invitation`` (one invitation, queued by the incremental match) and the
beat's ``contact.sweep`` for delayed rows (retries, capped volunteers).
"""

from panel_service.services.contact.claim import ClaimAttempt, Claimed, Outcome, claim_in, message_id_for
from panel_service.services.contact.jobs import (
    claim_next,
    detect_ambiguous,
    dispatch_due,
    dispatch_one,
    purge_tokens,
    send_invitation,
    sweep,
)
from panel_service.services.contact.operator import ambiguous, resolve_ambiguous
from panel_service.services.contact.requests import request_dispatch, request_send
from panel_service.services.contact.send import backoff_seconds, build_message, claim_renewer, send_claimed

__all__ = [
    "ClaimAttempt",
    "Claimed",
    "Outcome",
    "ambiguous",
    "backoff_seconds",
    "build_message",
    "claim_in",
    "claim_next",
    "claim_renewer",
    "detect_ambiguous",
    "dispatch_due",
    "dispatch_one",
    "message_id_for",
    "purge_tokens",
    "request_dispatch",
    "request_send",
    "resolve_ambiguous",
    "send_claimed",
    "send_invitation",
    "sweep",
]
