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

Work arrives as ``contact.dispatch_due`` (a batch loop, queued by each matched chunk and by the
sweep), ``contact.send_invitation`` (one invitation, queued by the incremental match) and the
beat's ``contact.sweep`` for delayed rows (retries, capped volunteers).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import typing as t
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Select, Subquery, Table, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from config.logging import get_logger
from panel_service import emails, faults, heartbeat, outbox
from panel_service.domain import leases, lifecycle
from panel_service.domain.criteria import Node
from panel_service.jobs import job
from panel_service.mail import MailBatch, MailError, MailInDoubt, OutgoingMail
from panel_service.metrics import (
    INVITATIONS_AMBIGUOUS,
    INVITATIONS_CANCELLED,
    INVITATIONS_DEFERRED,
    INVITATIONS_FAILED,
    INVITATIONS_SENT,
)
from panel_service.models import Account, Consent, EthicsApproval, Invitation, Study, StudyVersion
from panel_service.queries.criteria_sql import compile_where
from panel_service.services import tokens
from panel_service.services.audit import record, volunteer_pseudonym
from panel_service.services.errors import Conflict, NotFound
from panel_service.services.invitations import cancel_pending
from panel_service.services.matching import (
    CONTACT_CONSENT,
    consents,
    criteria_of,
    invitations,
    participants,
    profiles,
)
from panel_service.timeutil import as_utc, panel_today, pause_ends_at, utcnow

if TYPE_CHECKING:
    from config.settings import Settings
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
# Recording a known outcome while the database is unreachable: 0.1 s, 0.2 s, ... at most 2 s
# between tries, for at most the claim lease.
RECORD_RETRY_FIRST_SECONDS = 0.1
RECORD_RETRY_MAX_SECONDS = 2.0

accounts = t.cast(Table, Account.__table__)
studies = t.cast(Table, Study.__table__)
versions = t.cast(Table, StudyVersion.__table__)
approvals = t.cast(Table, EthicsApproval.__table__)

# The state changes of one invitation, built once (the dispatcher makes several per email).
# Parameters: ``key_study`` and ``key_participant``, and the ones each names.
_ONE = update(invitations).where(
    invitations.c.study_id == bindparam("key_study"),
    invitations.c.participant_id == bindparam("key_participant"),
)
# 'ambiguous' too: a send that outlived the claim lease still ends up recorded. Only this claim's
# row (its attempt number): a record retried after a commit whose answer was lost finds the row
# already moved on (sent, or queued and claimed again by another worker) and changes nothing.
_UNRECORDED = _ONE.where(
    invitations.c.status.in_(("claimed", "ambiguous")), invitations.c.attempts == bindparam("key_attempts")
)
_CANCEL = _ONE.values(status="cancelled", reason=bindparam("why"), cancelled_at=bindparam("at"))
_DEFER = _ONE.values(next_attempt_at=bindparam("retry_at"))
_CLAIM = _ONE.values(
    status="claimed",
    claimed_at=bindparam("at"),
    attempts=bindparam("attempt"),
    message_id=bindparam("mid"),
    lease_until=bindparam("lease_until"),
)
_RECORD_SENT = _UNRECORDED.values(status="sent", sent_at=bindparam("at"), last_error=None)
_RECORD_AMBIGUOUS = _UNRECORDED.values(status="ambiguous", last_error=bindparam("error"))
_RECORD_FAILED = _UNRECORDED.values(status="failed", reason="smtp_refused", last_error=bindparam("error"))
_RECORD_RETRY = _UNRECORDED.values(
    status="queued", claimed_at=None, next_attempt_at=bindparam("retry_at"), last_error=bindparam("error")
)


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
    organisation_name: str
    invitation_text: str
    site_region: str
    sites: tuple[str, ...]
    answer_token: str
    unsubscribe_token: str
    language: str = "en"  # the volunteer's: the email is written in it


def message_id_for(settings_base_url: str, study_id: int, participant_id: int) -> str:
    host = urlsplit(settings_base_url).hostname or "panel.invalid"
    return f"<inv-{study_id}-{participant_id}@{host}>"


def backoff_seconds(base: float, attempts: int) -> float:
    """30 s, 60 s, 120 s ... after the 1st, 2nd, 3rd failed attempt, at most an hour."""
    return float(min(MAX_BACKOFF_SECONDS, base * 2 ** max(attempts - 1, 0)))


