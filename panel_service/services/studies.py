"""Studies, their immutable versions, ethics approvals and the life cycle of the product contract §5.

Every step goes through ``domain.lifecycle`` (the one transition table); this module adds what
needs a session: versions, approvals, the outbox job that starts matching, cancelling pending
invitations, audit. No Flask here: web pages and the JSON API call these functions alike.

Who may see a study: a coordinator only the studies of their organisation (any other id is
answered exactly like a missing one, so existence is not leaked); reviewers and admins all.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, true, union_all
from sqlalchemy.orm import Session, aliased, joinedload

from panel_service.domain import lifecycle
from panel_service.domain.criteria import All, CriteriaError, Node, parse_any, parse_json, to_json, to_text
from panel_service.domain.questions import Catalogue
from panel_service.domain.sites import clean_sites
from panel_service.domain.vocab import APPROVAL_KINDS, CancelReason, ReviewState, Role, StudyStatus
from panel_service.models import Account, ApiToken, EthicsApproval, Organisation, Study, StudyVersion
from panel_service.services import accounts, invitations, review_mail
from panel_service.services.audit import record
from panel_service.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from panel_service.services.matching import request_recruit_match
from panel_service.services.questions import catalogue_of, load_catalogue
from panel_service.timeutil import utcnow

REGION_PATTERN = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MAX_TARGET_ENROLMENT = 1_000_000
MAX_TITLE = 200
MAX_SUMMARY = 5_000
MAX_INVITATION_TEXT = 10_000
MAX_REASON = 2_000
REVIEWER_ROLES: tuple[str, ...] = (Role.REVIEWER, Role.ADMIN)


def criteria_paths(error: CriteriaError, prefix: str = "criteria") -> dict[str, str]:
    """Criteria issues keyed by their path under the request field (``criteria.all[1].value``)."""
    fields: dict[str, str] = {}
    for issue in error.issues:
        if issue.path == "$":
            key = prefix
        elif issue.path.startswith("["):
            key = f"{prefix}{issue.path}"
        else:
            key = f"{prefix}.{issue.path}"
        fields[key] = f"{fields[key]}; {issue.message}" if key in fields else issue.message
    return fields


def parse_criteria(source: object, catalogue: Catalogue | None = None) -> Node:
    """Criteria as a JSON object or a string (text form or JSON); ValidationFailed names each path.
    ``question`` leaves are checked against ``catalogue`` (``questions.load_catalogue``: admin-added
    questions too; without it, the shipped seed)."""
    if not isinstance(source, str | dict):
        raise ValidationFailed(
            "Criteria must be a JSON object or a string in the text form.",
            {"criteria": "must be an object or a string"},
        )
    try:
        return parse_any(source, catalogue)
    except CriteriaError as error:
        raise ValidationFailed("The criteria are not valid.", criteria_paths(error)) from None
    except RecursionError:
        raise ValidationFailed(
            "The criteria are nested too deeply.", {"criteria": "nested too deeply"}
        ) from None


@dataclass(frozen=True)
class StudyFields:
    """What a coordinator may set. Status, owner and ids are the server's and are not here.
    ``sites`` None means "not given": no sites for a new study, the newest version's on an edit."""

    title: str
    summary: str
    criteria: object
    invitation_text: str
    site_region: str
    target_enrolment: int
    sites: object = None


