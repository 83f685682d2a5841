"""Step 1 of a send: claim one due invitation, re-checking P1 under the volunteer's row lock.

``claim_in`` runs in the caller's transaction and never commits: the job commits the claim
before SMTP is spoken to (``dispatch.dispatch_one``), so that at most one message is ever in
doubt (P3).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from config.logging import get_logger
from panel_service.db import Database
from panel_service.domain import leases
from panel_service.domain.criteria.versions import criteria_of
from panel_service.domain.eligibility import (
    Obstacle,
    StudyState,
    VolunteerState,
    invitation_obstacle,
)
from panel_service.domain.geo import Sites, site_points
from panel_service.metrics import INVITATIONS_CANCELLED, INVITATIONS_DEFERRED
from panel_service.queries import contact as sql
from panel_service.queries.eligibility import VOLUNTEER_STATE, travel_facts, volunteer_state_of
from panel_service.services.accounts import sha256
from panel_service.services.questions import load_catalogue
from panel_service.timeutil import as_utc, panel_today, pause_ends_at, utcnow

if TYPE_CHECKING:
    from config.settings import Settings

log = get_logger(__name__)


class Outcome(StrEnum):
    """What one dispatch did with an invitation (the values are what the jobs report)."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    CANCELLED = "cancelled"
    DEFERRED = "deferred"


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
    sites: tuple[str, ...]  # by name, as approved
    answer_token: str
    unsubscribe_token: str
    language: str = "en"  # the volunteer's: the email is written in it
    # The sites as stored (name and coordinates), so that the email can say which town each is
    # in (issue 13 item 4); worked out when the message is built, outside the claim transaction.
    site_places: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ClaimAttempt:
    """What one claim did: ``claim`` when the invitation is now claimed (send it); else
    ``outcome`` says what became of the row instead (cancelled or deferred); neither when
    nothing was due."""

    claim: Claimed | None = None
    outcome: Outcome | None = None

    @property
    def nothing_due(self) -> bool:
        return self.claim is None and self.outcome is None


NOTHING_DUE = ClaimAttempt()


class Claimable(Enum):
    """The check's statement claimed the invitation (``_verdict``)."""

    CLAIMED = "claimed"


CLAIMED = Claimable.CLAIMED


@dataclass(frozen=True)
class Cancel:
    """The invitation may never go out: cancel it with this reason."""

    reason: str


@dataclass(frozen=True)
class Hold:
    """The invitation may go out later: wait until ``until`` (``cause`` names why, for metrics)."""

    until: dt.datetime
    cause: str


def message_id_for(settings_base_url: str, study_id: int, participant_id: int) -> str:
    host = urlsplit(settings_base_url).hostname or "panel.invalid"
    return f"<inv-{study_id}-{participant_id}@{host}>"


def claim_in(
    session: Session, settings: Settings, *, study_id: int | None = None, participant_id: int | None = None
) -> ClaimAttempt:
    """Claim one due invitation (or the given one) in the caller's transaction.

    Two statements on PostgreSQL (one more when no new invitation is left and due retries are
    looked for): the row with everything P1 needs about the volunteer and the study (locked), then
    the profile and contact-cap checks with, when they pass, the claim and its two link tokens
    (``sql.check_and_claim_query``). SQLite sends the checks, the tokens and the claim in turn."""
    dialect = session.get_bind().dialect.name
    candidate = _pick(session, dialect, study_id, participant_id)
    if candidate is None:
        return NOTHING_DUE
    sid, pid = candidate.study_id, candidate.participant_id
    key = {"key_study": sid, "key_participant": pid}
    claim, claim_params = _prepared_claim(candidate, settings, key)
    verdict = _verdict(session, candidate, settings, dialect, claim_params)
    if verdict is CLAIMED:
        return ClaimAttempt(claim=claim)
    if isinstance(verdict, Cancel):
        session.execute(sql.CANCEL, key | {"why": verdict.reason, "at": utcnow()})
        INVITATIONS_CANCELLED.labels(verdict.reason).inc()
        log.info("invitation.cancelled", study_id=sid, participant_id=pid, reason=verdict.reason)
        return ClaimAttempt(outcome=Outcome.CANCELLED)
    if isinstance(verdict, Hold):
        session.execute(sql.DEFER, key | {"retry_at": verdict.until})
        INVITATIONS_DEFERRED.labels(verdict.cause).inc()
        return ClaimAttempt(outcome=Outcome.DEFERRED)
    for statement in sql.claim_statements(dialect):
        session.execute(statement, claim_params)
    return ClaimAttempt(claim=claim)


