"""The studies that recruit today, and the incremental match's statements.

``recruiting`` is what "may recruit today" means in SQL (P1, P5). ``load_volunteer`` reads, in
one statement, the (study, version, content hash) of every recruiting study and everything about
one volunteer: the profile row, the condition and medication entries (with histories) and answers
as JSON arrays aggregated beside it (``json_agg`` on PostgreSQL, ``json_group_array`` on SQLite),
the contact state of ``domain.eligibility`` (erased, active consent, pause, home, travel limit:
the same SQL as ``eligibility.volunteer_state``) and whether any invitation of theirs is still
queued (so a match with nothing to cancel sends no ``UPDATE``). ``insert_invitations`` and
``cancel_queued`` are its two writes, one statement each whatever the number of studies. The
test ``tests/integration/pipeline/test_incremental_match.py`` holds the load to ``load_profile``
and ``volunteer_state``, and counts the statements.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Table, any_, bindparam, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from panel_service.domain.eligibility import TRAVEL_LIMIT_KEY, VolunteerState
from panel_service.domain.history import Entry
from panel_service.models import (
    EthicsApproval,
    Invitation,
    Participant,
    Profile,
    ProfileCondition,
    ProfileMedication,
    Study,
    StudyVersion,
)
from panel_service.models.questions import ProfileAnswer
from panel_service.queries.catalogue import catalogue_stamp
from panel_service.queries.eligibility import active_consent_exists

profiles = t.cast(Table, Profile.__table__)
participants = t.cast(Table, Participant.__table__)
conditions = t.cast(Table, ProfileCondition.__table__)
medications = t.cast(Table, ProfileMedication.__table__)
answers = t.cast(Table, ProfileAnswer.__table__)
invitations = t.cast(Table, Invitation.__table__)


def _recruiting_from(today: Any) -> tuple[Any, tuple[Any, ...]]:
    joined = Study.__table__.join(StudyVersion, StudyVersion.id == Study.active_version_id).join(
        EthicsApproval, EthicsApproval.study_version_id == StudyVersion.id
    )
    return joined, (
        Study.status == "recruiting",
        StudyVersion.study_id == Study.id,
        EthicsApproval.approved_on <= today,
        EthicsApproval.expires_on > today,
    )


def recruiting(columns: tuple[Any, ...], today: dt.date) -> Any:
    """``columns`` of the studies that recruit today, by study id: status recruiting, an active
    version whose own approval is in force. The approval is joined by the active version's id, so
    an approval of another version never covers it (P5)."""
    joined, where = _recruiting_from(today)
    return select(*columns).select_from(joined).where(*where).order_by(Study.id)


@dataclass(frozen=True)
class VolunteerRow:
    """The stored facts; ``profile`` is the profile row's columns by name (None: no profile).
    ``recruiting``: (study id, version id, content hash) of every study recruiting today."""

    recruiting: list[tuple[int, int, str]]
    state: VolunteerState
    has_queued: bool
    profile: dict[str, Any] | None
    conditions: list[Entry]
    medications: list[Entry]
    answers: list[tuple[str, Any, dt.date | None, dt.date]]  # key, JSON value, value_date, answered_on


def _aggregate(dialect: str, *values: Any) -> Any:
    if dialect == "postgresql":
        return func.json_agg(func.json_build_array(*values), type_=JSON)
    return func.json_group_array(func.json_array(*values), type_=JSON)


def _entries(dialect: str, table: Table) -> Any:
    return (
        select(_aggregate(dialect, table.c.code, table.c.status, table.c.since, table.c.until))
        .where(table.c.participant_id == participants.c.id)
        .scalar_subquery()
    )


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value[:10])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


PROFILE_COLUMNS = (
    "birth_date",
    "sex",
    "region",
    "height_cm",
    "weight_kg",
    "smoker",
    "pregnant",
    "conditions_answered",
    "medications_answered",
    "home_lat",
    "home_lon",
    "home_place",
    "home_geonameid",
)


_LOAD: dict[tuple[str, bool], Any] = {}


def _load_statement(dialect: str, dashboard: bool = False) -> Any:
    """The statement of ``load_volunteer``, built once per dialect with ``participant_id`` and
    ``today`` as parameters: building it (and its cache key) took longer than running it.
    ``dashboard``: ``load_dashboard``'s, the same columns and two more (the invitations, the
    catalogue's stamp); the incremental match's own statement does not carry them."""
    if (dialect, dashboard) in _LOAD:
        return _LOAD[(dialect, dashboard)]
    statement = (
        select(*_volunteer_columns(dialect, dashboard))
        .select_from(participants.outerjoin(profiles, profiles.c.participant_id == participants.c.id))
        .where(participants.c.id == bindparam("participant_id", type_=BigInteger))
    )
    _LOAD[(dialect, dashboard)] = statement
    return statement


def with_dashboard(statement: Any, dialect: str) -> Any:
    """``statement`` (one that selects from ``participants``, at most one row) with
    ``load_dashboard``'s columns added, correlated to its participant: for a statement that
    reads the participant anyway (the sign-in check of ``services.accounts``), so that the
    dashboard needs no statement of its own. Takes ``today`` as a parameter;
    ``dashboard_from_row`` reads the row."""
    return statement.outerjoin_from(
        participants, profiles, profiles.c.participant_id == participants.c.id
    ).add_columns(*_volunteer_columns(dialect, True))


def _volunteer_columns(dialect: str, dashboard: bool) -> list[Any]:
    joined, where = _recruiting_from(bindparam("today", type_=Date))
    studies = (
        select(_aggregate(dialect, Study.id, StudyVersion.id, StudyVersion.content_hash))
        .select_from(joined)
        .where(*where)
        .scalar_subquery()
    )
    value = answers.c.value if dialect == "postgresql" else func.json(answers.c.value)
    limit = (
        select(answers.c.value_num)
        .where(answers.c.participant_id == participants.c.id, answers.c.key == TRAVEL_LIMIT_KEY)
        .scalar_subquery()
    )
    queued = exists(
        select(invitations.c.study_id).where(
            invitations.c.participant_id == participants.c.id, invitations.c.status == "queued"
        )
    )
    columns = [
        studies.label("recruiting"),
        participants.c.erased_at.label("erased_at"),
        participants.c.contact_paused_until.label("contact_paused_until"),
        active_consent_exists(participants.c.id).label("consented"),
        limit.label("max_km"),
        queued.label("queued"),
        profiles.c.participant_id.label("profile_id"),
        *(profiles.c[name].label(name) for name in PROFILE_COLUMNS),
        _entries(dialect, conditions).label("condition_rows"),
        _entries(dialect, medications).label("medication_rows"),
        select(_aggregate(dialect, answers.c.key, value, answers.c.value_date, answers.c.answered_on))
        .where(answers.c.participant_id == participants.c.id)
        .scalar_subquery()
        .label("answer_rows"),
    ]
    if dashboard:
        invitation_columns, invitation_source = _invitations_read()
        columns += [
            select(_aggregate(dialect, *invitation_columns))
            .select_from(invitation_source)
            .where(invitations.c.participant_id == participants.c.id)
            .scalar_subquery()
            .label("invitation_rows"),
            catalogue_stamp(dialect).label("catalogue_stamp"),
        ]
    return columns


@dataclass(frozen=True)
class InvitationRow:
    """One invitation of the volunteer as ``load_dashboard`` reads it; ``content_hash`` is its
    version's, for a sent invitation only (the version whose words the volunteer was sent)."""

    study_id: int
    study_version_id: int
    status: str
    sent_at: dt.datetime | None
    response: str | None
    responded_at: dt.datetime | None
    content_hash: str | None