@dataclass(frozen=True)
class VersionContent:
    """Everything a version holds: the criteria and all that a volunteer is shown (P5)."""

    title: str
    summary: str
    organisation_name: str
    criteria: dict[str, Any]
    invitation_text: str
    site_region: str
    sites: list[dict[str, Any]]
    target_enrolment: int

    @property
    def content_hash(self) -> str:
        """SHA-256 over the canonical criteria and everything else a version holds, so that equal
        content written differently (text form vs JSON, whitespace around) hashes the same.
        Migration 0002_pinned_content computes the same for the versions it filled in."""
        canonical = json.dumps(
            {
                "criteria": self.criteria,
                "invitation_text": self.invitation_text,
                "organisation_name": self.organisation_name,
                "site_region": self.site_region,
                "sites": self.sites,
                "summary": self.summary,
                "target_enrolment": self.target_enrolment,
                "title": self.title,
            },
            separators=(",", ":"),
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @classmethod
    def of(cls, version: StudyVersion) -> VersionContent:
        return cls(
            title=version.title,
            summary=version.summary,
            organisation_name=version.organisation_name,
            criteria=version.criteria,
            invitation_text=version.invitation_text,
            site_region=version.site_region,
            sites=list(version.sites),
            target_enrolment=version.target_enrolment,
        )


def clean_fields(
    fields: StudyFields,
    *,
    organisation_name: str = "",
    current_sites: list[dict[str, Any]] | None = None,
    catalogue: Catalogue | None = None,
) -> VersionContent:
    """Validate every field at once; raise ValidationFailed naming each bad one (``sites[1].lat``)."""
    problems: dict[str, str] = {}
    title = " ".join(str(fields.title or "").split())
    if not title:
        problems["title"] = "must not be empty"
    elif len(title) > MAX_TITLE:
        problems["title"] = f"must be at most {MAX_TITLE} characters"
    summary = str(fields.summary or "").strip()
    if len(summary) > MAX_SUMMARY:
        problems["summary"] = f"must be at most {MAX_SUMMARY} characters"
    invitation_text = str(fields.invitation_text or "").strip()
    if not invitation_text:
        problems["invitation_text"] = "must not be empty"
    elif len(invitation_text) > MAX_INVITATION_TEXT:
        problems["invitation_text"] = f"must be at most {MAX_INVITATION_TEXT} characters"
    site_region = str(fields.site_region or "").strip().upper()
    if not REGION_PATTERN.match(site_region):
        problems["site_region"] = "must be an ISO 3166-2 code such as DK-84 (or a country code such as DK)"
    sites: list[dict[str, Any]] = list(current_sites or [])
    if fields.sites is not None:
        sites, site_problems = clean_sites(fields.sites)
        problems.update(site_problems)
    target = fields.target_enrolment
    if isinstance(target, bool) or not isinstance(target, int):
        problems["target_enrolment"] = "must be a whole number"
    elif not 1 <= target <= MAX_TARGET_ENROLMENT:
        problems["target_enrolment"] = f"must be between 1 and {MAX_TARGET_ENROLMENT}"
    criteria_json: dict[str, Any] = {}
    try:
        criteria_json = to_json(parse_criteria(fields.criteria, catalogue))
    except ValidationFailed as error:
        problems.update(error.fields)
    if problems:
        raise ValidationFailed("Some fields are not valid.", problems)
    return VersionContent(
        title=title,
        summary=summary,
        organisation_name=organisation_name,
        criteria=criteria_json,
        invitation_text=invitation_text,
        site_region=site_region,
        sites=sites,
        target_enrolment=int(target),
    )


# --- reading -------------------------------------------------------------------------------


def _visible(actor: Account, study: Study | None) -> bool:
    if study is None:
        return False
    if actor.role in REVIEWER_ROLES:
        return True
    return actor.role == Role.COORDINATOR and study.organisation_id == actor.organisation_id


def get_study(session: Session, actor: Account, study_id: int, *, for_update: bool = False) -> Study:
    """The study if ``actor`` may see it; otherwise NotFound, exactly as for a missing id."""
    query = select(Study).where(Study.id == study_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    study = session.scalar(query) if 0 < study_id < 2**63 else None
    if not _visible(actor, study):
        raise NotFound(f"There is no study {study_id}.")
    assert study is not None
    return study


def _owned(session: Session, actor: Account, study_id: int) -> Study:
    """A study the actor's organisation owns (coordinators only act on their own)."""
    if actor.role != Role.COORDINATOR:
        # Reviewers see every study but do not run them; a study's own coordinators do.
        get_study(session, actor, study_id)
        raise Forbidden("Only the study's coordinators can do this.")
    return get_study(session, actor, study_id, for_update=True)


# Both versions a list shows, each with its approval, joined into the study's own row: every
# one of these is many-to-one (at most one row each), so the join neither repeats studies nor
# disturbs LIMIT/OFFSET, and a page is one statement however long it is (lazy loads were two or
# four per study; one selectinload per relationship was four more statements).
STUDY_WITH_VERSIONS = (
    joinedload(Study.latest_version).joinedload(StudyVersion.approval),
    joinedload(Study.active_version).joinedload(StudyVersion.approval),
)


def list_studies(
    session: Session, actor: Account, *, page: int = 1, per_page: int = 20
) -> tuple[list[Study], int]:
    query = select(Study)
    if actor.role == Role.COORDINATOR:
        query = query.where(Study.organisation_id == actor.organisation_id)
    elif actor.role not in REVIEWER_ROLES:
        return [], 0
    # The total rides along on every row (a window over the filtered studies, computed before
    # LIMIT), so a page that shows anything costs one statement; an empty page (past the end, or
    # no studies) counts on its own.
    total_column = func.count().over().label("total")
    rows = session.execute(
        query.add_columns(total_column)
        .options(*STUDY_WITH_VERSIONS)
        .order_by(Study.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return [], int(total)


# The API's study list reads each page as plain rows of the columns that can change, or that
# name a version's content: a study's own columns, and for its newest and its active version the
# version's id, number, content hash, review state and times, and its approval. A row is the key
# under which the list keeps that study's answer (``web/api/dump.study_page``): equal keys give
# equal answers, because what a key leaves out is a version's content, which its content hash
# covers (title, summary, organisation name, sites, criteria, invitation text, region, target;
# P5: never edited in place), and the criteria text, which is kept per version id and content
# hash already (``criteria_text``). ``page_key`` gives the same tuple from loaded objects.
STUDY_KEY = (
    "id",
    "organisation_id",
    "status",
    "created_at",
    "updated_at",
    "active_version_id",
    "latest_version_id",
)
VERSION_KEY = (
    "id",
    "number",
    "content_hash",
    "review_state",
    "created_at",
    "submitted_at",
    "rejected_at",
    "rejection_reason",
)
APPROVAL_KEY = (
    "id",
    "committee",
    "kind",
    "reference",
    "approved_on",
    "expires_on",
    "letter_sha256",
    "letter_filename",
)


def _study_page_statement(*, coordinator: bool) -> Select[Any]:
    query = _page_of(Study)
    if coordinator:
        query = query.where(Study.organisation_id == bindparam("organisation_id"))
    return query.order_by(Study.id.desc()).limit(bindparam("limit")).offset(bindparam("offset"))


def _page_of(study: Any) -> Select[Any]:
    """The page's columns (``STUDY_KEY``, then each version's and approval's) and the total,
    for the studies in ``study`` (the table, or an alias of the studies one may see)."""
    # Short names keep the list's one statement under psycopg's 4,096 characters, past which
    # it converts the statement's text again on every execution instead of once.
    latest, active = aliased(StudyVersion, name="lv"), aliased(StudyVersion, name="av")
    latest_approval, active_approval = aliased(EthicsApproval, name="la"), aliased(EthicsApproval, name="aa")
    columns = [
        *(getattr(study, name) for name in STUDY_KEY),
        *(getattr(latest, name) for name in VERSION_KEY),
        *(getattr(latest_approval, name) for name in APPROVAL_KEY),
        *(getattr(active, name) for name in VERSION_KEY),
        *(getattr(active_approval, name) for name in APPROVAL_KEY),
        # The total rides along on every row, as in ``list_studies``.
        func.count().over().label("total"),
    ]
    return (
        select(*columns)
        .select_from(study)
        .outerjoin(latest, latest.id == study.latest_version_id)
        .outerjoin(latest_approval, latest_approval.study_version_id == latest.id)
        .outerjoin(active, active.id == study.active_version_id)
        .outerjoin(active_approval, active_approval.study_version_id == active.id)
    )


# Built once: a statement made per request cost more Python than the rows it reads.
_STUDY_PAGE = {True: _study_page_statement(coordinator=True), False: _study_page_statement(coordinator=False)}
_STUDY_COUNT = {
    True: select(func.count())
    .select_from(Study)
    .where(Study.organisation_id == bindparam("organisation_id")),
    False: select(func.count()).select_from(Study),
}


def study_page_keys(
    session: Session, actor: Account, *, page: int = 1, per_page: int = 20
) -> tuple[list[tuple[Any, ...]], int]:
    """The page ``list_studies`` would show, as one key per study (see ``STUDY_KEY``) and the
    total: one statement (two for an empty page). The same studies, in the same order, for the
    same actors (a coordinator their organisation's, reviewers and admins every study)."""
    if actor.role == Role.COORDINATOR:
        coordinator = True
    elif actor.role in REVIEWER_ROLES:
        coordinator = False
    else:
        return [], 0
    parameters = {
        "organisation_id": actor.organisation_id,
        "limit": per_page,
        "offset": (page - 1) * per_page,
    }
    rows = session.execute(_STUDY_PAGE[coordinator], parameters).all()
    if rows:
        return [tuple(row)[:-1] for row in rows], int(rows[0][-1])
    return [], int(session.scalar(_STUDY_COUNT[coordinator], parameters) or 0)


@dataclass(frozen=True)
class TokenHolder:
    """The account an API token belongs to, as the study list's one statement reads it."""

    account_id: int
    role: str
    organisation_id: int | None


def _token_page_statement() -> Select[Any]:
    """The API token's account and the page ``study_page_keys`` would give that account, in one
    statement: no row for a token that is unknown, revoked or whose account is inactive
    (``accounts.usable_token_clauses``, as ``account_for_token``); otherwise a row per study on
    the page, or one row with the page's columns empty when the page shows none.

    Which studies the account sees is decided by the account's row inside the statement, in two
    arms of which at most one runs (PostgreSQL evaluates a condition on the outer row alone once,
    as a one-time filter): a coordinator's organisation's studies (by the organisation index,
    as ``study_page_keys``), or every study for reviewers and admins. Any other role sees none."""
    who = (
        select(
            ApiToken.id.label("token_id"),
            ApiToken.last_used_at,
            Account.id.label("account_id"),
            Account.role,
            Account.organisation_id,
        )
        .join(Account, Account.id == ApiToken.account_id)
        .where(*accounts.usable_token_clauses(bindparam("token_hash")))
        .subquery("who")
    )
    study_columns = [getattr(Study, name) for name in STUDY_KEY]
    visible = union_all(
        select(*study_columns)
        .where(who.c.role == Role.COORDINATOR, Study.organisation_id == who.c.organisation_id)
        .correlate(who),
        # Not ``in_``: an expanding parameter is rewritten into the text on every execution.
        select(*study_columns).where(or_(*(who.c.role == role for role in REVIEWER_ROLES))).correlate(who),
    ).subquery("visible")
    study = aliased(Study, visible)
    page = (
        _page_of(study)
        .order_by(study.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .lateral("page")
    )
    return select(who, page).select_from(who.outerjoin(page, true()))


_TOKEN_PAGE = _token_page_statement()
_HOLDER_COLUMNS = 5  # token id, its last use, the account's id, role and organisation


def token_study_page(
    session: Session, token: str, *, page: int = 1, per_page: int = 20
) -> tuple[TokenHolder, list[tuple[Any, ...]], int] | None:
    """The API's study list in one round trip: the token's holder (None when the token may not
    be used, exactly as ``accounts.account_for_token``) with the page ``study_page_keys`` gives
    that account, and the total (counted on its own only when the page is empty). Uses the token
    as ``account_for_token`` does: its ``last_used_at`` touched at most once per interval, after
    the reads. On SQLite (no LATERAL) the token and the page are two statements."""
    if session.get_bind().dialect.name != "postgresql":
        return _token_then_page(session, token, page=page, per_page=per_page)
    parameters = {"token_hash": accounts.sha256(token), "limit": per_page, "offset": (page - 1) * per_page}
    # On the session's connection (its transaction, or its autocommit in a read-only view), as
    # Core rows: the columns are plain values, and the ORM's result handling of 45 columns was
    # a third of the statement's time in the process.
    rows = session.connection().execute(_TOKEN_PAGE, parameters).all()
    if not rows:
        return None
    token_id, last_used_at, account_id, role, organisation_id = rows[0][:_HOLDER_COLUMNS]
    holder = TokenHolder(account_id=account_id, role=role, organisation_id=organisation_id)
    if rows[0][_HOLDER_COLUMNS] is not None:  # the page's first column, the study's id
        keys, total = [tuple(row)[_HOLDER_COLUMNS:-1] for row in rows], int(rows[0][-1])
    elif role == Role.COORDINATOR:
        keys, total = [], int(session.scalar(_STUDY_COUNT[True], {"organisation_id": organisation_id}) or 0)
    elif role in REVIEWER_ROLES:
        keys, total = [], int(session.scalar(_STUDY_COUNT[False]) or 0)
    else:
        keys, total = [], 0
    # Last, so that the caller can commit the touch (and end its row lock) right after it.
    accounts.touch_api_token(session, token_id, last_used_at)
    return holder, keys, total


def _token_then_page(
    session: Session, token: str, *, page: int, per_page: int
) -> tuple[TokenHolder, list[tuple[Any, ...]], int] | None:
    """``token_study_page`` where there is no LATERAL (SQLite): the token, then the page."""
    row = session.execute(
        select(ApiToken.id, ApiToken.last_used_at, Account)
        .join(Account, Account.id == ApiToken.account_id)
        .where(*accounts.usable_token_clauses(accounts.sha256(token)))
    ).first()
    if row is None:
        return None
    token_id, last_used_at, account = row
    keys, total = study_page_keys(session, account, page=page, per_page=per_page)
    accounts.touch_api_token(session, token_id, last_used_at)
    return TokenHolder(account.id, account.role, account.organisation_id), keys, total


def page_key(study: Study) -> tuple[Any, ...]:
    """A loaded study's key, as ``study_page_keys`` reads it."""
    latest, active = study.latest_version, study.active_version
    return (
        *(getattr(study, name) for name in STUDY_KEY),
        *_key_of(latest, VERSION_KEY),
        *_key_of(latest.approval if latest is not None else None, APPROVAL_KEY),
        *_key_of(active, VERSION_KEY),
        *_key_of(active.approval if active is not None else None, APPROVAL_KEY),
    )


def _key_of(row: object | None, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in names) if row is not None else (None,) * len(names)


def studies_by_id(session: Session, study_ids: list[int]) -> dict[int, Study]:
    """Studies with both versions and their approvals, in one statement; for ids taken from
    ``study_page_keys`` (which checked who may see them)."""
    found = session.scalars(
        select(Study).where(Study.id.in_(study_ids)).options(*STUDY_WITH_VERSIONS)
    ).unique()
    return {study.id: study for study in found}


def versions_of(session: Session, study: Study) -> list[StudyVersion]:
    return list(
        session.scalars(
            select(StudyVersion).where(StudyVersion.study_id == study.id).order_by(StudyVersion.number.desc())
        )
    )


def version_by_number(session: Session, study: Study, number: int) -> StudyVersion:
    version = session.scalar(
        select(StudyVersion).where(StudyVersion.study_id == study.id, StudyVersion.number == number)
    )
    if version is None:
        raise NotFound(f"Study {study.id} has no version {number}.", {"version": "not found"})
    return version


def pending_version(study: Study) -> StudyVersion | None:
    """The newest version when it is not the active one (awaiting or under review, or rejected)."""
    latest = study.latest_version
    if latest is None or latest.id == study.active_version_id:
        return None
    return latest


# The text form of a version's criteria, kept per process: a version never changes once written
# (P5), so a list of twenty studies neither parses forty criteria trees nor reads the question
# catalogue on every request. The catalogue is read only for a version not seen yet; as for
# ``domain.criteria.versions.criteria_of`` (the same rule, for the parsed tree), a question's
# key and type never change once answered, so a text made once stays right. Keyed by the
# version's id and its content hash (which covers the criteria).
_CRITERIA_TEXT: dict[tuple[int, str], str] = {}
_CRITERIA_TEXT_MAX = 4096


def criteria_text(version: StudyVersion) -> str:
    if version.id is None:
        return to_text(parse_json(version.criteria, catalogue_of(version)))
    key = (version.id, version.content_hash)
    text = _CRITERIA_TEXT.get(key)
    if text is None:
        text = to_text(parse_json(version.criteria, catalogue_of(version)))
        if len(_CRITERIA_TEXT) >= _CRITERIA_TEXT_MAX:
            _CRITERIA_TEXT.clear()
        _CRITERIA_TEXT[key] = text
    return text


def diff_versions(session: Session, study: Study, old_number: int, new_number: int) -> list[str]:
    """A unified diff of two versions, criteria in the text form (one criterion of an ``all``
    per line, so a changed criterion shows as one changed line)."""
    old = version_by_number(session, study, old_number)
    new = version_by_number(session, study, new_number)
    return list(
        difflib.unified_diff(
            _diffable(old), _diffable(new), f"version {old.number}", f"version {new.number}", lineterm=""
        )
    )


def _diffable(version: StudyVersion) -> list[str]:
    node = parse_json(version.criteria, catalogue_of(version))
    criteria = [to_text(child) for child in node.children] if isinstance(node, All) else [to_text(node)]
    return [
        f"title: {version.title}",
        f"organisation_name: {version.organisation_name}",
        *(f"summary: {line}" for line in version.summary.splitlines()),
        *(f"site: {site['name']} ({site['lat']}, {site['lon']})" for site in version.sites),
        *(f"criterion: {line}" for line in criteria),
        f"site_region: {version.site_region}",
        f"target_enrolment: {version.target_enrolment}",
        *(f"invitation_text: {line}" for line in version.invitation_text.splitlines()),
    ]


@dataclass(frozen=True)
class ComparedItem:
    """One line of a compared field: ``change`` is "same", "removed" (only in the older
    version) or "added" (only in the newer)."""

    text: str
    change: str


@dataclass(frozen=True)
class ComparedField:
    """A field of two versions side by side. ``name`` is the field's key (the page names it in
    words); ``old`` and ``new`` list its lines, each marked; ``changed`` when they differ."""

    name: str
    old: list[ComparedItem]
    new: list[ComparedItem]
    changed: bool


def _field_lines(version: StudyVersion) -> dict[str, list[str]]:
    node = parse_json(version.criteria, catalogue_of(version))
    criteria = [to_text(child) for child in node.children] if isinstance(node, All) else [to_text(node)]
    return {
        "title": [version.title],
        "organisation_name": [version.organisation_name],
        "summary": version.summary.splitlines() or [""],
        "invitation_text": version.invitation_text.splitlines() or [""],
        "sites": [f"{site['name']} ({site['lat']}, {site['lon']})" for site in version.sites],
        "site_region": [version.site_region],
        "criteria": criteria,
        "target_enrolment": [str(version.target_enrolment)],
    }


def _marked(lines: list[str], other: list[str], missing: str) -> list[ComparedItem]:
    """Each line marked "same" when the other side has it (as often), else ``missing``."""
    left = list(other)
    items = []
    for line in lines:
        if line in left:
            left.remove(line)
            items.append(ComparedItem(line, "same"))
        else:
            items.append(ComparedItem(line, missing))
    return items


def compare_versions(session: Session, study: Study, old_number: int, new_number: int) -> list[ComparedField]:
    """Two versions side by side, field by field, in the order volunteers meet them: what each
    says, and which lines (a criterion of an ``all``, a site, a line of text) one has and the
    other has not. For people; ``diff_versions`` is the API's unified diff."""
    old = _field_lines(version_by_number(session, study, old_number))
    new = _field_lines(version_by_number(session, study, new_number))
    return [
        ComparedField(
            name=name,
            old=_marked(old[name], new[name], "removed"),
            new=_marked(new[name], old[name], "added"),
            changed=old[name] != new[name],
        )
        for name in old
    ]


def review_queue(session: Session) -> list[StudyVersion]:
    """Versions submitted and awaiting a decision, oldest first."""
    return list(
        session.scalars(
            select(StudyVersion)
            .where(StudyVersion.review_state == ReviewState.IN_REVIEW)
            .order_by(StudyVersion.submitted_at, StudyVersion.id)
        )
    )


# --- changing ------------------------------------------------------------------------------


def create_study(session: Session, actor: Account, fields: StudyFields) -> Study:
    if actor.role != Role.COORDINATOR or actor.organisation_id is None:
        raise Forbidden("Only coordinators create studies.")
    organisation = session.get(Organisation, actor.organisation_id)
    assert organisation is not None
    content = clean_fields(fields, organisation_name=organisation.name, catalogue=load_catalogue(session))
    study = Study(organisation_id=actor.organisation_id, created_by_id=actor.id, status=StudyStatus.DRAFT)
    session.add(study)
    session.flush()
    version = _new_version(session, study, content, actor, number=1)
    study.latest_version_id = version.id
    session.flush()
    record(session, actor, "study.create", "study", study.id, {"version": 1})
    return study


def _new_version(
    session: Session, study: Study, content: VersionContent, actor: Account, *, number: int
) -> StudyVersion:
    version = StudyVersion(
        study_id=study.id,
        number=number,
        criteria=content.criteria,
        title=content.title,
        summary=content.summary,
        organisation_name=content.organisation_name,
        sites=content.sites,
        invitation_text=content.invitation_text,
        site_region=content.site_region,
        target_enrolment=content.target_enrolment,
        content_hash=content.content_hash,
        review_state=ReviewState.DRAFT,
        created_by_id=actor.id,
    )
    session.add(version)
    session.flush()
    return version


def _next_number(session: Session, study: Study) -> int:
    highest = session.scalar(select(func.max(StudyVersion.number)).where(StudyVersion.study_id == study.id))
    return int(highest or 0) + 1


def changed_parts(old: VersionContent, new: VersionContent) -> list[str]:
    """The names of what differs between two contents, for the audit trail."""
    return [name for name in VersionContent.__dataclass_fields__ if getattr(old, name) != getattr(new, name)]


def update_study(session: Session, actor: Account, study_id: int, fields: StudyFields) -> Study:
    """Any change of what a version holds (criteria, or anything volunteers are shown: title,
    summary, organisation name, sites, invitation text) makes a new version (§5, P5); an edit
    that changes nothing makes none. The organisation's current name is taken into the new
    version, so a rename reaches volunteers only through a new approval."""
    study = _owned(session, actor, study_id)
    latest = study.latest_version
    assert latest is not None
    organisation = session.get(Organisation, study.organisation_id)
    assert organisation is not None
    content = clean_fields(
        fields,
        organisation_name=organisation.name,
        current_sites=list(latest.sites),
        catalogue=load_catalogue(session),
    )
    # Compared by content, not by the stored hash, so a change in what the hash covers can
    # never make an unchanged edit look changed.
    latest_content = VersionContent.of(latest)
    if latest_content.content_hash == content.content_hash:
        return study
    if study.status == StudyStatus.CLOSED:
        raise Conflict(lifecycle.IllegalTransition(study.status, "edit").message)
    study.updated_at = utcnow()
    study.status = lifecycle.next_status(study.status, "edit")
    if latest.id != study.active_version_id:
        latest.review_state = lifecycle.next_version_state(latest.review_state, "edit")
    changed = changed_parts(latest_content, content)
    active = study.active_version
    if active is not None and VersionContent.of(active).content_hash == content.content_hash:
        # Edited back to exactly what is approved: the pending version is withdrawn and the
        # approved one is the newest again; there is nothing new to review.
        study.latest_version_id = active.id
        record(
            session, actor, "study.edit", "study", study.id, {"version": active.number, "changed": changed}
        )
    else:
        version = _new_version(session, study, content, actor, number=_next_number(session, study))
        study.latest_version_id = version.id
        record(
            session, actor, "study.edit", "study", study.id, {"version": version.number, "changed": changed}
        )
    session.flush()
    session.refresh(study)
    return study


def submit_study(session: Session, actor: Account, study_id: int) -> Study:
    """Send the newest version to the reviewers' queue."""
    study = _owned(session, actor, study_id)
    latest = study.latest_version
    assert latest is not None
    if study.active_version_id is None:
        study.status = lifecycle.next_status(study.status, "submit")
    elif study.status == StudyStatus.CLOSED or latest.id == study.active_version_id:
        raise Conflict(
            f"{lifecycle.IllegalTransition(study.status, 'submit').message}"
            " Edit the study to make a new version to submit."
        )
    latest.review_state = lifecycle.next_version_state(latest.review_state, "submit")
    latest.submitted_at = utcnow()
    study.updated_at = utcnow()
    record(session, actor, "study.submit", "study", study.id, {"version": latest.number})
    session.flush()
    return study


@dataclass(frozen=True)
class ApprovalFields:
    committee: str
    kind: str
    reference: str
    approved_on: dt.date
    expires_on: dt.date
    letter_sha256: str | None = None
    letter: bytes | None = None
    letter_filename: str | None = None
    # The version number the reviewer read; when given, approving anything else is refused, so
    # an edit and re-submit between reading and deciding cannot slip under the approval (P5).
    version: int | None = None


def approval_in_force(approval: EthicsApproval | None, today: dt.date) -> bool:
    return approval is not None and lifecycle.approval_covers(
        approval.approved_on, approval.expires_on, today
    )


def _clean_approval(fields: ApprovalFields, today: dt.date) -> ApprovalFields:
    problems: dict[str, str] = {}
    committee = " ".join(str(fields.committee or "").split())
    reference = " ".join(str(fields.reference or "").split())
    if not committee:
        problems["committee"] = "must not be empty"
    elif len(committee) > 200:
        problems["committee"] = "must be at most 200 characters"
    if not reference:
        problems["reference"] = "must not be empty"
    elif len(reference) > 100:
        problems["reference"] = "must be at most 100 characters"
    if fields.kind not in APPROVAL_KINDS:
        problems["kind"] = f"must be one of {', '.join(APPROVAL_KINDS)}"
    if fields.approved_on > today:
        problems["approved_on"] = "must not be in the future"
    if fields.expires_on <= fields.approved_on:
        problems["expires_on"] = "must be after approved_on"
    elif fields.expires_on <= today:
        problems["expires_on"] = "this approval has already expired"
    letter_sha256 = fields.letter_sha256
    if fields.letter is not None:
        if not fields.letter:
            problems["letter"] = "the uploaded letter is empty"
        letter_sha256 = hashlib.sha256(fields.letter).hexdigest()
    elif letter_sha256 is None or not SHA256_PATTERN.match(letter_sha256.lower()):
        problems["letter_sha256"] = "must be the SHA-256 of the approval letter: 64 hexadecimal digits"
    if problems:
        raise ValidationFailed("The approval is not valid.", problems)
    assert letter_sha256 is not None
    return ApprovalFields(
        committee=committee,
        kind=fields.kind,
        reference=reference,
        approved_on=fields.approved_on,
        expires_on=fields.expires_on,
        letter_sha256=letter_sha256.lower(),
        letter=fields.letter,
        letter_filename=(fields.letter_filename or None) and str(fields.letter_filename)[:255],
    )


def _reviewed(
    session: Session, actor: Account, study_id: int, expected_version: int | None = None
) -> tuple[Study, StudyVersion]:
    if actor.role not in REVIEWER_ROLES:
        if actor.role == Role.COORDINATOR:
            get_study(session, actor, study_id)  # another organisation's study stays a 404
        raise Forbidden("Only ethics reviewers record approvals and rejections.")
    study = get_study(session, actor, study_id, for_update=True)
    latest = study.latest_version
    if latest is None or latest.review_state != ReviewState.IN_REVIEW:
        raise Conflict(
            f"Study {study.id} has no version awaiting review"
            f" (it is {lifecycle.STATUS_WORDS.get(study.status, study.status)})."
        )
    if expected_version is not None and expected_version != latest.number:
        raise Conflict(
            f"Version {expected_version} is no longer the one awaiting review; version {latest.number} is."
            " Read it before deciding.",
            {"version": f"version {latest.number} awaits review"},
        )
    return study, latest


def approve_study(
    session: Session, actor: Account, study_id: int, fields: ApprovalFields, *, today: dt.date
) -> Study:
    """Record the approval of the exact version that was submitted (P5)."""
    study, version = _reviewed(session, actor, study_id, fields.version)
    cleaned = _clean_approval(fields, today)
    assert cleaned.letter_sha256 is not None
    previous_active = study.active_version
    version.review_state = lifecycle.next_version_state(version.review_state, "approve")
    if previous_active is None:
        study.status = lifecycle.next_status(study.status, "approve")
    else:
        previous_active.review_state = ReviewState.SUPERSEDED
    study.active_version_id = version.id
    study.updated_at = utcnow()
    approval = EthicsApproval(
        study_version_id=version.id,
        committee=cleaned.committee,
        kind=cleaned.kind,
        reference=cleaned.reference,
        approved_on=cleaned.approved_on,
        expires_on=cleaned.expires_on,
        letter_sha256=cleaned.letter_sha256,
        letter_filename=cleaned.letter_filename,
        letter=cleaned.letter,
        recorded_by_id=actor.id,
    )
    session.add(approval)
    record(
        session,
        actor,
        "study.approve",
        "study",
        study.id,
        {
            "version": version.number,
            "content_hash": version.content_hash,
            "committee": cleaned.committee,
            "kind": cleaned.kind,
            "reference": cleaned.reference,
            "expires_on": cleaned.expires_on.isoformat(),
            "letter_sha256": cleaned.letter_sha256,
        },
    )
    session.flush()
    session.refresh(study)
    if study.status == StudyStatus.RECRUITING and previous_active is not None:
        # The recruiting study now matches on the newly approved version.
        request_recruit_match(session, study.id)
    review_mail.request_decision(session, study, version)
    return study


def reject_study(
    session: Session, actor: Account, study_id: int, reason: str, *, version: int | None = None
) -> Study:
    study, submitted = _reviewed(session, actor, study_id, version)
    cleaned = str(reason or "").strip()
    if not cleaned:
        raise ValidationFailed("A rejection needs a reason.", {"reason": "must not be empty"})
    if len(cleaned) > MAX_REASON:
        raise ValidationFailed(
            "The reason is too long.", {"reason": f"must be at most {MAX_REASON} characters"}
        )
    submitted.review_state = lifecycle.next_version_state(submitted.review_state, "reject")
    submitted.rejected_at = utcnow()
    submitted.rejection_reason = cleaned
    if study.active_version_id is None:
        study.status = lifecycle.next_status(study.status, "reject")
    study.updated_at = utcnow()
    record(
        session, actor, "study.reject", "study", study.id, {"version": submitted.number, "reason": cleaned}
    )
    session.flush()
    review_mail.request_decision(session, study, submitted)
    return study


def recruit_study(session: Session, actor: Account, study_id: int, *, today: dt.date) -> Study:
    """Start (or resume) recruiting: only under an approval of the active version in force today."""
    study = _owned(session, actor, study_id)
    new_status = lifecycle.next_status(study.status, "recruit")
    active = study.active_version
    if active is None or not approval_in_force(active.approval, today):
        raise Conflict(
            "Cannot start recruiting: the approved version has no ethics approval in force today."
            " Submit a new version for review."
        )
    study.status = new_status
    study.updated_at = utcnow()
    request_recruit_match(session, study.id)
    record(session, actor, "study.recruit", "study", study.id, {"version": active.number})
    session.flush()
    return study


def pause_study(session: Session, actor: Account, study_id: int) -> Study:
    study = _owned(session, actor, study_id)
    study.status = lifecycle.next_status(study.status, "pause")
    study.updated_at = utcnow()
    cancelled = invitations.cancel_pending(session, study_id=study.id, reason=CancelReason.STUDY_PAUSED)
    record(session, actor, "study.pause", "study", study.id, {"cancelled": cancelled})
    session.flush()
    return study


def close_study(session: Session, actor: Account, study_id: int) -> Study:
    study = _owned(session, actor, study_id)
    study.status = lifecycle.next_status(study.status, "close")
    study.updated_at = utcnow()
    latest = study.latest_version
    if latest is not None and latest.review_state == ReviewState.IN_REVIEW:
        # A closed study leaves the reviewers' queue.
        latest.review_state = ReviewState.SUPERSEDED
    cancelled = invitations.cancel_pending(session, study_id=study.id, reason=CancelReason.STUDY_CLOSED)
    record(session, actor, "study.close", "study", study.id, {"cancelled": cancelled})
    session.flush()
    return study


def approval_letter(session: Session, version: StudyVersion) -> bytes | None:
    """The approval letter recorded for ``version`` (a deferred column, loaded only here)."""
    return session.scalar(select(EthicsApproval.letter).where(EthicsApproval.study_version_id == version.id))
