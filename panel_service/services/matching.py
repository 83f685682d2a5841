"""Matching: which volunteers get an invitation to which recruiting study (product contract §6.1-3).

Bulk match (a study starts recruiting, nightly, after an import): one ``match_runs`` row, the
profile-id space split into ``match_chunks``, one outbox row (task) per chunk. Each chunk is a
single ``INSERT INTO invitations ... SELECT`` from the compiled criteria AND "contactable"
(consent active, contact not paused, not erased), restricted to its id range, ``ON CONFLICT DO
NOTHING`` on the primary key (study, participant), and marks itself done in the same
transaction: a chunk run twice inserts nothing the second time, and no profile passes through
Python (memory is flat in the number of profiles).

Incremental match (a profile changed): that one profile against every recruiting study with the
in-memory evaluator, same insert semantics; a profile that no longer matches cancels its
still-queued invitations with the reason ``no_longer_matches``.

Only the study's *active* version, under an approval in force today, is ever matched (P1, P5).
"""

from __future__ import annotations

import datetime as dt
import time
import typing as t
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.logging import get_logger
from panel_service import jobs, outbox
from panel_service.domain import eligibility, lifecycle
from panel_service.domain.chunks import chunk_plan
from panel_service.domain.criteria import Truth, compile_criteria, profile_facts
from panel_service.domain.criteria.evaluate import Check
from panel_service.domain.criteria.versions import criteria_of
from panel_service.domain.geo import Home, Sites, site_points
from panel_service.domain.history import Entry
from panel_service.domain.profile import ProfileData
from panel_service.domain.questions import Answer
from panel_service.metrics import INVITATIONS_CANCELLED, INVITATIONS_CREATED
from panel_service.models import (
    Invitation,
    MatchChunk,
    MatchRun,
    Profile,
    ProfileCondition,
    ProfileMedication,
    Study,
    StudyVersion,
)
from panel_service.queries.criteria_sql import compile_where
from panel_service.queries.eligibility import contactable_clause
from panel_service.queries.matching import (
    VolunteerRow,
    cancel_queued,
    insert_invitations,
    load_volunteer,
    recruiting,
)
from panel_service.services.audit import record
from panel_service.services.contact.requests import request_dispatch, request_sends
from panel_service.services.questions import answers_of, load_catalogue, stored_value
from panel_service.tasks import Task
from panel_service.timeutil import panel_today, utcnow

if TYPE_CHECKING:
    from config.settings import Settings
    from panel_service.jobs import JobContext

log = get_logger(__name__)


profiles = t.cast(Table, Profile.__table__)
invitations = t.cast(Table, Invitation.__table__)


# -- requests other code makes (through the outbox) ------------------------------------------


def request_study_match(session: Session, study_id: int, kind: str = "manual") -> None:
    """Queue a bulk match of the study's active version. ``kind`` is recorded on the run."""
    dedup = None
    if kind == "nightly":  # two beats, or a beat run twice, queue one nightly match a day
        dedup = f"{Task.MATCHING_START_STUDY}:{study_id}:nightly:{utcnow().date().isoformat()}"
    outbox.enqueue(session, Task.MATCHING_START_STUDY, {"study_id": study_id, "kind": kind}, dedup_key=dedup)


def request_recruit_match(session: Session, study_id: int) -> None:
    """Queue the bulk match of a study that starts recruiting, or recruits on a newly approved
    version (the run is recorded as ``recruit``)."""
    outbox.enqueue(session, Task.MATCHING_START_STUDY, {"study_id": study_id})


def request_profile_match(session: Session, participant_id: int) -> None:
    """Queue an incremental match of one volunteer (profile created or changed, consent given)."""
    outbox.enqueue(session, Task.MATCHING_MATCH_PROFILE, {"participant_id": participant_id})


def request_rematch_all(session: Session) -> None:
    """After a bulk import: re-match every recruiting study in bulk (not one task per line)."""
    outbox.enqueue(session, Task.MATCHING_REMATCH_ALL, {})


# -- what "may recruit today" means ----------------------------------------------------------


