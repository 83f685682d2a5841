"""Contact: sending queued invitations, exactly once, nothing lost (ARCHITECTURE §2 P1-P3, §6.4).

An invitation moves ``queued → claimed → sent``, or to ``cancelled`` (reason), ``failed``
(reason) or ``ambiguous``. One send is three steps:

1. *Claim* (one short transaction): take one due queued row with ``FOR UPDATE SKIP LOCKED``
   (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers), lock the volunteer's row,
   re-check P1 (consent active, not paused, not erased, study recruiting, the invitation's
   version is the active one under an approval in force today, the profile still TRUE today)
   and the contact cap; then mark it ``claimed``, issue its link tokens and COMMIT.
2. *Send* over SMTP, outside any transaction, with a Message-ID derived from the invitation.
3. *Record*: ``sent`` on success; on refusal back to ``queued`` with exponential backoff, or
   ``failed`` after ``send_max_attempts``.

A crash between 1 and 3 leaves the row ``claimed``; after ``claim_lease_seconds`` the detector
marks it ``ambiguous`` and nothing sends it again (P2 wins over P3); an operator resolves it
with ``panel invitations resolve``.

Work arrives as ``contact.dispatch_due`` (a batch loop, queued by each matched chunk and by the
sweep), ``contact.send_invitation`` (one invitation, queued by the incremental match) and the
beat's ``contact.sweep`` for delayed rows (retries, capped volunteers).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from markupsafe import escape
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from config.logging import get_logger
from panel_service import outbox
from panel_service.domain import lifecycle
from panel_service.domain.criteria import Truth, compile_criteria, profile_facts
from panel_service.jobs import job
from panel_service.mail import MailBatch, MailError, MailInDoubt
from panel_service.metrics import (
    INVITATIONS_AMBIGUOUS,
    INVITATIONS_CANCELLED,
    INVITATIONS_DEFERRED,
    INVITATIONS_FAILED,
    INVITATIONS_SENT,
)
from panel_service.models import (
    Account,
    Consent,
    EthicsApproval,
    Invitation,
    Participant,
    Study,
    StudyVersion,
)
from panel_service.services import tokens
from panel_service.services.audit import record
from panel_service.services.errors import Conflict, NotFound
from panel_service.services.invitations import cancel_pending
from panel_service.services.matching import (
    CONTACT_CONSENT,
    criteria_of,
    load_profile,
)
from panel_service.timeutil import as_utc, panel_today, utcnow

if TYPE_CHECKING:
    from panel_service.runtime import Runtime

log = get_logger(__name__)

DISPATCH_DUE = "contact.dispatch_due"
SEND_INVITATION = "contact.send_invitation"
SWEEP = "contact.sweep"
DETECT_AMBIGUOUS = "contact.detect_ambiguous"
PURGE_TOKENS = "contact.purge_tokens"

DISPATCH_BATCH = 500
DISPATCH_BUDGET_SECONDS = 60.0  # well under the task soft time limit (240 s)
MAX_BACKOFF_SECONDS = 3600.0


# -- requests (through the outbox) ------------------------------------------------------------


def request_dispatch(session: Session, *, dedup_key: str | None = None) -> None:
    outbox.enqueue(session, DISPATCH_DUE, {}, dedup_key=dedup_key)


def request_send(session: Session, study_id: int, participant_id: int) -> None:
    outbox.enqueue(
        session,
        SEND_INVITATION,
        {"study_id": study_id, "participant_id": participant_id},
        dedup_key=f"{SEND_INVITATION}:{study_id}:{participant_id}",
    )


# -- claim -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """Everything the email needs, read inside the claim transaction."""

    study_id: int
    participant_id: int
    attempts: int
    message_id: str
    email: str
    name: str | None
    study_title: str
    invitation_text: str
    site_region: str
    answer_token: str
    unsubscribe_token: str


def message_id_for(settings_base_url: str, study_id: int, participant_id: int) -> str:
    host = urlsplit(settings_base_url).hostname or "panel.invalid"
    return f"<inv-{study_id}-{participant_id}@{host}>"


def backoff_seconds(base: float, attempts: int) -> float:
    """30 s, 60 s, 120 s ... after the 1st, 2nd, 3rd failed attempt, at most an hour."""
    return float(min(MAX_BACKOFF_SECONDS, base * 2 ** max(attempts - 1, 0)))


def _cancel(invitation: Invitation, reason: str) -> None:
    invitation.status = "cancelled"
    invitation.reason = reason
    invitation.cancelled_at = utcnow()
    INVITATIONS_CANCELLED.labels(reason).inc()


def _due_query(study_id: int | None = None, participant_id: int | None = None) -> Select[Any]:
    query = select(Invitation).where(
        Invitation.status == "queued",
        or_(Invitation.next_attempt_at.is_(None), Invitation.next_attempt_at <= utcnow()),
    )
    if study_id is not None and participant_id is not None:
        query = query.where(Invitation.study_id == study_id, Invitation.participant_id == participant_id)
    return query.limit(1)


def claim_next(
    runtime: Runtime, *, study_id: int | None = None, participant_id: int | None = None
) -> Claimed | str | None:
    """Claim one due invitation (or the given one). Returns the claim, or a word for what became
    of the row instead (``cancelled``, ``deferred``), or None when nothing is due."""
    settings = runtime.settings
    postgres = not runtime.database.is_sqlite
    with runtime.database.session_scope() as session:
        query = _due_query(study_id, participant_id)
        if postgres:
            query = query.with_for_update(skip_locked=True)
        invitation = session.scalar(query)
        if invitation is None:
            return None
        pid, sid = invitation.participant_id, invitation.study_id
        today = panel_today(settings)
        volunteer = _volunteer(session, pid, today, lock=postgres)
        study = _study(session, sid)
        reason = _recheck(session, invitation, volunteer, study, today)
        if reason is not None:
            _cancel(invitation, reason)
            log.info("invitation.cancelled", study_id=sid, participant_id=pid, reason=reason)
            return "cancelled"
        assert volunteer is not None and study is not None  # _recheck returned a reason otherwise
        wait_until = _cap_wait(session, pid, settings.contact_cap, settings.contact_cap_days)
        if wait_until is not None:
            invitation.next_attempt_at = wait_until
            INVITATIONS_DEFERRED.labels("contact_cap").inc()
            return "deferred"
        ttl = dt.timedelta(days=settings.link_ttl_days)
        answer = tokens.issue(session, "answer", ttl=ttl, participant_id=pid, study_id=sid)
        unsubscribe = tokens.issue(session, "unsubscribe", ttl=ttl, participant_id=pid)
        invitation.status = "claimed"
        invitation.claimed_at = utcnow()
        invitation.attempts = (invitation.attempts or 0) + 1
        invitation.message_id = message_id_for(settings.base_url, sid, pid)
        return Claimed(
            study_id=sid,
            participant_id=pid,
            attempts=invitation.attempts,
            message_id=invitation.message_id,
            email=str(volunteer.email),
            name=volunteer.name,
            study_title=study.title,
            invitation_text=str(study.invitation_text),
            site_region=str(study.site_region),
            answer_token=answer,
            unsubscribe_token=unsubscribe,
        )


@dataclass(frozen=True)
class _Volunteer:
    name: str | None
    email: str | None
    account_active: bool
    not_contactable: str | None


@dataclass(frozen=True)
class _Study:
    title: str
    status: str
    active_version_id: int | None
    content_hash: str | None
    criteria: dict[str, Any] | None
    invitation_text: str | None
    site_region: str | None
    approved_on: dt.date | None
    expires_on: dt.date | None


def _volunteer(session: Session, participant_id: int, today: dt.date, *, lock: bool) -> _Volunteer | None:
    """Identity, account and consent in one query. The volunteer's row lock (FOR NO KEY UPDATE,
    PostgreSQL) serialises the contact-cap count across workers."""
    consent = (
        select(Consent.id)
        .where(
            Consent.participant_id == Participant.id,
            Consent.kind == CONTACT_CONSENT,
            Consent.withdrawn_at.is_(None),
        )
        .exists()
    )
    query = (
        select(
            Participant.name,
            Participant.erased_at,
            Participant.contact_paused_until,
            Account.email,
            Account.is_active,
            consent,
        )
        .outerjoin(Account, Account.id == Participant.account_id)
        .where(Participant.id == participant_id)
    )
    if lock:
        query = query.with_for_update(key_share=True, of=Participant)
    row = session.execute(query).first()
    if row is None:
        return None
    name, erased_at, paused_until, email, active, consented = row
    reason = None
    if erased_at is not None:
        reason = "erased"
    elif paused_until is not None and paused_until >= today:
        reason = "contact_paused"
    elif not consented:
        reason = "consent_withdrawn"
    return _Volunteer(name, email, bool(active), reason)


def _study(session: Session, study_id: int) -> _Study | None:
    """The study, its active version and that version's own approval, in one query."""
    row = session.execute(
        select(
            Study.title,
            Study.status,
            Study.active_version_id,
            StudyVersion.content_hash,
            StudyVersion.criteria,
            StudyVersion.invitation_text,
            StudyVersion.site_region,
            EthicsApproval.approved_on,
            EthicsApproval.expires_on,
        )
        .outerjoin(
            StudyVersion, (StudyVersion.id == Study.active_version_id) & (StudyVersion.study_id == Study.id)
        )
        .outerjoin(EthicsApproval, EthicsApproval.study_version_id == StudyVersion.id)
        .where(Study.id == study_id)
    ).first()
    return None if row is None else _Study(*row)


