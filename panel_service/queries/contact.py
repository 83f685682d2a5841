"""The SQL of the contact pipeline (``services.contact``): claiming one due invitation with what
P1 needs to know about it, the profile and contact-cap check, and the state changes of one
invitation. Statements are built once (the dispatcher runs several per email)."""

from __future__ import annotations

import datetime as dt
import functools
import typing as t
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Insert,
    Select,
    String,
    Subquery,
    Table,
    Update,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from panel_service.domain.criteria import Node
from panel_service.domain.geo import Sites
from panel_service.models import Account, ActionToken, EthicsApproval, Invitation, Study, StudyVersion
from panel_service.queries.criteria_sql import compile_where
from panel_service.queries.eligibility import active_consent_exists, participants, profiles

accounts = t.cast(Table, Account.__table__)
studies = t.cast(Table, Study.__table__)
versions = t.cast(Table, StudyVersion.__table__)
approvals = t.cast(Table, EthicsApproval.__table__)
invitations = t.cast(Table, Invitation.__table__)
action_tokens = t.cast(Table, ActionToken.__table__)

# The state changes of one invitation, built once (the dispatcher makes several per email).
# Parameters: ``key_study`` and ``key_participant``, and the ones each names.
ONE = update(invitations).where(
    invitations.c.study_id == bindparam("key_study"),
    invitations.c.participant_id == bindparam("key_participant"),
)
# 'ambiguous' too: a send that outlived the claim lease still ends up recorded. Only this claim's
# row (its attempt number): a record retried after a commit whose answer was lost finds the row
# already moved on (sent, or queued and claimed again by another worker) and changes nothing.
UNRECORDED = ONE.where(
    invitations.c.status.in_(("claimed", "ambiguous")), invitations.c.attempts == bindparam("key_attempts")
)
CANCEL = ONE.values(status="cancelled", reason=bindparam("why"), cancelled_at=bindparam("at"))
DEFER = ONE.values(next_attempt_at=bindparam("retry_at"))
CLAIM = ONE.values(
    status="claimed",
    claimed_at=bindparam("at"),
    attempts=bindparam("attempt"),
    message_id=bindparam("mid"),
    lease_until=bindparam("lease_until"),
)


# The claim's two link tokens (their hashes: ``answer_hash``, ``unsubscribe_hash``; both expire at
# ``tokens_expire``), built once: an ``INSERT … SELECT`` of two rows of parameters, which
# SQLAlchemy caches compiled (a multi-row ``VALUES`` it compiled anew on every claim, about a tenth
# of a sender's time). Parameter names that are no column of either table, so that the same
# parameters serve the token insert and the claim update.
def _token_row(hash_key: str, purpose: str, study_id: ColumnElement[Any]) -> Select[Any]:
    return select(
        bindparam(hash_key, type_=String(64)),
        literal(purpose, String(20)),
        bindparam("key_participant", type_=BigInteger),
        study_id,
        bindparam("tokens_expire", type_=DateTime(timezone=True)),
    )


def _claim_tokens(*conditions: ColumnElement[bool]) -> Insert:
    return insert(action_tokens).from_select(
        ["token_hash", "purpose", "participant_id", "study_id", "expires_at"],
        union_all(
            _token_row("answer_hash", "answer", bindparam("key_study", type_=BigInteger)).where(*conditions),
            _token_row("unsubscribe_hash", "unsubscribe", cast(null(), BigInteger)).where(*conditions),
        ),
    )


CLAIM_TOKENS = _claim_tokens()


def claim_statements(dialect: str) -> tuple[Insert | Update, ...]:
    """The tokens and the claim: on PostgreSQL one statement (the insert as a data-modifying CTE of
    the update; one round trip), elsewhere the two in turn. Same parameters either way."""
    return _CLAIM_STATEMENTS.get(dialect, (CLAIM_TOKENS, CLAIM))


_CLAIM_STATEMENTS: dict[str, tuple[Insert | Update, ...]] = {
    "postgresql": (CLAIM.add_cte(CLAIM_TOKENS.cte("claim_tokens")),),
}
RECORD_SENT = UNRECORDED.values(status="sent", sent_at=bindparam("at"), last_error=None)
RECORD_AMBIGUOUS = UNRECORDED.values(status="ambiguous", last_error=bindparam("error"))
RECORD_FAILED = UNRECORDED.values(status="failed", reason="smtp_refused", last_error=bindparam("error"))
RECORD_RETRY = UNRECORDED.values(
    status="queued", claimed_at=None, next_attempt_at=bindparam("retry_at"), last_error=bindparam("error")
)


