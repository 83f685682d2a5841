"""What a volunteer's pages say about studies: the invitations that reached them, each with its
explanation, and which profile sections could settle an unknown result (never which study)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.criteria import Truth, explain
from panel_service.domain.criteria.explain import Explanation
from panel_service.domain.criteria.model import Condition, FieldLeaf, Medication, Node, QuestionLeaf, leaves
from panel_service.domain.criteria.versions import criteria_of
from panel_service.domain.eligibility import VolunteerState
from panel_service.domain.gazetteer import site_text
from panel_service.domain.geo import site_points
from panel_service.domain.profile import ProfileData
from panel_service.domain.questions import Catalogue
from panel_service.models import Participant, StudyVersion
from panel_service.queries.matching import (
    InvitationRow,
    dashboard_from_row,
    invitation_rows,
    load_dashboard,
    with_dashboard,
)
from panel_service.services.kept import remembered
from panel_service.services.matching import profile_of, recruiting_from, recruiting_versions
from panel_service.services.profiles import profile_data
from panel_service.services.questions import catalogue_by_stamp, load_catalogue
from panel_service.timeutil import panel_today

# Profile sections a volunteer can answer, keyed by the criteria field or leaf kind that an
# answer settles. Used for "answering N more questions..." without naming any study.
SECTION_OF_FIELD = {
    "age": "birth_date",
    "sex": "sex",
    "region": "region",
    "bmi": "height_weight",
    "height_cm": "height_weight",
    "weight_kg": "height_weight",
    "smoker": "smoker",
    "pregnant": "pregnant",
    "distance_to_site_km": "home",
}


@dataclass(frozen=True)
class InvitationView:
    study_id: int
    title: str
    invitation_text: str
    site_region: str
    sites: tuple[str, ...]
    organisation: str
    status: str
    sent_at: dt.datetime | None
    response: str | None
    responded_at: dt.datetime | None
    explanation: Explanation | None


@dataclass(frozen=True)
class DashboardFacts:
    """What the dashboard reads about the volunteer: the stored profile (None: none yet), the
    contact state, the studies recruiting today (study id, version id, content hash) and every
    invitation of theirs (any state)."""

    profile: ProfileData | None
    state: VolunteerState
    recruiting: list[tuple[int, int, str]]
    invitations: list[InvitationRow]
    # (the profile's key, the catalogue's stamp) when both are known (PostgreSQL): what the
    # explanations and the sections' prompt are kept under, with the rest of what they read.
    memo: tuple[str, str] | None = None


def dashboard_facts(
    session: Session, settings: Settings, participant_id: int, read: Any = None
) -> DashboardFacts:
    """``DashboardFacts`` in one statement (``queries.matching.load_dashboard``), or from
    ``read``, a row that already holds its columns (the sign-in check's, widened by
    ``SIGN_IN_READ``). The statement also reads the question catalogue's stamp: when this
    process has built the catalogue of those very rows, the session takes it and the page reads
    no catalogue."""
    row = (
        load_dashboard(session, participant_id, panel_today(settings))
        if read is None
        else dashboard_from_row(read._mapping)
    )
    catalogue_by_stamp(session, row.catalogue_stamp)
    volunteer = row.volunteer
    memo = (
        (row.profile_key, row.catalogue_stamp)
        if row.profile_key is not None and row.catalogue_stamp is not None
        else None
    )
    return DashboardFacts(profile_of(volunteer), volunteer.state, volunteer.recruiting, row.invitations, memo)


# The dashboard's reading, for the sign-in check's statement to do (``web.auth.read_with_sign_in``).
SIGN_IN_READ = with_dashboard


def sign_in_read_params(settings: Settings) -> dict[str, Any]:
    return {"today": panel_today(settings)}


def visible_invitations(
    session: Session,
    settings: Settings,
    participant_id: int,
    data: ProfileData | None = None,
    language: str | None = None,
) -> list[InvitationView]:
    """Invitations that reached the volunteer (sent), newest first, each with its explanation
    for the exact study version it was sent for. ``data``: the profile when the caller has
    loaded it already (the dashboard loads it once per request). ``language``: the language
    the page is shown in, which sites' towns and the explanation follow; without it, the
    volunteer's saved language (what their emails use)."""
    return dashboard_invitations(session, settings, participant_id, data, language)[0]