def _recheck(
    session: Session,
    invitation: Invitation,
    volunteer: _Volunteer | None,
    study: _Study | None,
    today: dt.date,
) -> str | None:
    """P1 at claim time: None when the invitation may go out today, else the cancel reason."""
    if volunteer is None:
        return "erased"
    if volunteer.not_contactable is not None:
        return volunteer.not_contactable
    if study is None or study.status != "recruiting":
        status = study.status if study is not None else "closed"
        return f"study_{status}" if status in ("paused", "closed") else "study_not_recruiting"
    if study.active_version_id != invitation.study_version_id or study.criteria is None:
        return "version_changed"
    if (
        study.approved_on is None
        or study.expires_on is None
        or not lifecycle.approval_covers(study.approved_on, study.expires_on, today)
    ):
        return "approval_expired"
    profile = load_profile(session, invitation.participant_id)
    if profile is None:
        return "erased"
    node = criteria_of(invitation.study_version_id, study.content_hash or "", study.criteria)
    if compile_criteria(node)(profile_facts(profile, today)) is not Truth.TRUE:
        return "no_longer_matches"
    if not volunteer.email or not volunteer.account_active:
        return "no_email"
    return None


def _cap_wait(session: Session, participant_id: int, cap: int, days: int) -> dt.datetime | None:
    """None while the volunteer is under the cap; else when the oldest counted contact leaves the
    window. Counted: sent, and claimed/ambiguous (they may have been sent)."""
    window_start = utcnow() - dt.timedelta(days=days)
    contacted_at = func.coalesce(Invitation.sent_at, Invitation.claimed_at)
    times = session.scalars(
        select(contacted_at)
        .where(
            Invitation.participant_id == participant_id,
            Invitation.status.in_(("sent", "claimed", "ambiguous")),
            contacted_at >= window_start,
        )
        .order_by(contacted_at)
    ).all()
    if len(times) < cap:
        return None
    return as_utc(times[len(times) - cap]) + dt.timedelta(days=days, seconds=1)