@dataclass(frozen=True)
class Recruiting:
    study_id: int
    version_id: int
    content_hash: str
    criteria: dict[str, Any]
    sites: Any = ()  # the version's [{"name", "lat", "lon"}], for distance_to_site_km

    @property
    def site_points(self) -> Sites:
        return site_points(self.sites)


def recruiting_versions(session: Session, today: dt.date, study_id: int | None = None) -> list[Recruiting]:
    """Studies that recruit today (``queries.matching.recruiting``), with their versions' criteria
    and sites."""
    query = recruiting(
        (Study.id, StudyVersion.id, StudyVersion.content_hash, StudyVersion.criteria, StudyVersion.sites),
        today,
    )
    if study_id is not None:
        query = query.where(Study.id == study_id)
    return [Recruiting(*row) for row in session.execute(query)]


# A version's criteria and sites per (version id, content hash): they never change (an edit makes
# a new version), so a page that already knows which versions recruit (``queries.matching``'s
# volunteer row) need not read them again.
_CONTENT: dict[tuple[int, str], tuple[dict[str, Any], Any]] = {}


def recruiting_from(session: Session, found: list[tuple[int, int, str]]) -> list[Recruiting]:
    """``recruiting_versions`` for (study id, version id, content hash) already read (the
    volunteer row's ``recruiting``, the same "recruits today"): the criteria and sites of versions
    not seen yet in this process are read in one statement, none once warm."""
    return [
        Recruiting(study_id, version_id, content_hash, *content)
        for study_id, version_id, content_hash, content in _kept_per_version(
            session, found, _CONTENT, lambda _version_id, _content_hash, criteria, sites: (criteria, sites)
        )
    ]


Kept = TypeVar("Kept")


def _kept_per_version(
    session: Session,
    found: list[tuple[int, int, str]],
    kept: dict[tuple[int, str], Kept],
    make: Callable[[int, str, Any, Any], Kept],
) -> list[tuple[int, int, str, Kept]]:
    """(study id, version id, content hash, what is kept for the version) for each of ``found``:
    ``make(version id, content hash, criteria, sites)`` for the versions not in ``kept`` yet,
    whose criteria and sites are read in one statement (none once warm). A version's content
    never changes, so what is kept per (version id, content hash) stays right."""
    # A local view of the cache: another thread (the embedded mode's job runner) may clear it.
    known = {(version_id, content): kept.get((version_id, content)) for _, version_id, content in found}
    missing = [version_id for (version_id, _), value in known.items() if value is None]
    if missing:
        if len(kept) > 4096:
            kept.clear()
        rows = session.execute(
            select(
                StudyVersion.id, StudyVersion.content_hash, StudyVersion.criteria, StudyVersion.sites
            ).where(StudyVersion.id.in_(missing))
        )
        for version_id, content_hash, criteria, sites in rows:
            made = make(version_id, content_hash, criteria, sites)
            kept[(version_id, content_hash)] = known[(version_id, content_hash)] = made
    result = []
    for study_id, version_id, content_hash in found:
        value = known.get((version_id, content_hash))
        if value is not None:  # always, since a version's content never changes
            result.append((study_id, version_id, content_hash, value))
    return result


def _insert_ignoring_existing(dialect_name: str, names: list[str], source: Any) -> Any:
    insert_fn = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    return (
        insert_fn(invitations)
        .from_select(names, source)
        .on_conflict_do_nothing(index_elements=["study_id", "participant_id"])
        # SQLAlchemy 2.1 reports rowcount -1 for INSERT ... SELECT unless asked to keep it.
        .execution_options(preserve_rowcount=True)
    )


# -- bulk match ------------------------------------------------------------------------------