def dashboard_invitations(
    session: Session,
    settings: Settings,
    participant_id: int,
    data: ProfileData | None = None,
    language: str | None = None,
    rows: list[InvitationRow] | None = None,
    memo: tuple[str, str] | None = None,
) -> tuple[list[InvitationView], set[int]]:
    """``visible_invitations``, and the ids of every study with an invitation for the volunteer
    in any state (``queries.asking.invited_study_ids``). ``rows``: every invitation of the
    volunteer as ``queries.matching.load_dashboard`` read them with the profile; without them,
    one statement reads them. The words of the versions they were sent for are kept per
    (version id, content hash), as the criteria are (a version never changes, P5): read in one
    statement only for versions this process has not shown yet."""
    if rows is None:
        rows = invitation_rows(session, participant_id)
    invited = {row.study_id for row in rows}
    sent = sorted(
        (row for row in rows if row.status == "sent" and row.content_hash is not None),
        # Newest first (NULLs first, as PostgreSQL's DESC puts them), then by study.
        key=lambda row: (row.sent_at is None, row.sent_at.timestamp() if row.sent_at else 0.0, -row.study_id),
        reverse=True,
    )
    if data is None:
        data = profile_data(session, participant_id)
    today = panel_today(settings)
    catalogue = CatalogueOnNeed(session)
    # Explanations and towns in the page's language (§4a: "du har fortalt os, at ..."), else
    # the volunteer's saved one. From the identity map when the caller has the participant loaded.
    if language is None:
        participant = session.get(Participant, participant_id)
        language = str(participant.language if participant is not None else "en") or "en"
    versions = sent_versions(session, [(row.study_version_id, str(row.content_hash)) for row in sent])
    views = []
    for row in sent:
        # The version the invitation was sent for: an approved version, and the one in force when
        # it was sent (a claim is cancelled otherwise), so the page says what the email said (P5).
        version = versions.get((row.study_version_id, str(row.content_hash)))
        if version is None:  # never: an invitation's version is never deleted
            continue
        views.append(
            InvitationView(
                study_id=row.study_id,
                title=version.title,
                invitation_text=version.invitation_text,
                site_region=version.site_region,
                sites=tuple(site_text(site, language) for site in version.sites),
                organisation=version.organisation_name,
                status=row.status,
                sent_at=row.sent_at,
                response=row.response,
                responded_at=row.responded_at,
                explanation=remembered(
                    None
                    if memo is None
                    else ("explain", *memo, version.id, version.content_hash, today, language),
                    # Called at once, inside this iteration: ``version`` is this row's.
                    lambda: _explain(version, data, today, catalogue, language),  # noqa: B023
                ),
            )
        )
    return views, invited


@dataclass(frozen=True)
class SentVersion:
    """What a volunteer's page shows of a study version an invitation was sent for."""

    id: int
    content_hash: str
    title: str
    invitation_text: str
    site_region: str
    sites: list[dict[str, Any]]
    organisation_name: str
    criteria: dict[str, Any]


# Per (version id, content hash), shared by the process: a version is never edited in place.
_SENT: dict[tuple[int, str], SentVersion] = {}


def sent_versions(session: Session, wanted: list[tuple[int, str]]) -> dict[tuple[int, str], SentVersion]:
    """The versions ``wanted`` (version id, content hash), those not kept yet read in one
    statement."""
    known = {key: _SENT.get(key) for key in wanted}
    missing = [version_id for (version_id, _content), value in known.items() if value is None]
    if missing:
        if len(_SENT) > 4096:
            _SENT.clear()
        for version in session.execute(
            select(
                StudyVersion.id,
                StudyVersion.content_hash,
                StudyVersion.title,
                StudyVersion.invitation_text,
                StudyVersion.site_region,
                StudyVersion.sites,
                StudyVersion.organisation_name,
                StudyVersion.criteria,
            ).where(StudyVersion.id.in_(missing))
        ):
            kept = SentVersion(*version)
            _SENT[(kept.id, kept.content_hash)] = known[(kept.id, kept.content_hash)] = kept
    return {key: value for key, value in known.items() if value is not None}


def invitation_view(
    session: Session, settings: Settings, participant_id: int, study_id: int, language: str | None = None
) -> InvitationView | None:
    """One of the volunteer's own invitations; None for anyone else's (P7). ``language``: as
    for ``visible_invitations``."""
    for view in visible_invitations(session, settings, participant_id, language=language):
        if view.study_id == study_id:
            return view
    return None