def claim_next(
    runtime: Runtime, *, study_id: int | None = None, participant_id: int | None = None
) -> Claimed | str | None:
    """Claim one due invitation (or the given one). Returns the claim, or a word for what became
    of the row instead (``cancelled``, ``deferred``), or None when nothing is due.

    Four statements and a commit (one more when no new invitation is left and due retries are
    looked for): the row with everything P1 needs about the volunteer and the study (locked), the
    profile and contact-cap checks, the two link tokens, the claim itself."""
    settings = runtime.settings
    with runtime.database.session_scope() as session:
        dialect = session.get_bind().dialect.name
        row = _pick(session, dialect, study_id, participant_id)
        if row is None:
            return None
        candidate = _Candidate(*row)
        sid, pid = candidate.study_id, candidate.participant_id
        key = {"key_study": sid, "key_participant": pid}
        verdict = _verdict(session, candidate, settings, dialect)
        if isinstance(verdict, str):
            session.execute(_CANCEL, key | {"why": verdict, "at": utcnow()})
            INVITATIONS_CANCELLED.labels(verdict).inc()
            log.info("invitation.cancelled", study_id=sid, participant_id=pid, reason=verdict)
            return "cancelled"
        if verdict is not None:
            retry_at, cause = verdict
            session.execute(_DEFER, key | {"retry_at": retry_at})
            INVITATIONS_DEFERRED.labels(cause).inc()
            return "deferred"
        answer, unsubscribe = tokens.issue_many(
            session,
            [
                tokens.TokenRequest("answer", participant_id=pid, study_id=sid),
                tokens.TokenRequest("unsubscribe", participant_id=pid),
            ],
            ttl=dt.timedelta(days=settings.link_ttl_days),
        )
        claim = Claimed(
            study_id=sid,
            participant_id=pid,
            attempts=candidate.attempts + 1,
            message_id=message_id_for(settings.base_url, sid, pid),
            email=str(candidate.email),
            name=candidate.name,
            study_title=str(candidate.title),
            organisation_name=str(candidate.organisation_name),
            invitation_text=str(candidate.invitation_text),
            site_region=str(candidate.site_region),
            sites=tuple(str(site.get("name", "")) for site in candidate.sites or ()),
            answer_token=answer,
            unsubscribe_token=unsubscribe,
            language=str(candidate.language),
        )
        now = utcnow()
        session.execute(
            _CLAIM,
            key
            | {
                "at": now,
                "attempt": claim.attempts,
                "mid": claim.message_id,
                "lease_until": leases.lease_end(now, settings.claim_lease_seconds),
            },
        )
        return claim


def _pick(
    session: Session, dialect: str, study_id: int | None, participant_id: int | None
) -> tuple[Any, ...] | None:
    """The given invitation if it is due; else a new one, else a due retry (new ones first)."""
    params = {"now": utcnow(), "study_id": study_id, "participant_id": participant_id}
    if study_id is not None and participant_id is not None:
        given = session.execute(_claim_query(dialect, "given"), params).first()
        return None if given is None else tuple(given)
    row = session.execute(_claim_query(dialect, "new"), params).first()
    if row is None:
        row = session.execute(_claim_query(dialect, "retry"), params).first()
    return None if row is None else tuple(row)


def _verdict(
    session: Session, candidate: _Candidate, settings: Settings, dialect: str
) -> str | tuple[dt.datetime, str] | None:
    """P1 at claim time, the contact pause and the contact cap: None when the invitation may go out
    now, a cancel reason when it may never go out, or the time to wait until and why (the volunteer
    paused contact, or is at the cap). A held invitation is re-checked in full when it comes due."""
    today = panel_today(settings)
    reason = _recheck(candidate, today)
    if reason is not None:
        return reason
    paused_until = candidate.contact_paused_until
    if paused_until is not None and paused_until >= today:
        return pause_ends_at(settings, paused_until), "contact_paused"
    assert candidate.criteria is not None  # _recheck returned a reason otherwise
    version = (candidate.study_version_id, candidate.content_hash or "")
    node = criteria_of(*version, candidate.criteria)
    has_profile, matches, cap_reached_at = session.execute(
        _profile_and_cap_query(version, node, today, dialect, settings.contact_cap),
        {
            "participant_id": candidate.participant_id,
            "window_start": utcnow() - dt.timedelta(days=settings.contact_cap_days),
        },
    ).one()
    if not has_profile:
        return "erased"
    if not matches:
        return "no_longer_matches"
    if not candidate.email or not candidate.account_active:
        return "no_email"
    if cap_reached_at is not None:
        return as_utc(cap_reached_at) + dt.timedelta(days=settings.contact_cap_days, seconds=1), "contact_cap"
    return None