def _prepared_claim(
    candidate: sql.Candidate, settings: Settings, key: dict[str, Any]
) -> tuple[Claimed, dict[str, Any]]:
    """The claim (what the email needs) and the parameters of the statements that make it."""
    answer, unsubscribe = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    sid, pid = candidate.study_id, candidate.participant_id
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
        site_places=tuple(candidate.sites or ()),
        answer_token=answer,
        unsubscribe_token=unsubscribe,
        language=str(candidate.language),
    )
    now = utcnow()
    params = key | {
        "at": now,
        "attempt": claim.attempts,
        "mid": claim.message_id,
        "lease_until": leases.lease_end(now, settings.claim_lease_seconds),
        # The answer and unsubscribe links (``services.tokens``: only the hash is stored).
        "answer_hash": sha256(answer),
        "unsubscribe_hash": sha256(unsubscribe),
        "tokens_expire": now + dt.timedelta(days=settings.link_ttl_days),
        # The contact cap's window (``sql.profile_and_cap_query``).
        "window_start": now - dt.timedelta(days=settings.contact_cap_days),
    }
    return claim, params


def _pick(
    session: Session, dialect: str, study_id: int | None, participant_id: int | None
) -> sql.Candidate | None:
    """The given invitation if it is due; else a new one, else a due retry (new ones first)."""
    params: dict[str, Any] = {"now": utcnow(), "study_id": study_id, "participant_id": participant_id}
    if study_id is not None and participant_id is not None:
        row = session.execute(sql.claim_query(dialect, "given"), params).first()
    else:
        row = session.execute(sql.claim_query(dialect, "new"), params).first()
        if row is None:
            row = session.execute(sql.claim_query(dialect, "retry"), params).first()
    return None if row is None else sql.Candidate(**row._mapping)


def _verdict(
    session: Session, candidate: sql.Candidate, settings: Settings, dialect: str, params: dict[str, Any]
) -> Cancel | Hold | Claimable | None:
    """P1 at claim time (``domain.eligibility``), then the profile and the contact cap: None when
    the invitation may go out now, ``CLAIMED`` when it may and the check's statement claimed it
    already (``sql.check_and_claim_query``, with ``params``). A held invitation is re-checked in
    full when it comes due."""
    today = panel_today(settings)
    sites = site_points(candidate.sites)
    home, max_travel_km = travel_facts(session, candidate.participant_id) if sites else (None, None)
    stop = _obstacle(candidate, settings, today, sites, home, max_travel_km)
    if stop is not None:
        return stop
    assert candidate.criteria is not None  # VERSION_CHANGED otherwise
    version = (candidate.study_version_id, candidate.content_hash or "")
    node = criteria_of(*version, candidate.criteria, lambda: load_catalogue(session))
    both = sql.check_and_claim_query(version, node, today, dialect, settings.contact_cap, sites)
    if both is not None and candidate.email and candidate.account_active:
        has_profile, matches, cap_reached_at, claimed = session.execute(both, params).one()
        if claimed:  # a profile that matches, under the cap: nothing below stands in the way
            return CLAIMED
    else:
        has_profile, matches, cap_reached_at = session.execute(
            sql.profile_and_cap_query(version, node, today, dialect, settings.contact_cap, sites), params
        ).one()
    return _answers(candidate, settings, has_profile, matches, cap_reached_at)


def _obstacle(
    candidate: sql.Candidate,
    settings: Settings,
    today: dt.date,
    sites: Sites,
    home: tuple[float, float] | None,
    max_travel_km: float | None,
) -> Cancel | Hold | None:
    """The Python part of P1 (``domain.eligibility``) on the picked row: what stops the send, if
    anything."""
    obstacle = invitation_obstacle(
        VolunteerState(
            erased=candidate.erased_at is not None,
            consent_active=bool(candidate.consented),
            contact_paused_until=candidate.contact_paused_until,
            home=home,
            max_travel_km=max_travel_km,
        ),
        StudyState(
            status=candidate.study_status,
            active_version_id=candidate.active_version_id,
            has_criteria=candidate.criteria is not None,
            approved_on=candidate.approved_on,
            expires_on=candidate.expires_on,
        ),
        candidate.study_version_id,
        today,
        sites,
    )
    if obstacle is Obstacle.CONTACT_PAUSED:
        assert candidate.contact_paused_until is not None  # what makes it paused
        return Hold(pause_ends_at(settings, candidate.contact_paused_until), obstacle.value)
    if obstacle is not None:
        return Cancel(obstacle.value)
    return None