# -- send and record -----------------------------------------------------------------------------


def build_message(runtime: Runtime, claim: Claimed) -> EmailMessage:
    base = runtime.settings.base_url
    interested = f"{base}/invitations/answer/{claim.answer_token}?answer=interested"
    not_interested = f"{base}/invitations/answer/{claim.answer_token}?answer=not_interested"
    unsubscribe = f"{base}/unsubscribe/{claim.unsubscribe_token}"
    greeting = f"Dear {claim.name}," if claim.name else "Hello,"
    text = (
        f"{greeting}\n\n"
        f"Your health profile is consistent with a research study that is recruiting now: "
        f"{claim.study_title} (site region {claim.site_region}).\n"
        "The study is approved by an ethics committee. The researchers wrote:\n\n"
        f"{claim.invitation_text}\n\n"
        "Nobody at the study knows who you are. Only if you answer 'interested' will they see "
        "your name, email and phone number.\n\n"
        f"I am interested: {interested}\n"
        f"No, thank you: {not_interested}\n\n"
        f"Stop all invitations (unsubscribe): {unsubscribe}\n"
    )
    html = (
        f"<p>{escape(greeting)}</p>"
        "<p>Your health profile is consistent with a research study that is recruiting now: "
        f"<strong>{escape(claim.study_title)}</strong> (site region {escape(claim.site_region)}).</p>"
        "<p>The study is approved by an ethics committee. The researchers wrote:</p>"
        f'<blockquote style="white-space: pre-wrap">{escape(claim.invitation_text)}</blockquote>'
        "<p>Nobody at the study knows who you are. Only if you answer “interested” will they see "
        "your name, email and phone number.</p>"
        f'<p><a href="{escape(interested)}">I am interested</a> · '
        f'<a href="{escape(not_interested)}">No, thank you</a></p>'
        f'<p><small><a href="{escape(unsubscribe)}">Stop all invitations (unsubscribe)</a></small></p>'
    )
    return runtime.mailer.build(
        to=claim.email,
        to_name=claim.name,
        subject=f"Invitation to a research study: {claim.study_title}",
        text=text,
        html=html,
        message_id=claim.message_id,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            # RFC 8058: a mail client may unsubscribe with one POST of this body to the link.
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def send_claimed(runtime: Runtime, claim: Claimed, mail: MailBatch | None = None) -> str:
    """Hand a claimed invitation to SMTP and record the outcome: ``sent``, ``retry`` or ``failed``."""
    message = build_message(runtime, claim)
    try:
        if mail is not None:
            mail.send(message)
        else:
            runtime.mailer.send(message)
    except MailInDoubt as exc:
        # The server may have accepted it: never retry automatically (P2); an operator decides.
        _record_in_doubt(runtime, claim, str(exc))
        return "ambiguous"
    except MailError as exc:
        return _record_failure(runtime, claim, str(exc))
    with runtime.database.session_scope() as session:
        session.execute(
            update(Invitation)
            .where(
                Invitation.study_id == claim.study_id,
                Invitation.participant_id == claim.participant_id,
                # 'ambiguous' too: a send slower than the claim lease still ends up recorded.
                Invitation.status.in_(("claimed", "ambiguous")),
            )
            .values(status="sent", sent_at=utcnow(), last_error=None)
        )
    INVITATIONS_SENT.inc()
    return "sent"


def _record_in_doubt(runtime: Runtime, claim: Claimed, error: str) -> None:
    with runtime.database.session_scope() as session:
        session.execute(
            update(Invitation)
            .where(
                Invitation.study_id == claim.study_id,
                Invitation.participant_id == claim.participant_id,
                Invitation.status.in_(("claimed", "ambiguous")),
            )
            .values(status="ambiguous", last_error=error[:2000])
        )
    INVITATIONS_AMBIGUOUS.inc()
    log.warning("invitation.ambiguous", study_id=claim.study_id, participant_id=claim.participant_id)


def _record_failure(runtime: Runtime, claim: Claimed, error: str) -> str:
    settings = runtime.settings
    where = (
        Invitation.study_id == claim.study_id,
        Invitation.participant_id == claim.participant_id,
        Invitation.status.in_(("claimed", "ambiguous")),
    )
    with runtime.database.session_scope() as session:
        if claim.attempts >= settings.send_max_attempts:
            session.execute(
                update(Invitation)
                .where(*where)
                .values(status="failed", reason="smtp_refused", last_error=error[:2000])
            )
            INVITATIONS_FAILED.labels("smtp_refused").inc()
            log.warning("invitation.failed", study_id=claim.study_id, participant_id=claim.participant_id)
            return "failed"
        delay = backoff_seconds(settings.send_retry_base_seconds, claim.attempts)
        session.execute(
            update(Invitation)
            .where(*where)
            .values(
                status="queued",
                claimed_at=None,
                next_attempt_at=utcnow() + dt.timedelta(seconds=delay),
                last_error=error[:2000],
            )
        )
    INVITATIONS_DEFERRED.labels("smtp").inc()
    log.info("invitation.retry", study_id=claim.study_id, participant_id=claim.participant_id, delay=delay)
    return "retry"


def dispatch_one(
    runtime: Runtime,
    *,
    study_id: int | None = None,
    participant_id: int | None = None,
    mail: MailBatch | None = None,
) -> str | None:
    claim = claim_next(runtime, study_id=study_id, participant_id=participant_id)
    if claim is None or isinstance(claim, str):
        return claim
    return send_claimed(runtime, claim, mail)


# -- jobs ----------------------------------------------------------------------------------------


@job(DISPATCH_DUE, queue="contact")
def dispatch_due(runtime: Runtime, limit: int = DISPATCH_BATCH) -> int:
    """Send due invitations one claim at a time until none is due, or the batch or time budget is
    used up; then queue a follow-up so a long queue keeps flowing (and spreads over workers)."""
    started = time.monotonic()
    handled = 0
    outcome: str | None = "start"
    with runtime.mailer.batch() as mail:
        while handled < limit and time.monotonic() - started < DISPATCH_BUDGET_SECONDS:
            outcome = dispatch_one(runtime, mail=mail)
            if outcome is None:
                break
            handled += 1
    if outcome is not None and handled:
        with runtime.database.session_scope() as session:
            request_dispatch(session)
    return handled


@job(SEND_INVITATION, queue="contact")
def send_invitation(runtime: Runtime, study_id: int, participant_id: int) -> str | None:
    """One invitation (from the incremental match). Not due or not queued any more: nothing."""
    return dispatch_one(runtime, study_id=study_id, participant_id=participant_id)


@job(SWEEP, queue="contact")
def sweep(runtime: Runtime) -> bool:
    """Beat: if anything queued is due (a retry, a volunteer back under the cap, a dispatch whose
    task was lost), queue one dispatch. The dedup key per 30 s window makes two beats queue one."""
    with runtime.database.session_scope() as session:
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
        request_dispatch(session, dedup_key=f"{SWEEP}:{study_id}:{participant_id}:{attempts}:{when}")
        return True


@job(DETECT_AMBIGUOUS, queue="maintenance")
def detect_ambiguous(runtime: Runtime, lease_seconds: int | None = None) -> int:
    """A claim older than the lease whose send was never recorded: the process died somewhere
    between claim and record, maybe after SMTP accepted. Mark it ``ambiguous``; never resend."""
    lease = runtime.settings.claim_lease_seconds if lease_seconds is None else lease_seconds
    with runtime.database.session_scope() as session:
        result = session.execute(
            update(Invitation)
            .where(
                Invitation.status == "claimed",
                Invitation.claimed_at < utcnow() - dt.timedelta(seconds=lease),
            )
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


@job(PURGE_TOKENS, queue="maintenance")
def purge_tokens(runtime: Runtime) -> int:
    with runtime.database.session_scope() as session:
        return tokens.purge_expired(session)


# -- operator and volunteer actions ----------------------------------------------------------------


def ambiguous(session: Session) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.status == "ambiguous")
            .order_by(Invitation.claimed_at, Invitation.study_id, Invitation.participant_id)
        )
    )