@dataclass(frozen=True)
class _Candidate:
    """A due invitation with what P1 needs to know about its volunteer and study today."""

    study_id: int
    participant_id: int
    study_version_id: int
    attempts: int
    name: str | None
    erased_at: dt.datetime | None
    contact_paused_until: dt.date | None
    language: str | None
    email: str | None
    account_active: bool | None
    consented: bool
    # Title, organisation name, invitation text and sites are the active version's: what the
    # approval covers (P5), never the values of a version still awaiting review.
    title: str | None
    organisation_name: str | None
    sites: list[dict[str, Any]] | None
    study_status: str | None
    active_version_id: int | None
    content_hash: str | None
    criteria: dict[str, Any] | None
    invitation_text: str | None
    site_region: str | None
    approved_on: dt.date | None
    expires_on: dt.date | None


@functools.lru_cache(maxsize=16)
def _claim_query(dialect: str, which: str) -> Select[Any]:
    """One due invitation, its volunteer (identity, account, consent) and its study (the active
    version and that version's own approval).

    ``which`` picks the invitation: ``new`` (never tried: ``next_attempt_at IS NULL``), ``retry``
    (its ``next_attempt_at`` has come: a retry, or a volunteer back under the cap) or ``given``
    (the ``study_id`` and ``participant_id`` parameters). Two index ranges of the partial index
    on queued rows rather than one ``IS NULL OR <= now`` filter, which would walk every row
    deferred into the future on each claim.

    The invitation and its volunteer's row are picked and locked in a subquery of their own, so
    whatever the statistics say about the queue, the rest is primary-key lookups for one row (with
    10,000 rows queued and the join written flat, PostgreSQL hashed every consent of the panel for
    each claim: 35 ms). On PostgreSQL both rows are locked ``FOR NO KEY UPDATE SKIP LOCKED``: the
    volunteer's lock serialises the contact-cap count across workers, and a claim never waits for
    a lock, so it cannot deadlock with a volunteer's own change (which locks the volunteer, then
    their invitations); that invitation is simply left for a later claim. SQLite's
    BEGIN IMMEDIATE serialises writers instead."""
    picked = _due_subquery(dialect, which)
    consented = (
        select(consents.c.id)
        .where(
            consents.c.participant_id == picked.c.participant_id,
            consents.c.kind == _inline(CONTACT_CONSENT),
            consents.c.withdrawn_at.is_(None),
        )
        .exists()
    )
    return select(
        picked.c.study_id,
        picked.c.participant_id,
        picked.c.study_version_id,
        picked.c.attempts,
        picked.c.name,
        picked.c.erased_at,
        picked.c.contact_paused_until,
        picked.c.language,
        accounts.c.email,
        accounts.c.is_active,
        consented,
        versions.c.title,
        versions.c.organisation_name,
        versions.c.sites,
        studies.c.status,
        studies.c.active_version_id,
        versions.c.content_hash,
        versions.c.criteria,
        versions.c.invitation_text,
        versions.c.site_region,
        approvals.c.approved_on,
        approvals.c.expires_on,
    ).select_from(
        picked.outerjoin(accounts, accounts.c.id == picked.c.account_id)
        .outerjoin(studies, studies.c.id == picked.c.study_id)
        .outerjoin(
            versions,
            (versions.c.id == studies.c.active_version_id) & (versions.c.study_id == studies.c.id),
        )
        .outerjoin(approvals, approvals.c.study_version_id == versions.c.id)
    )


def _due_subquery(dialect: str, which: str) -> Subquery:
    """The picked invitation and its volunteer's row, locked (see ``_claim_query``)."""
    due = (
        select(
            invitations.c.study_id,
            invitations.c.participant_id,
            invitations.c.study_version_id,
            invitations.c.attempts,
            participants.c.name,
            participants.c.erased_at,
            participants.c.contact_paused_until,
            participants.c.language,
            participants.c.account_id,
        )
        .join(participants, participants.c.id == invitations.c.participant_id)
        .where(invitations.c.status == _inline("queued"))
    )
    # ORDER BY next_attempt_at is what the partial index yields anyway: it keeps the planner on the
    # index when most rows are queued, where a LIMIT 1 seq scan looks cheaper but walks every row
    # already sent from the start of the table on each claim.
    if which == "new":
        due = due.where(invitations.c.next_attempt_at.is_(None)).order_by(invitations.c.next_attempt_at)
    elif which == "retry":
        due = due.where(invitations.c.next_attempt_at <= bindparam("now")).order_by(
            invitations.c.next_attempt_at
        )
    else:
        due = due.where(
            invitations.c.study_id == bindparam("study_id"),
            invitations.c.participant_id == bindparam("participant_id"),
            or_(invitations.c.next_attempt_at.is_(None), invitations.c.next_attempt_at <= bindparam("now")),
        )
    due = due.limit(_inline(1))
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True, key_share=True, of=[invitations, participants])
    return due.subquery("picked")


