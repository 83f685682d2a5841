"""What a coordinator learns about who their study reaches: feasibility, funnel, respondents (P4).

Every count returned here has passed through ``domain.disclosure``: nothing below the threshold
(zero included) leaves this module as a number, and the counts of one response are protected
against differencing as a whole (attrition as a chain, the funnel as a breakdown). Volunteers appear by name only in
``respondents``, and only those who answered "interested" to this study, with contact details
and never anything from the health profile. Feasibility queries and every look at respondents
are audited in the caller's transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from panel_service.domain.criteria import Node, criteria_hash, parse_json, to_text
from panel_service.domain.disclosure import Cell, protect_breakdown, protect_chain
from panel_service.domain.geo import Sites, site_points
from panel_service.domain.vocab import (
    CANCEL_REASONS,
    INVITATION_RESPONSES,
    INVITATION_STATUSES,
    RESPONDENT_OUTCOMES,
)
from panel_service.models import (
    Account,
    Invitation,
    MatchChunk,
    MatchRun,
    Participant,
    RespondentOutcome,
    Study,
)
from panel_service.queries.criteria_sql import attrition_counts, matching_ids
from panel_service.queries.eligibility import contactable_clause
from panel_service.services.audit import record
from panel_service.services.errors import NotFound, ValidationFailed
from panel_service.services.invitations import PENDING_STATUSES
from panel_service.services.questions import load_catalogue
from panel_service.timeutil import as_utc, utcnow

Count = int | str


@dataclass(frozen=True)
class Feasibility:
    study_id: int
    version: int
    criteria_text: str
    criteria_hash: str
    on: dt.date
    matching: Count
    attrition: list[tuple[str, Count]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "study_id": self.study_id,
            "version": self.version,
            "criteria": self.criteria_text,
            "criteria_hash": self.criteria_hash,
            "on": self.on.isoformat(),
            "matching": self.matching,
            "attrition": [{"criterion": text, "remaining": count} for text, count in self.attrition],
        }


def feasibility(
    session: Session, actor: Account, study: Study, *, today: dt.date, threshold: int
) -> Feasibility:
    """How many volunteers the study's newest version would invite today, and what each
    top-level criterion leaves, all suppressed below ``threshold``. Audited with the criteria hash."""
    version = study.latest_version
    assert version is not None
    node = parse_json(version.criteria, load_catalogue(session))
    sites = site_points(version.sites)  # for distance_to_site_km and the travel limit (§4a)
    matching, attrition = protected_counts(session, node, today, sites, threshold)
    digest = criteria_hash(node)
    record(
        session,
        actor,
        "feasibility.query",
        "study",
        study.id,
        {"version": version.number, "criteria_hash": digest, "on": today.isoformat()},
    )
    return Feasibility(
        study_id=study.id,
        version=version.number,
        criteria_text=to_text(node),
        criteria_hash=digest,
        on=today,
        matching=matching,
        attrition=attrition,
    )


def protected_counts(
    session: Session, node: Node, today: dt.date, sites: Sites, threshold: int
) -> tuple[Count, list[tuple[str, Count]]]:
    """Who ``node`` would reach today among the contactable, and what each top-level criterion
    leaves: one attrition chain protected as P4 asks (the study's feasibility and the builder's)."""
    dialect = session.get_bind().dialect.name
    base = contactable_clause(dialect, today, sites=sites)
    matching = matching_ids(node, today, dialect, sites).where(base).subquery()
    count = session.scalar(select(func.count()).select_from(matching)) or 0
    steps = attrition_counts(session.connection(), node, today, base_where=base, sites=sites)
    # The matching count is the chain's last link (everyone who passes every criterion).
    chain = protect_chain([remaining for _, remaining in steps] + [int(count)], threshold)
    return chain[-1], [(text, shown) for (text, _), shown in zip(steps, chain, strict=False)]


def funnel(
    session: Session,
    study: Study,
    *,
    threshold: int,
    zone: dt.tzinfo = dt.UTC,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Invitations per status and per reason, answers, answers per day, bulk-match progress.

    Counts only, protected as one breakdown (``domain.disclosure.protect_breakdown``): every
    status, reason and answer is listed whether or not it is zero, and answers per day run
    without a gap from the first answer to ``today``, so that no absent row tells anything."""
    by_status = dict(
        session.execute(
            select(Invitation.status, func.count())
            .where(Invitation.study_id == study.id)
            .group_by(Invitation.status)
        ).all()
    )
    by_reason: dict[str, int] = dict.fromkeys(CANCEL_REASONS, 0)
    for reason, number in session.execute(
        select(Invitation.reason, func.count())
        .where(Invitation.study_id == study.id, Invitation.status == "cancelled")
        .group_by(Invitation.reason)
    ):
        key = str(reason) if reason in by_reason else "other"
        by_reason[key] += int(number)
    # Days in the panel's time zone; only timestamps are read, never who answered.
    per_day: dict[str, dict[str, int]] = {}
    for answered_at, response in session.execute(
        select(Invitation.responded_at, Invitation.response).where(
            Invitation.study_id == study.id,
            Invitation.status == "sent",
            Invitation.responded_at.is_not(None),
            Invitation.response.is_not(None),
        )
    ):
        if answered_at is None or response is None:  # filtered above; narrows the types
            continue
        answered_on = as_utc(answered_at).astimezone(zone).date().isoformat()
        counts = per_day.setdefault(answered_on, dict.fromkeys(INVITATION_RESPONSES, 0))
        counts[str(response)] += 1
    days = _every_day(sorted(per_day), today or dt.datetime.now(zone).date())
    statuses = {status: int(by_status.get(status, 0)) for status in INVITATION_STATUSES}
    answered = {
        response: sum(per_day.get(day, {}).get(response, 0) for day in days)
        for response in INVITATION_RESPONSES
    }
    root = Cell("invitations", sum(statuses.values()))
    for status, number in statuses.items():
        cell = Cell(f"status:{status}", number)
        if status == "cancelled":
            cell.parts = [Cell(f"reason:{reason}", by_reason[reason]) for reason in CANCEL_REASONS]
        if status == "sent":
            # Answers are recorded on sent invitations only; the unanswered rest is never shown
            # but is a part all the same, or "sent" minus the answers would give it exactly.
            cell.parts = [
                Cell(
                    f"response:{response}",
                    answered[response],
                    [Cell(f"day:{day}:{response}", per_day.get(day, {}).get(response, 0)) for day in days],
                )
                for response in INVITATION_RESPONSES
            ]
            cell.parts.append(Cell("unanswered", number - sum(answered.values()), shown=False))
        root.parts.append(cell)
    shown = protect_breakdown(root, threshold)
    return {
        "study_id": study.id,
        "status": study.status,
        "target_enrolment": _target(study),
        "invitations": shown["invitations"],
        "by_status": {status: shown[f"status:{status}"] for status in INVITATION_STATUSES},
        "by_reason": {reason: shown[f"reason:{reason}"] for reason in CANCEL_REASONS},
        "responses": {response: shown[f"response:{response}"] for response in INVITATION_RESPONSES},
        "answers_per_day": [
            {"date": day, **{response: shown[f"day:{day}:{response}"] for response in INVITATION_RESPONSES}}
            for day in days
        ],
        "matching_progress": _progress(session, study),
    }