def resolve_ambiguous(session: Session, study_id: int, participant_id: int, outcome: str) -> Invitation:
    """An operator checked the mail logs: ``sent`` records it as sent; ``resend`` queues it again."""
    if outcome not in ("sent", "resend"):
        raise ValueError(f"unknown outcome {outcome!r}")
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.study_id == study_id, Invitation.participant_id == participant_id)
        .with_for_update()
    )
    if invitation is None:
        raise NotFound(f"No invitation for study {study_id} and participant {participant_id}.")
    if invitation.status != "ambiguous":
        raise Conflict(f"The invitation is {invitation.status}, not ambiguous.")
    if outcome == "sent":
        invitation.status = "sent"
        invitation.sent_at = invitation.claimed_at or utcnow()
    else:
        invitation.status = "queued"
        invitation.claimed_at = None
        invitation.next_attempt_at = None
        request_dispatch(session)
    record(
        session,
        None,
        "invitation.resolve",
        "invitation",
        f"{study_id}:{participant_id}",
        {"as": outcome},
        actor_label="operator:cli",
    )
    session.flush()
    return invitation


def withdraw_contact_consent(session: Session, participant_id: int, *, via: str) -> int:
    """The volunteer wants no more invitations: withdraw consent and cancel every pending one (P6)."""
    session.execute(
        update(Consent)
        .where(
            Consent.participant_id == participant_id,
            Consent.kind == CONTACT_CONSENT,
            Consent.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=utcnow())
    )
    cancelled = cancel_pending(session, participant_id=participant_id, reason="consent_withdrawn")
    record(
        session,
        None,
        "consent.withdraw",
        "participant",
        participant_id,
        {"via": via, "cancelled": cancelled},
        actor_label=f"participant:{participant_id}",
    )
    return cancelled