def start_match_run(
    session: Session,
    settings: Settings,
    study_id: int,
    kind: str = "recruit",
    on_chunk: t.Callable[[int, int], None] | None = None,
) -> int | None:
    """Create the match run for the study's active version and fan out one task per chunk
    (``domain.chunks.chunk_plan``: one per worker process, more only past the size cap);
    ``on_chunk(outbox id, chunk number)`` is told each chunk's outbox row.

    Idempotent: the study row is locked, and an unfinished run of the same version for the same
    day is reused instead of starting another (a duplicate delivery changes nothing)."""
    today = panel_today(settings)
    # FOR NO KEY UPDATE: inserts referencing the study (its invitations, tokens) only take KEY
    # SHARE locks on it, and must not wait for (or deadlock with) this one.
    study = session.get(Study, study_id, with_for_update={"key_share": True})
    if study is None:
        return None
    found = recruiting_versions(session, today, study_id)
    if not found:
        log.info("matching.skipped", study_id=study_id, status=study.status)
        return None
    version_id = found[0].version_id
    existing = session.scalar(
        select(MatchRun.id).where(
            MatchRun.study_id == study_id,
            MatchRun.study_version_id == version_id,
            MatchRun.match_date == today,
            MatchRun.finished_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    low, high = session.execute(
        select(func.min(profiles.c.participant_id), func.max(profiles.c.participant_id))
    ).one()
    plan = chunk_plan(low, high, settings.match_chunk_size, settings.match_workers)
    run = MatchRun(
        study_id=study_id,
        study_version_id=version_id,
        kind=kind if kind in ("recruit", "nightly", "import", "manual") else "manual",
        match_date=today,
        chunk_size=plan.size,
        chunks_total=plan.total,
        finished_at=utcnow() if plan.total == 0 else None,
    )
    session.add(run)
    session.flush()
    for number in range(plan.total):
        chunk_low, chunk_high = plan.bounds(number)
        session.add(MatchChunk(run_id=run.id, chunk_no=number, low_id=chunk_low, high_id=chunk_high))
    session.flush()
    for number in range(plan.total):
        message = outbox.enqueue(session, Task.MATCHING_MATCH_CHUNK, {"run_id": run.id, "chunk_no": number})
        if message is not None and on_chunk is not None:
            on_chunk(message.id, number)
    log.info("matching.run_started", study_id=study_id, run_id=run.id, chunks=plan.total, kind=run.kind)
    return run.id


@jobs.job(Task.MATCHING_START_STUDY, queue="matching")
def start_study(runtime: JobContext, study_id: int, kind: str = "recruit") -> int | None:
    """Start the run, then match its last chunk here rather than wait for the broker to hand it
    back: once the run commits, every chunk's task is published and this process is free. It runs
    the chunk as any worker would, under the chunk's own outbox row and lease
    (``jobs.run_job``): when another process has taken that row first, or takes the delivery
    later, only one runs it (the lease), and a crash here leaves the row to the reconciler."""
    chunks: list[tuple[int, int]] = []
    with runtime.database.session_scope() as session:
        run_id = start_match_run(
            session, runtime.settings, study_id, kind, lambda row, number: chunks.append((row, number))
        )
    if run_id is not None and chunks:
        outbox_id, number = chunks[-1]
        try:
            jobs.run_job(
                runtime, Task.MATCHING_MATCH_CHUNK, {"run_id": run_id, "chunk_no": number}, outbox_id
            )
        except Exception:  # recorded on the chunk's own row, which the outbox retries
            log.exception("matching.own_chunk_failed", run_id=run_id, chunk_no=number)
    return run_id


def match_one_chunk(session: Session, settings: Settings, run_id: int, chunk_no: int) -> int:
    """One id range of one run: a single INSERT ... SELECT, and the chunk marked done with its
    count in the same transaction."""
    return _match_one_chunk(session, settings, run_id, chunk_no) or 0


def _match_one_chunk(session: Session, settings: Settings, run_id: int, chunk_no: int) -> int | None:
    """``match_one_chunk``; None when the chunk was done already (nothing ran)."""
    dialect = session.get_bind().dialect.name
    chunk = session.get(MatchChunk, (run_id, chunk_no), with_for_update={"key_share": True})
    if chunk is None or chunk.done_at is not None:
        return None  # done already: a duplicate delivery, or a redelivery after a crash post-commit
    run = session.get(MatchRun, run_id)
    assert run is not None  # the chunk's foreign key guarantees it
    today = panel_today(settings)
    found = [
        r for r in recruiting_versions(session, today, run.study_id) if r.version_id == run.study_version_id
    ]
    matched = 0
    if found:
        node = criteria_of(
            found[0].version_id, found[0].content_hash, found[0].criteria, lambda: load_catalogue(session)
        )
        source = select(
            literal(run.study_id), profiles.c.participant_id, literal(run.study_version_id)
        ).where(
            profiles.c.participant_id.between(chunk.low_id, chunk.high_id),
            compile_where(node, run.match_date, dialect, found[0].site_points),
            contactable_clause(dialect, run.match_date, (chunk.low_id, chunk.high_id), found[0].site_points),
        )
        result = session.execute(
            _insert_ignoring_existing(dialect, ["study_id", "participant_id", "study_version_id"], source)
        )
        matched = max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]
    # else: the study stopped recruiting or changed version since the run began: match nobody.
    chunk.matched = matched
    chunk.done_at = utcnow()
    if matched:
        INVITATIONS_CREATED.inc(matched)
        request_dispatch(session, dedup_key=f"dispatch:run{run_id}:chunk{chunk_no}")
    session.flush()
    # The run row lock orders the "all chunks done?" checks of concurrent chunks.
    session.execute(select(MatchRun.id).where(MatchRun.id == run_id).with_for_update(key_share=True))
    undone = session.scalar(
        select(func.count())
        .select_from(MatchChunk)
        .where(MatchChunk.run_id == run_id, MatchChunk.done_at.is_(None))
    )
    if not undone:
        session.execute(
            update(MatchRun)
            .where(MatchRun.id == run_id, MatchRun.finished_at.is_(None))
            .values(finished_at=utcnow())
        )
    return matched


@jobs.job(Task.MATCHING_MATCH_CHUNK, queue="matching")
def match_chunk(runtime: JobContext, run_id: int, chunk_no: int) -> int:
    started = time.perf_counter()
    with runtime.database.session_scope() as session:
        matched = _match_one_chunk(session, runtime.settings, run_id, chunk_no)
    if matched is None:
        return 0
    # One line per chunk matched, whichever process ran it (a worker's delivery, or start_study's
    # own chunk): the two-host benchmark counts the chunks and their rows from these.
    log.info(
        "matching.chunk_done",
        run_id=run_id,
        chunk_no=chunk_no,
        matched=matched,
        seconds=round(time.perf_counter() - started, 4),
    )
    return matched


def run_progress(session: Session, study_id: int) -> dict[str, Any] | None:
    """The latest run of a study: chunks done of total, matched so far (for the funnel)."""
    run = session.scalar(
        select(MatchRun).where(MatchRun.study_id == study_id).order_by(MatchRun.id.desc()).limit(1)
    )
    if run is None:
        return None
    done, matched = session.execute(
        select(func.count(MatchChunk.done_at), func.coalesce(func.sum(MatchChunk.matched), 0)).where(
            MatchChunk.run_id == run.id
        )
    ).one()
    return {
        "run_id": run.id,
        "kind": run.kind,
        "match_date": run.match_date.isoformat(),
        "chunks_total": run.chunks_total,
        "chunks_done": int(done or 0),
        "matched": int(matched or 0),
        "finished": run.finished_at is not None,
    }


# -- incremental match -----------------------------------------------------------------------


def load_profile(session: Session, participant_id: int) -> ProfileData | None:
    profile = session.get(Profile, participant_id)
    if profile is None:
        return None
    conditions = _stored_entries(session, ProfileCondition, participant_id)
    medications = _stored_entries(session, ProfileMedication, participant_id)
    return ProfileData(
        birth_date=profile.birth_date,
        sex=profile.sex,
        region=profile.region,
        height_cm=profile.height_cm,
        weight_kg=profile.weight_kg,
        smoker=profile.smoker,
        pregnant=profile.pregnant,
        conditions=tuple(entry.code for entry in conditions) if profile.conditions_answered else None,
        medications=tuple(entry.code for entry in medications) if profile.medications_answered else None,
        condition_history=tuple(entry for entry in conditions if not entry.plain),
        medication_history=tuple(entry for entry in medications if not entry.plain),
        answers=answers_of(session, participant_id),
        home=stored_home(profile),
    )


def stored_home(profile: Profile) -> Home | None:
    if profile.home_lat is None or profile.home_lon is None:
        return None
    return Home(profile.home_lat, profile.home_lon, profile.home_place, profile.home_geonameid)


def profile_of(volunteer: VolunteerRow) -> ProfileData | None:
    """The volunteer's profile as ``load_profile`` builds it, from ``queries.matching``'s row."""
    row = volunteer.profile
    if row is None:
        return None
    conditions, medications = volunteer.conditions, volunteer.medications
    return ProfileData(
        birth_date=row["birth_date"],
        sex=row["sex"],
        region=row["region"],
        height_cm=row["height_cm"],
        weight_kg=row["weight_kg"],
        smoker=row["smoker"],
        pregnant=row["pregnant"],
        conditions=tuple(entry.code for entry in conditions) if row["conditions_answered"] else None,
        medications=tuple(entry.code for entry in medications) if row["medications_answered"] else None,
        condition_history=tuple(entry for entry in conditions if not entry.plain),
        medication_history=tuple(entry for entry in medications if not entry.plain),
        answers={
            key: Answer(stored_value(value, value_date), answered_on)
            for key, value, value_date, answered_on in volunteer.answers
        },
        home=None
        if row["home_lat"] is None or row["home_lon"] is None
        else Home(row["home_lat"], row["home_lon"], row["home_place"], row["home_geonameid"]),
    )


def _stored_entries(
    session: Session, model: type[ProfileCondition] | type[ProfileMedication], participant_id: int
) -> list[Entry]:
    """A volunteer's codes with their histories, sorted by code."""
    rows = session.execute(
        select(model.code, model.status, model.since, model.until)
        .where(model.participant_id == participant_id)
        .order_by(model.code)
    )
    return [Entry(code, status, since, until) for code, status, since, until in rows]


@dataclass(frozen=True)
class CompiledVersion:
    """A study version's criteria compiled for the in-memory evaluator, with its sites."""

    check: Check
    sites: Sites


# Compiled criteria per (version id, content hash): a version's criteria and sites never change
# (an edit makes a new version), so the incremental match reads and compiles them once per
# process, not once per volunteer.
_COMPILED: dict[tuple[int, str], CompiledVersion] = {}


def compiled_versions(
    session: Session, found: list[tuple[int, int, str]]
) -> list[tuple[int, int, CompiledVersion]]:
    """(study id, version id, compiled criteria) for (study id, version id, content hash) of
    recruiting studies: the criteria and sites of versions not compiled yet in this process are
    read in one statement (none once warm) and compiled once."""

    def compile_version(version_id: int, content_hash: str, criteria: Any, sites: Any) -> CompiledVersion:
        node = criteria_of(version_id, content_hash, criteria, lambda: load_catalogue(session))
        points = site_points(sites)
        return CompiledVersion(compile_criteria(node, points), points)

    return [
        (study_id, version_id, compiled)
        for study_id, version_id, _content_hash, compiled in _kept_per_version(
            session, found, _COMPILED, compile_version
        )
    ]


def match_volunteer(session: Session, settings: Settings, participant_id: int) -> int:
    """One volunteer against every recruiting study, in memory. Returns invitations created.

    A fixed number of statements whatever the number of studies: one reads the volunteer and which
    versions recruit today (``queries.matching``; their compiled criteria are cached per version
    and read only once per process), one ``INSERT`` of
    every match (with one outbox row per new invitation to send it), and, when the volunteer has
    a queued invitation, one ``UPDATE`` cancelling those of every study the profile is no longer
    TRUE for. A study the profile matches
    but the volunteer may not be contacted about today (paused, too far, no consent) gets
    neither: a pause holds, it never cancels (P6); the dispatcher re-checks what is queued."""
    today = panel_today(settings)
    volunteer = load_volunteer(session, participant_id, today)
    if not volunteer.recruiting:
        return 0
    studies = compiled_versions(session, volunteer.recruiting)
    profile = profile_of(volunteer)
    state = volunteer.state
    facts = profile_facts(profile, today) if profile is not None else None
    invite: list[tuple[int, int]] = []
    unmatched: list[int] = []
    for study_id, version_id, compiled in studies:
        truth = compiled.check(facts) if facts is not None else Truth.UNKNOWN
        if truth is not Truth.TRUE:
            unmatched.append(study_id)
        elif eligibility.volunteer_obstacle(state, today, compiled.sites) is None:
            invite.append((study_id, version_id))
    created = insert_invitations(session, participant_id, invite) if invite else []
    if created:
        INVITATIONS_CREATED.inc(len(created))
        request_sends(session, participant_id, created)
    if unmatched and volunteer.has_queued:
        cancelled = cancel_queued(session, participant_id, unmatched, "no_longer_matches", utcnow())
        if cancelled:
            INVITATIONS_CANCELLED.labels("no_longer_matches").inc(cancelled)
    return len(created)


@jobs.job(Task.MATCHING_MATCH_PROFILE, queue="matching")
def match_profile(runtime: JobContext, participant_id: int) -> int:
    with runtime.database.session_scope() as session:
        return match_volunteer(session, runtime.settings, participant_id)


def request_recruiting_matches(session: Session, today: dt.date, kind: str) -> int:
    """Queue a bulk match of every study recruiting today; returns how many."""
    studies = recruiting_versions(session, today)
    for study in studies:
        request_study_match(session, study.study_id, kind)
    return len(studies)


@jobs.job(Task.MATCHING_REMATCH_ALL, queue="matching")
def rematch_all(runtime: JobContext) -> int:
    with runtime.database.session_scope() as session:
        return request_recruiting_matches(session, panel_today(runtime.settings), "import")


# -- beat jobs -------------------------------------------------------------------------------


@jobs.job(Task.MATCHING_NIGHTLY, queue="matching")
def nightly(runtime: JobContext) -> int:
    """Re-match every recruiting study (ages change). One match per study per day, however many
    beats fire (dedup key per day)."""
    expire_approvals(runtime)
    with runtime.database.session_scope() as session:
        return request_recruiting_matches(session, panel_today(runtime.settings), "nightly")


def expire_lapsed_approvals(session: Session, settings: Settings) -> int:
    """A recruiting study whose active version's approval is no longer in force is paused and
    its queued invitations cancelled (``approval_expired``). Idempotent: a paused study is not
    recruiting, so a second run finds nothing."""
    today = panel_today(settings)
    candidates = session.scalars(
        select(Study).where(Study.status == "recruiting").with_for_update(skip_locked=True, key_share=True)
    ).all()
    # Read what is in force only after the candidates: each statement sees what was committed
    # when it started, so the other order could miss a study that started recruiting (with its
    # approval) between the two and pause it as expired (found by make chaos).
    in_force = {r.study_id for r in recruiting_versions(session, today)}
    expired = 0
    for study in candidates:
        if study.id in in_force:
            continue
        study.status = lifecycle.next_status(study.status, "expire")
        study.updated_at = utcnow()
        cancelled = session.execute(
            update(Invitation)
            .where(Invitation.study_id == study.id, Invitation.status == "queued")
            .values(status="cancelled", reason="approval_expired", cancelled_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]
        if cancelled:
            INVITATIONS_CANCELLED.labels("approval_expired").inc(cancelled)
        record(session, None, "study.expire", "study", study.id, {"cancelled": int(cancelled or 0)})
        expired += 1
    if expired:
        log.info("matching.approvals_expired", studies=expired)
    return expired


@jobs.job(Task.MATCHING_EXPIRE_APPROVALS, queue="maintenance")
def expire_approvals(runtime: JobContext) -> int:
    with runtime.database.session_scope() as session:
        return expire_lapsed_approvals(session, runtime.settings)