def pending_invitations(session: Session, study: Study, *, threshold: int, zone: dt.tzinfo = dt.UTC) -> Count:
    """How many invitations closing the study would cancel (those not sent yet), exactly as the
    funnel shows that cell: taken from the same protected breakdown, so that the close
    confirmation tells nothing the funnel does not (P4)."""
    assert PENDING_STATUSES == ("queued",), "the funnel cell below must be every pending status"
    return funnel(session, study, threshold=threshold, zone=zone)["by_status"]["queued"]


def _every_day(answered_on: list[str], today: dt.date) -> list[str]:
    """Every day from the first answer to today (or the last answer, if later)."""
    if not answered_on:
        return []
    first = dt.date.fromisoformat(answered_on[0])
    last = max(today, dt.date.fromisoformat(answered_on[-1]))
    return [(first + dt.timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def _target(study: Study) -> int | None:
    version = study.active_version or study.latest_version
    return version.target_enrolment if version is not None else None


def _progress(session: Session, study: Study) -> dict[str, Any] | None:
    """The newest bulk match: how far through its chunks it is. Chunks are slices of the id
    space, not people, so their numbers are not counts of anyone."""
    run = session.scalar(
        select(MatchRun).where(MatchRun.study_id == study.id).order_by(MatchRun.id.desc()).limit(1)
    )
    if run is None:
        return None
    done = session.scalar(
        select(func.count())
        .select_from(MatchChunk)
        .where(MatchChunk.run_id == run.id, MatchChunk.done_at.is_not(None))
    )
    percent = 100 if run.chunks_total == 0 else round(100 * int(done or 0) / run.chunks_total)
    return {
        "kind": run.kind,
        "started_at": run.created_at.isoformat(),
        "finished": run.finished_at is not None,
        "chunks_done": int(done or 0),
        "chunks_total": run.chunks_total,
        "percent_done": percent,
    }


RESPONDENT_COLUMNS = ("name", "email", "phone", "preferred_channel", "answered_at")


def respondents(
    session: Session,
    actor: Account,
    study: Study,
    *,
    export: bool = False,
    page: int | None = None,
    per_page: int = 100,
) -> tuple[list[dict[str, Any]], int]:
    """Contact details of the volunteers who answered "interested" to this study, and no one else,
    with their total. Never a health field. Every view and every export is audited."""
    released = (
        Invitation.study_id == study.id,
        Invitation.response == "interested",
        Participant.erased_at.is_(None),
    )
    query = (
        select(
            Participant.name,
            Account.email,
            Participant.phone,
            Participant.preferred_channel,
            Invitation.responded_at,
            Invitation.participant_id,
            RespondentOutcome.outcome,
        )
        .join(Participant, Participant.id == Invitation.participant_id)
        .outerjoin(Account, Account.id == Participant.account_id)
        .outerjoin(
            RespondentOutcome,
            and_(
                RespondentOutcome.study_id == Invitation.study_id,
                RespondentOutcome.participant_id == Invitation.participant_id,
            ),
        )
        .where(*released)
        .order_by(Invitation.responded_at, Invitation.participant_id)
    )
    total = session.scalar(
        select(func.count())
        .select_from(Invitation)
        .join(Participant, Participant.id == Invitation.participant_id)
        .where(*released)
    )
    if page is not None:
        query = query.limit(per_page).offset((page - 1) * per_page)
    rows = session.execute(query).all()
    items = [
        {
            "name": name,
            "email": email,
            "phone": phone,
            "preferred_channel": channel,
            "answered_at": answered_at.isoformat() if answered_at is not None else None,
            # For the coordinator's own pages and the FHIR export; the API's list shows contact
            # details only (RespondentOut).
            "respondent": respondent,
            "outcome": outcome,
        }
        for name, email, phone, channel, answered_at, respondent, outcome in rows
    ]
    record(
        session,
        actor,
        "respondents.export" if export else "respondents.view",
        "study",
        study.id,
        {"released": len(items), **({"page": page} if page is not None else {})},
    )
    return items, int(total or 0)


def respondents_csv(items: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(RESPONDENT_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        # A leading = + - @ would run as a formula in a spreadsheet: quote it away.
        writer.writerow({key: _csv_safe(item.get(key)) for key in RESPONDENT_COLUMNS})
    return buffer.getvalue()


def _csv_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def record_outcome(
    session: Session, actor: Account, study: Study, participant_id: int, outcome: str | None
) -> RespondentOutcome | None:
    """Record (or, with ``None``, clear) what became of a respondent of ``study``: someone who
    answered "interested" and is not erased; anyone else is ``NotFound``. Audited as
    ``respondent.outcome`` with the respondent's participant id and the outcome before and after."""
    if outcome is not None and outcome not in RESPONDENT_OUTCOMES:
        raise ValidationFailed(
            "Choose an outcome.", {"outcome": f"must be one of {', '.join(RESPONDENT_OUTCOMES)}"}
        )
    respondent = session.scalar(
        select(Invitation.participant_id)
        .join(Participant, Participant.id == Invitation.participant_id)
        .where(
            Invitation.study_id == study.id,
            Invitation.participant_id == participant_id,
            Invitation.response == "interested",
            Participant.erased_at.is_(None),
        )
    )
    if respondent is None:
        raise NotFound("No such respondent.")
    row = session.get(RespondentOutcome, (study.id, participant_id))
    before = row.outcome if row is not None else None
    if outcome is None:
        if row is not None:
            session.delete(row)
        row = None
    elif row is None:
        row = RespondentOutcome(
            study_id=study.id,
            participant_id=participant_id,
            outcome=outcome,
            recorded_by_id=actor.id,
            recorded_at=utcnow(),
        )
        session.add(row)
    else:
        row.outcome, row.recorded_by_id, row.recorded_at = outcome, actor.id, utcnow()
    if before != outcome:
        record(
            session,
            actor,
            "respondent.outcome",
            "study",
            study.id,
            {"participant": participant_id, "from": before, "to": outcome},
        )
    session.flush()
    return row


def outcome_counts(session: Session, study: Study, *, threshold: int) -> dict[str, Count]:
    """Respondents per outcome, each passed through ``protect_breakdown``: the recorded outcomes
    as parts of all respondents, those with none recorded yet a part that is never shown."""
    recorded = dict(
        session.execute(
            select(RespondentOutcome.outcome, func.count())
            .where(RespondentOutcome.study_id == study.id)
            .group_by(RespondentOutcome.outcome)
        ).all()
    )
    respondents_total = int(
        session.scalar(
            select(func.count())
            .select_from(Invitation)
            .join(Participant, Participant.id == Invitation.participant_id)
            .where(
                Invitation.study_id == study.id,
                Invitation.response == "interested",
                Participant.erased_at.is_(None),
            )
        )
        or 0
    )
    counts = {outcome: int(recorded.get(outcome, 0)) for outcome in RESPONDENT_OUTCOMES}
    # An erased respondent's outcome row goes with their invitation (cascade), so recorded <= total.
    rest = max(0, respondents_total - sum(counts.values()))
    root = Cell("respondents", rest + sum(counts.values()), shown=False)
    root.parts = [Cell(f"outcome:{outcome}", number) for outcome, number in counts.items()]
    root.parts.append(Cell("outcome:none", rest, shown=False))
    shown = protect_breakdown(root, threshold)
    return {outcome: shown[f"outcome:{outcome}"] for outcome in RESPONDENT_OUTCOMES}