class CatalogueOnNeed:
    """The question catalogue, read (one statement) only when something needs it: the first
    parse of a version (parses are kept per version) or the explanation of a question leaf.
    A dashboard whose studies ask no catalogue question does not read it at all."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.loaded: Catalogue | None = None

    def __call__(self) -> Catalogue:
        if self.loaded is None:
            self.loaded = load_catalogue(self.session)
        return self.loaded

    def for_tree(self, tree: Node) -> Catalogue | None:
        """What ``explain`` needs for ``tree``: the catalogue if a leaf is a question."""
        return self() if any(isinstance(leaf, QuestionLeaf) for leaf in leaves(tree)) else None


def _explain(
    version: SentVersion,
    data: ProfileData,
    today: dt.date,
    catalogue: CatalogueOnNeed,
    language: str = "en",
) -> Explanation | None:
    try:
        tree = criteria_of(version.id, version.content_hash, version.criteria, catalogue)
        return explain(
            tree, data, today, site_points(version.sites), language, catalogue=catalogue.for_tree(tree)
        )
    except Exception:  # a stored version is validated on write; never let one break the page
        return None


def open_questions(
    session: Session,
    settings: Settings,
    participant_id: int,
    data: ProfileData | None = None,
    recruiting: list[tuple[int, int, str]] | None = None,
    memo: tuple[str, str] | None = None,
) -> list[str]:
    """Profile sections whose answer could settle an *unknown* result for some study that
    recruits today: the same studies as the questions' count (``services.asking``), under an
    approval in force (``queries.matching.recruiting``); ``recruiting`` is their (study id,
    version id, content hash) when the caller has read them already. Only sections are
    returned, never a study, a criterion or a code: the volunteer learns how much answering
    helps without learning what any uninvited study looks for. The catalogue's questions are
    counted one by one by ``services.asking`` (the dashboard's "questions that matter" prompt),
    not here."""
    if data is None:
        data = profile_data(session, participant_id)
    today = panel_today(settings)
    key = None if memo is None or recruiting is None else ("open", *memo, tuple(recruiting), today)
    found = data
    return list(remembered(key, lambda: tuple(_open_sections(session, found, today, recruiting))))


def _open_sections(
    session: Session, data: ProfileData, today: dt.date, recruiting: list[tuple[int, int, str]] | None
) -> list[str]:
    versions = (
        recruiting_versions(session, today) if recruiting is None else recruiting_from(session, recruiting)
    )
    sections: set[str] = set()
    catalogue = CatalogueOnNeed(session)
    for version in versions:
        version_id, content_hash, criteria, sites = (
            version.version_id,
            version.content_hash,
            version.criteria,
            version.sites,
        )
        try:
            # Parsed once per version and process (versions never change), not per page view.
            tree = criteria_of(version_id, content_hash, criteria, catalogue)
        except Exception:  # noqa: S112 - a broken stored version must not break the dashboard
            continue
        explanation = explain(tree, data, today, site_points(sites), catalogue=catalogue.for_tree(tree))
        if explanation.result is not Truth.UNKNOWN:
            continue
        for leaf, explained in zip(leaves(tree), explanation.leaves, strict=False):
            if explained.result is not Truth.UNKNOWN:
                continue
            if isinstance(leaf, Condition | Medication) and _history_would_settle(leaf, data):
                continue  # the history of a listed entry: one of the questions that matter
            if isinstance(leaf, Condition):
                sections.add("conditions")
            elif isinstance(leaf, Medication):
                sections.add("medications")
            elif isinstance(leaf, FieldLeaf):
                sections.add(SECTION_OF_FIELD[leaf.field])
    order = [
        "birth_date",
        "sex",
        "region",
        "home",
        "height_weight",
        "smoker",
        "pregnant",
        "conditions",
        "medications",
    ]
    return [section for section in order if section in sections]


def _history_would_settle(leaf: Condition | Medication, data: ProfileData) -> bool:
    """A qualified leaf over an answered list with a matching entry: its history ("still have
    it? since when?") settles it, and ``services.asking`` counts that among the questions."""
    codes = data.conditions if isinstance(leaf, Condition) else data.medications
    return leaf.qualified and codes is not None and any(leaf.matches(code) for code in codes)