@dataclass(frozen=True)
class Candidate:
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
def claim_query(dialect: str, which: str) -> Select[Any]:
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
    picked = due_subquery(dialect, which)
    consented = active_consent_exists(picked.c.participant_id, inline=True)
    return select(
        picked.c.study_id,
        picked.c.participant_id,
        picked.c.study_version_id,
        picked.c.attempts,
        picked.c.name,
        picked.c.erased_at,
        picked.c.contact_paused_until,
        picked.c.language,
        accounts.c.email.label("email"),
        accounts.c.is_active.label("account_active"),
        consented.label("consented"),
        versions.c.title.label("title"),
        versions.c.organisation_name.label("organisation_name"),
        versions.c.sites.label("sites"),
        studies.c.status.label("study_status"),
        studies.c.active_version_id.label("active_version_id"),
        versions.c.content_hash.label("content_hash"),
        versions.c.criteria.label("criteria"),
        versions.c.invitation_text.label("invitation_text"),
        versions.c.site_region.label("site_region"),
        approvals.c.approved_on.label("approved_on"),
        approvals.c.expires_on.label("expires_on"),
    ).select_from(
        picked.outerjoin(accounts, accounts.c.id == picked.c.account_id)
        .outerjoin(studies, studies.c.id == picked.c.study_id)
        .outerjoin(
            versions,
            (versions.c.id == studies.c.active_version_id) & (versions.c.study_id == studies.c.id),
        )
        .outerjoin(approvals, approvals.c.study_version_id == versions.c.id)
    )


def due_subquery(dialect: str, which: str) -> Subquery:
    """The picked invitation and its volunteer's row, locked (see ``claim_query``)."""
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
        .where(invitations.c.status == inline("queued"))
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
    due = due.limit(inline(1))
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True, key_share=True, of=[invitations, participants])
    return due.subquery("picked")


def inline(value: object) -> BindParameter[Any]:
    """A constant written into the SQL text rather than sent as a parameter. PostgreSQL can then
    prove the partial index ``status = 'queued'`` applies to the prepared statement's generic
    plan and keeps reusing it; with ``status = $1`` it re-planned every claim, which cost more
    than running it (0.5 ms a claim)."""
    return bindparam(None, value, literal_execute=True)


_PROFILE_AND_CAP: dict[tuple[object, ...], Select[Any]] = {}


def profile_and_cap_query(
    version: tuple[int, str], node: Node, today: dt.date, dialect: str, cap: int, sites: Sites = ()
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
        # A version's sites never change (P5), so the version in the key covers them.
        query = _PROFILE_AND_CAP[key] = _build_profile_and_cap_query(node, today, dialect, cap, sites)
    return query


def _build_profile_and_cap_query(
    node: Node, today: dt.date, dialect: str, cap: int, sites: Sites = ()
) -> Select[Any]:
    participant_id: BindParameter[int] = bindparam("key_participant")
    has_profile = exists().where(profiles.c.participant_id == participant_id)
    matches = exists().where(
        profiles.c.participant_id == participant_id, compile_where(node, today, dialect, sites)
    )
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
    return select(
        has_profile.label("has_profile"), matches.label("matches"), cap_reached_at.label("cap_reached_at")
    )


_CHECK_AND_CLAIM: dict[tuple[object, ...], Select[Any]] = {}


def check_and_claim_query(
    version: tuple[int, str], node: Node, today: dt.date, dialect: str, cap: int, sites: Sites = ()
) -> Select[Any] | None:
    """On PostgreSQL, ``profile_and_cap_query`` and, when its answer lets the invitation go (a
    profile that satisfies the criteria, the volunteer under the cap), the claim with its two
    tokens, in one statement: the check's three answers and ``claimed``. The check reads after the
    volunteer's row is locked (the pick was an earlier statement) and, like every part of one
    statement, before the claim's own update. None elsewhere (SQLite: check, then claim).
    Parameters: those of ``profile_and_cap_query`` and of the claim (``claim_statements``)."""
    if dialect != "postgresql":
        return None
    key = (*version, today, dialect, cap)
    query = _CHECK_AND_CLAIM.get(key)
    if query is None:
        if len(_CHECK_AND_CLAIM) > 1024:
            _CHECK_AND_CLAIM.clear()
        checked = profile_and_cap_query(version, node, today, dialect, cap, sites).cte("checked")
        passed = exists().where(checked.c.has_profile, checked.c.matches, checked.c.cap_reached_at.is_(None))
        claimed = CLAIM.where(passed).returning(invitations.c.attempts).cte("claimed")
        query = _CHECK_AND_CLAIM[key] = select(
            checked.c.has_profile,
            checked.c.matches,
            checked.c.cap_reached_at,
            exists().select_from(claimed).label("claimed"),
        ).add_cte(_claim_tokens(passed).cte("claim_tokens"))
    return query
