"""The contact pipeline's jobs. Each owns its transactions, and a send keeps three apart:

1. the claim (``claim.claim_in``), committed before SMTP is spoken to;
2. SMTP, outside any transaction;
3. the record of what SMTP answered (``send.send_claimed``), in a transaction of its own.

A process that dies between 1 and 3 leaves one row ``claimed``, which the detector marks
``ambiguous`` once its lease runs out: at most one message is ever in doubt (P3), never resent (P2).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from config.logging import get_logger
from panel_service import faults, heartbeat
from panel_service.jobs import job
from panel_service.mail import MailBatch
from panel_service.metrics import INVITATIONS_AMBIGUOUS
from panel_service.models import Invitation
from panel_service.services import tokens
from panel_service.services.contact.claim import ClaimAttempt, Outcome, claim_direct, claim_in
from panel_service.services.contact.requests import request_dispatch
from panel_service.services.contact.send import claim_renewer, send_claimed
from panel_service.tasks import Task
from panel_service.timeutil import as_utc, utcnow

if TYPE_CHECKING:
    from panel_service.jobs import JobContext

log = get_logger(__name__)

DISPATCH_BATCH = 500
DISPATCH_BUDGET_SECONDS = 60.0  # well under the task soft time limit (240 s)


def claim_next(
    runtime: JobContext, *, study_id: int | None = None, participant_id: int | None = None
) -> ClaimAttempt:
    """Step 1 in its own transaction: committed before any SMTP (P3). Pipelined on PostgreSQL
    (``claim_direct``: two round trips instead of four), in a session elsewhere."""
    if runtime.database.direct:
        return claim_direct(
            runtime.database, runtime.settings, study_id=study_id, participant_id=participant_id
        )
    with runtime.database.session_scope() as session:
        return claim_in(session, runtime.settings, study_id=study_id, participant_id=participant_id)


def dispatch_one(
    runtime: JobContext,
    *,
    study_id: int | None = None,
    participant_id: int | None = None,
    mail: MailBatch | None = None,
) -> Outcome | None:
    """Claim (committed), send, record. None when nothing was due."""
    attempt = claim_next(runtime, study_id=study_id, participant_id=participant_id)
    claim = attempt.claim
    if claim is None:
        return attempt.outcome
    faults.point(
        runtime.settings, "after_claim", study_id=claim.study_id, participant_id=claim.participant_id
    )
    with heartbeat.holding(("claim", claim.study_id, claim.participant_id), claim_renewer(runtime, claim)):
        return send_claimed(runtime, claim, mail)


@job(Task.CONTACT_DISPATCH_DUE, queue="contact")
def dispatch_due(runtime: JobContext, limit: int = DISPATCH_BATCH) -> int:
    """Send due invitations one claim at a time until none is due, or the batch or time budget is
    used up; then queue a follow-up so a long queue keeps flowing (and spreads over workers)."""
    started = time.monotonic()
    handled = 0
    outcome: Outcome | None = Outcome.SENT
    with runtime.mailer.batch() as mail:
        while handled < limit and time.monotonic() - started < DISPATCH_BUDGET_SECONDS:
            heartbeat.check_lease()  # a run that lost its lease claims nothing more
            outcome = dispatch_one(runtime, mail=mail)
            if outcome is None:
                break
            handled += 1
    if outcome is not None and handled:
        with runtime.database.session_scope() as session:
            request_dispatch(session)
    return handled


@job(Task.CONTACT_SEND_INVITATION, queue="contact")
def send_invitation(runtime: JobContext, study_id: int, participant_id: int) -> str | None:
    """One invitation (from the incremental match). Not due or not queued any more: nothing."""
    return dispatch_one(runtime, study_id=study_id, participant_id=participant_id)


def queue_due_dispatch(session: Session) -> bool:
    """Beat: if anything queued is due (a retry, a volunteer back under the cap, a dispatch whose
    task was lost), queue one dispatch. The dedup key per due row state makes two beats queue one."""
    due = session.execute(
        select(
            Invitation.study_id,
            Invitation.participant_id,
            Invitation.attempts,
            Invitation.next_attempt_at,
        )
        .where(
            Invitation.status == "queued",
            or_(Invitation.next_attempt_at.is_(None), Invitation.next_attempt_at <= utcnow()),
        )
        .order_by(Invitation.next_attempt_at)
        .limit(1)
    ).first()
    if due is None:
        return False
    # Keyed by the state of the first due row: two beats seeing the same state queue one
    # dispatch; once that row moves on (sent, retried, deferred) the next sweep queues again.
    study_id, participant_id, attempts, next_attempt_at = due
    when = as_utc(next_attempt_at).isoformat() if next_attempt_at is not None else "now"
    request_dispatch(session, dedup_key=f"{Task.CONTACT_SWEEP}:{study_id}:{participant_id}:{attempts}:{when}")
    return True


@job(Task.CONTACT_SWEEP, queue="contact")
def sweep(runtime: JobContext) -> bool:
    with runtime.database.session_scope() as session:
        return queue_due_dispatch(session)


def mark_expired_claims(session: Session, claim_lease_seconds: int, lease_seconds: int | None = None) -> int:
    """A claim whose lease ran out with its send never recorded: the process died somewhere
    between claim and record, maybe after SMTP accepted. Mark it ``ambiguous``; never resend.
    The sending job's heartbeat renews the lease while the send runs, so only a dead claim ages
    out. ``lease_seconds`` (tests) also treats a claim that old as expired whatever its lease."""
    now = utcnow()
    expired = or_(
        Invitation.lease_until < now,
        # a claim made before claims had leases: the claim time plus the lease
        and_(
            Invitation.lease_until.is_(None),
            Invitation.claimed_at < now - dt.timedelta(seconds=claim_lease_seconds),
        ),
    )
    if lease_seconds is not None:
        expired = or_(expired, Invitation.claimed_at < now - dt.timedelta(seconds=lease_seconds))
    result = session.execute(
        update(Invitation)
        .where(Invitation.status == "claimed", expired)
        .values(status="ambiguous", last_error="claim lease ran out before the send was recorded")
    )
    marked = int(result.rowcount or 0)  # type: ignore[attr-defined]
    total = session.scalar(
        select(func.count()).select_from(Invitation).where(Invitation.status == "ambiguous")
    )
    INVITATIONS_AMBIGUOUS.set(total or 0)
    if marked:
        log.warning("invitation.ambiguous", marked=marked, total=total)
    return marked


@job(Task.CONTACT_DETECT_AMBIGUOUS, queue="maintenance")
def detect_ambiguous(runtime: JobContext, lease_seconds: int | None = None) -> int:
    with runtime.database.session_scope() as session:
        return mark_expired_claims(session, runtime.settings.claim_lease_seconds, lease_seconds)


@job(Task.CONTACT_PURGE_TOKENS, queue="maintenance")
def purge_tokens(runtime: JobContext) -> int:
    with runtime.database.session_scope() as session:
        return tokens.purge_expired(session)