def _inline(value: object) -> BindParameter[Any]:
    """A constant written into the SQL text rather than sent as a parameter. PostgreSQL can then
    prove the partial index ``status = 'queued'`` applies to the prepared statement's generic
    plan and keeps reusing it; with ``status = $1`` it re-planned every claim, which cost more
    than running it (0.5 ms a claim)."""
    return bindparam(None, value, literal_execute=True)


def _recheck(candidate: _Candidate, today: dt.date) -> str | None:
    """P1 at claim time, the parts known from the claimed row: None when nothing stands in the
    way yet (the pause, the profile and the cap are checked next), else the cancel reason."""
    if candidate.erased_at is not None:
        return "erased"
    if not candidate.consented:
        return "consent_withdrawn"
    if candidate.study_status != "recruiting":
        status = candidate.study_status or "closed"
        return f"study_{status}" if status in ("paused", "closed") else "study_not_recruiting"
    if candidate.active_version_id != candidate.study_version_id or candidate.criteria is None:
        return "version_changed"
    if (
        candidate.approved_on is None
        or candidate.expires_on is None
        or not lifecycle.approval_covers(candidate.approved_on, candidate.expires_on, today)
    ):
        return "approval_expired"
    return None


_PROFILE_AND_CAP: dict[tuple[object, ...], Select[Any]] = {}


def _profile_and_cap_query(
    version: tuple[int, str], node: Node, today: dt.date, dialect: str, cap: int
) -> Select[Any]:
    """Two answers in one round trip, read after the volunteer's row is locked:

    * whether there is a profile, and whether it satisfies the criteria today (the SQL compiler,
      which the property tests hold to the in-memory evaluator);
    * when the volunteer reached the cap: the cap-th most recent contact in the window (sent,
      or claimed/ambiguous, which may have been sent), NULL while under the cap.

    Built once per version and day (compiling criteria to SQL costs more than running it).
    """
    key = (*version, today, dialect, cap)
    query = _PROFILE_AND_CAP.get(key)
    if query is None:
        if len(_PROFILE_AND_CAP) > 1024:
            _PROFILE_AND_CAP.clear()
        query = _PROFILE_AND_CAP[key] = _build_profile_and_cap_query(node, today, dialect, cap)
    return query


def _build_profile_and_cap_query(node: Node, today: dt.date, dialect: str, cap: int) -> Select[Any]:
    participant_id: BindParameter[int] = bindparam("participant_id")
    has_profile = exists().where(profiles.c.participant_id == participant_id)
    matches = exists().where(profiles.c.participant_id == participant_id, compile_where(node, today, dialect))
    contacted_at = func.coalesce(invitations.c.sent_at, invitations.c.claimed_at)
    cap_reached_at = (
        select(contacted_at)
        .where(
            invitations.c.participant_id == participant_id,
            invitations.c.status.in_(("sent", "claimed", "ambiguous")),
            contacted_at >= bindparam("window_start"),
        )
        .order_by(contacted_at.desc())
        .limit(1)
        .offset(cap - 1)
        .scalar_subquery()
    )
    return select(has_profile, matches, cap_reached_at)


# -- send and record -----------------------------------------------------------------------------