@dataclass(frozen=True)
class DashboardRow:
    """``load_volunteer``'s row, every invitation of the volunteer (any state), and the stamp
    of the stored question catalogue (``queries.catalogue``; None on SQLite)."""

    volunteer: VolunteerRow
    invitations: list[InvitationRow]
    catalogue_stamp: str | None
    # The stored profile's columns as read (their repr): equal keys, equal profiles. None: no
    # participant.
    profile_key: str | None = None


def _moment(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def load_dashboard(session: Session, participant_id: int, today: dt.date) -> DashboardRow:
    """``load_volunteer`` and the volunteer's invitations and the catalogue's stamp, in one
    statement: what the volunteer's dashboard reads about them (the web session's statement
    aside). No participant row: erased, with no invitations."""
    statement = _load_statement(session.get_bind().dialect.name, dashboard=True)
    row = session.execute(statement, {"participant_id": participant_id, "today": today}).mappings().first()
    return dashboard_from_row(row)


def dashboard_from_row(row: Any) -> DashboardRow:
    """The ``DashboardRow`` of a row with ``load_dashboard``'s columns (its own statement's, or
    one widened by ``with_dashboard``); None: no participant."""
    if row is None:
        return DashboardRow(_volunteer_from(None), [], None)
    return DashboardRow(
        _volunteer_from(row),
        [
            InvitationRow(
                int(study_id),
                int(version_id),
                str(status),
                _moment(sent_at),
                response,
                _moment(responded_at),
                content_hash,
            )
            for study_id, version_id, status, sent_at, response, responded_at, content_hash in _json(
                row["invitation_rows"]
            )
            or ()
        ],
        row["catalogue_stamp"],
        repr(tuple(row[name] for name in _PROFILE_KEY)),
    )


_PROFILE_KEY = ("profile_id", *PROFILE_COLUMNS, "condition_rows", "medication_rows", "answer_rows")


def invitation_rows(session: Session, participant_id: int) -> list[InvitationRow]:
    """``load_dashboard``'s invitations alone (same columns, one statement)."""
    columns, source = _invitations_read()
    rows = session.execute(
        select(*columns).select_from(source).where(invitations.c.participant_id == participant_id)
    )
    return [InvitationRow(*row) for row in rows]


def _invitations_read() -> tuple[tuple[Any, ...], Any]:
    """The columns of an ``InvitationRow`` and what they are read from: a volunteer's invitations,
    with the content hash of the version each sent one was sent for."""
    sent_version = t.cast(Table, StudyVersion.__table__)
    columns = (
        invitations.c.study_id,
        invitations.c.study_version_id,
        invitations.c.status,
        invitations.c.sent_at,
        invitations.c.response,
        invitations.c.responded_at,
        sent_version.c.content_hash,
    )
    source = invitations.outerjoin(
        sent_version,
        (sent_version.c.id == invitations.c.study_version_id) & (invitations.c.status == "sent"),
    )
    return columns, source


def load_volunteer(session: Session, participant_id: int, today: dt.date) -> VolunteerRow:
    """One volunteer and the recruiting studies, in one statement. No participant row: erased
    (and no study is read: there is nobody to match)."""
    statement = _load_statement(session.get_bind().dialect.name)
    row = session.execute(statement, {"participant_id": participant_id, "today": today}).mappings().first()
    return _volunteer_from(row)


def _volunteer_from(row: Any) -> VolunteerRow:
    if row is None:
        erased = VolunteerState(erased=True, consent_active=False, contact_paused_until=None)
        return VolunteerRow([], erased, False, None, [], [], [])
    lat, lon, max_km = row["home_lat"], row["home_lon"], row["max_km"]
    state = VolunteerState(
        erased=row["erased_at"] is not None,
        consent_active=bool(row["consented"]),
        contact_paused_until=row["contact_paused_until"],
        home=None if lat is None or lon is None else (float(lat), float(lon)),
        max_travel_km=None if max_km is None else float(max_km),
    )

    def entries(rows: Any) -> list[Entry]:
        found = [Entry(code, status, since, until) for code, status, since, until in _json(rows) or ()]
        return sorted(found, key=lambda entry: entry.code)

    return VolunteerRow(
        recruiting=sorted(
            (int(study), int(version), str(content))
            for study, version, content in _json(row["recruiting"]) or ()
        ),
        state=state,
        has_queued=bool(row["queued"]),
        profile=None if row["profile_id"] is None else {name: row[name] for name in PROFILE_COLUMNS},
        conditions=entries(row["condition_rows"]),
        medications=entries(row["medication_rows"]),
        answers=[
            (key, stored, _date(value_date), t.cast(dt.date, _date(answered_on)))
            for key, stored, value_date, answered_on in _json(row["answer_rows"]) or ()
        ],
    )


_WRITES: dict[tuple[str, str], Any] = {}


def _write_statement(dialect: str, kind: str) -> Any:
    """The incremental match's two writes, built once per dialect (see ``_load_statement``)."""
    key = (dialect, kind)
    if key not in _WRITES:
        if kind == "insert":
            insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
            _WRITES[key] = (
                insert_fn(invitations)
                .on_conflict_do_nothing(index_elements=["study_id", "participant_id"])
                .returning(invitations.c.study_id)
            )
        else:
            studies = (
                invitations.c.study_id == any_(bindparam("study_ids", type_=ARRAY(BigInteger)))
                if dialect == "postgresql"
                else invitations.c.study_id.in_(bindparam("study_ids", expanding=True))
            )
            _WRITES[key] = (
                update(invitations)
                .where(
                    invitations.c.participant_id == bindparam("volunteer", type_=BigInteger),
                    studies,
                    invitations.c.status == "queued",
                )
                .values(status="cancelled", reason=bindparam("why"), cancelled_at=bindparam("now"))
            )
    return _WRITES[key]


def insert_invitations(session: Session, participant_id: int, versions: list[tuple[int, int]]) -> list[int]:
    """Queue invitations of one volunteer to these (study id, version id): one multi-row
    ``INSERT … ON CONFLICT DO NOTHING`` (SQLAlchemy's "insertmanyvalues" sends the parameter sets
    as one statement). Returns the study ids of the invitations that are new (P2: an existing
    one is left as it is)."""
    statement = _write_statement(session.get_bind().dialect.name, "insert")
    rows = [
        {"study_id": study_id, "participant_id": participant_id, "study_version_id": version_id}
        for study_id, version_id in versions
    ]
    return [int(study_id) for study_id in session.execute(statement, rows).scalars()]


def cancel_queued(
    session: Session, participant_id: int, study_ids: list[int], reason: str, now: dt.datetime
) -> int:
    """Cancel the volunteer's still-queued invitations to these studies, in one ``UPDATE``."""
    statement = _write_statement(session.get_bind().dialect.name, "cancel")
    result = session.execute(
        statement, {"volunteer": participant_id, "study_ids": study_ids, "why": reason, "now": now}
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