def _answers(
    candidate: sql.Candidate,
    settings: Settings,
    has_profile: bool,
    matches: bool,
    cap_reached_at: dt.datetime | None,
) -> Cancel | Hold | None:
    """What the profile-and-cap check's answers mean for an invitation it did not claim."""
    if not has_profile:
        return Cancel(Obstacle.ERASED.value)
    if not matches:
        return Cancel("no_longer_matches")
    if not candidate.email or not candidate.account_active:
        return Cancel("no_email")
    if cap_reached_at is not None:
        until = as_utc(cap_reached_at) + dt.timedelta(days=settings.contact_cap_days, seconds=1)
        return Hold(until, "contact_cap")
    return None


# -- PostgreSQL with the engine's own pool: the same claim, sent with psycopg directly ----------------


def claim_direct(
    database: Database,
    settings: Settings,
    *,
    study_id: int | None = None,
    participant_id: int | None = None,
) -> ClaimAttempt:
    """``claim_in`` in a transaction of its own, committed: the same statements (the pick, then the
    check with the claim, ``sql.check_and_claim_query``), compiled once (``RawStatement``) and
    sent on a psycopg connection of the engine's pool without SQLAlchemy's execution or an ORM
    session; committed and flushed before this returns, as ``claim_next``'s was. (psycopg's
    pipeline mode, which would send ``BEGIN`` with the pick and ``COMMIT`` with the claim, cost
    the sender more CPU than the two round trips it saved: measured, docs/performance.md.)

    This fast path only claims. When the row the pick locked may not go out now (P1's Python
    rules, no email, no profile, no match, the contact cap), the transaction ends without a
    change and the invitation is claimed again through ``claim_in``, in a session, under its lock
    again: it cancels or holds it with the same reasons (or claims it, if what stood in the way
    is gone in between). A pick that finds nothing ends the same way as ``claim_in``'s."""
    given = study_id is not None and participant_id is not None
    while True:
        claimed, candidate = _claim_fast(database, settings, study_id, participant_id)
        if claimed is not None:
            return claimed
        if candidate is None:
            return NOTHING_DUE
        with database.session_scope() as session:
            attempt = claim_in(
                session, settings, study_id=candidate.study_id, participant_id=candidate.participant_id
            )
        if given or not attempt.nothing_due:
            return attempt
        # another worker holds it now (or it was dealt with): pick the next one


def _claim_fast(
    database: Database, settings: Settings, study_id: int | None, participant_id: int | None
) -> tuple[ClaimAttempt | None, sql.Candidate | None]:
    """The claim when the picked invitation may go out (the attempt, None), else (None, the
    candidate the pick found, or None when nothing was due); its transaction ended either way."""
    dialect = "postgresql"
    with database.raw() as connection:
        cursor = connection.cursor()
        candidate = _pick_raw(database, cursor, study_id, participant_id)
        if candidate is None:
            connection.rollback()
            return None, None
        today = panel_today(settings)
        sites = site_points(candidate.sites)
        home, max_travel_km = None, None
        if sites:
            cursor.execute(*database.compiled(VOLUNTEER_STATE, {"participant_id": candidate.participant_id}))
            state = volunteer_state_of(cursor.fetchone())
            home, max_travel_km = state.home, state.max_travel_km
        if (
            _obstacle(candidate, settings, today, sites, home, max_travel_km) is not None
            or candidate.criteria is None
            or not candidate.email
            or not candidate.account_active
        ):
            connection.rollback()
            return None, candidate
        key = {"key_study": candidate.study_id, "key_participant": candidate.participant_id}
        claim, params = _prepared_claim(candidate, settings, key)
        version = (candidate.study_version_id, candidate.content_hash or "")
        node = criteria_of(*version, candidate.criteria, lambda: _catalogue(database))
        both = sql.check_and_claim_query(version, node, today, dialect, settings.contact_cap, sites)
        assert both is not None  # PostgreSQL
        cursor.execute(*database.compiled(both, params))
        row = cursor.fetchone()
        assert row is not None
        if row[3]:  # claimed
            connection.commit()  # flushed before SMTP is spoken to (P3)
            return ClaimAttempt(claim=claim), candidate
        connection.rollback()  # it claimed nothing
    return None, candidate


def _pick_raw(
    database: Database, cursor: Any, study_id: int | None, participant_id: int | None
) -> sql.Candidate | None:
    """``_pick`` on a psycopg cursor."""
    params: dict[str, Any] = {"now": utcnow(), "study_id": study_id, "participant_id": participant_id}
    order = ("given",) if study_id is not None and participant_id is not None else ("new", "retry")
    for which in order:
        cursor.execute(*database.compiled(sql.claim_query("postgresql", which), params))
        row = cursor.fetchone()
        if row is not None:
            return sql.Candidate(*row)  # the columns in the order of its fields (``sql.claim_query``)
    return None


def _catalogue(database: Database) -> Any:
    with database.session_scope() as session:
        return load_catalogue(session)