def build_message(runtime: Runtime, claim: Claimed) -> OutgoingMail:
    """The invitation in the volunteer's language (``templates/email/invitation/``): Panel's own
    words translated, the study's words (title, organisation, sites, invitation text) as approved."""
    base = runtime.settings.base_url
    unsubscribe = f"{base}/unsubscribe/{claim.unsubscribe_token}"
    email = emails.render(
        "invitation",
        claim.language,
        name=claim.name,
        study_title=claim.study_title,
        organisation_name=claim.organisation_name,
        site_region=claim.site_region,
        sites=claim.sites,
        invitation_text=claim.invitation_text,
        interested=f"{base}/invitations/answer/{claim.answer_token}?answer=interested",
        not_interested=f"{base}/invitations/answer/{claim.answer_token}?answer=not_interested",
        unsubscribe=unsubscribe,
    )
    return runtime.mailer.build(
        to=claim.email,
        to_name=claim.name,
        subject=email.subject,
        text=email.text,
        html=email.html,
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
    faults.point(runtime.settings, "after_smtp", study_id=claim.study_id, participant_id=claim.participant_id)
    _record(runtime, claim, _RECORD_SENT, {"at": utcnow()})
    faults.point(
        runtime.settings, "after_record", study_id=claim.study_id, participant_id=claim.participant_id
    )
    INVITATIONS_SENT.inc()
    return "sent"


def _key(claim: Claimed) -> dict[str, Any]:
    return {"key_study": claim.study_id, "key_participant": claim.participant_id}


def _record(runtime: Runtime, claim: Claimed, statement: Any, values: dict[str, Any]) -> None:
    """Record an outcome SMTP has told us, surviving a database restart: on a lost connection try
    again (a new session checks out a fresh connection; the pool pings it first) with backoff, for
    up to ``claim_lease_seconds``. The statements only touch this claim's unrecorded row, so a try
    whose commit did land before the connection dropped makes the next one a no-op."""
    params = _key(claim) | {"key_attempts": claim.attempts} | values
    deadline = time.monotonic() + runtime.settings.claim_lease_seconds
    delay = RECORD_RETRY_FIRST_SECONDS
    tries = 0
    while True:
        tries += 1
        try:
            with runtime.database.session_scope() as session:
                session.execute(statement, params)
        except DBAPIError as exc:
            transient = isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated
            if not transient or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "invitation.record_retry",
                study_id=claim.study_id,
                participant_id=claim.participant_id,
                tries=tries,
                delay=delay,
                error=str(exc.orig or exc)[:200],
            )
            time.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_MAX_SECONDS)
            continue
        if tries > 1:
            log.info(
                "invitation.recorded_after_retry",
                study_id=claim.study_id,
                participant_id=claim.participant_id,
                tries=tries,
            )
        return


def _record_in_doubt(runtime: Runtime, claim: Claimed, error: str) -> None:
    _record(runtime, claim, _RECORD_AMBIGUOUS, {"error": error[:2000]})
    INVITATIONS_AMBIGUOUS.inc()
    log.warning("invitation.ambiguous", study_id=claim.study_id, participant_id=claim.participant_id)


def _record_failure(runtime: Runtime, claim: Claimed, error: str) -> str:
    settings = runtime.settings
    if claim.attempts >= settings.send_max_attempts:
        _record(runtime, claim, _RECORD_FAILED, {"error": error[:2000]})
        INVITATIONS_FAILED.labels("smtp_refused").inc()
        log.warning("invitation.failed", study_id=claim.study_id, participant_id=claim.participant_id)
        return "failed"
    delay = backoff_seconds(settings.send_retry_base_seconds, claim.attempts)
    retry_at = utcnow() + dt.timedelta(seconds=delay)
    _record(runtime, claim, _RECORD_RETRY, {"retry_at": retry_at, "error": error[:2000]})
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
    faults.point(
        runtime.settings, "after_claim", study_id=claim.study_id, participant_id=claim.participant_id
    )
    with heartbeat.holding(("claim", claim.study_id, claim.participant_id), claim_renewer(runtime, claim)):
        return send_claimed(runtime, claim, mail)


# -- the claim lease (renewed by the sending job's heartbeat) ----------------------------------------


def claim_renewer(runtime: Runtime, claim: Claimed) -> heartbeat.Renewer:
    """Extend the claim's lease while the send runs; only while it is this claim (still 'claimed',
    same attempt): a claim the detector already marked ambiguous is never revived."""
    seconds = runtime.settings.claim_lease_seconds

    def renew(session: Session) -> bool:
        result = session.execute(
            update(Invitation)
            .where(
                Invitation.study_id == claim.study_id,
                Invitation.participant_id == claim.participant_id,
                Invitation.status == "claimed",
                Invitation.attempts == claim.attempts,
            )
            .values(lease_until=leases.lease_end(utcnow(), seconds))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    return renew


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
            heartbeat.check_lease()  # a run that lost its lease claims nothing more
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
            Invitation.claimed_at < now - dt.timedelta(seconds=runtime.settings.claim_lease_seconds),
        ),
    )
    if lease_seconds is not None:
        expired = or_(expired, Invitation.claimed_at < now - dt.timedelta(seconds=lease_seconds))
    with runtime.database.session_scope() as session:
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
        f"{study_id}:{volunteer_pseudonym(session, participant_id)}",
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
        volunteer=participant_id,
    )
    return cancelled
