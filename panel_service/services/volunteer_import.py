"""Bulk import of volunteers from JSON lines (``panel import profiles``, product contract §8).

Each line is validated on its own; a bad line is reported with its number and reasons and
nothing of it is written. Good lines are written in batches with set-based upserts (an email
already present is updated, not duplicated). Imported volunteers count as verified members;
with ``consent`` true they are contactable at once. The import emails nobody: afterwards each
recruiting study is re-matched in bulk (one job), not one match per line.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from panel_service.domain import json_input
from panel_service.domain.criteria.summary import code_summary
from panel_service.domain.eligibility import CONTACT_CONSENT
from panel_service.domain.history import HISTORY_COLUMNS, Entry, history_values
from panel_service.domain.profile import ProfileData
from panel_service.domain.profile_json import PROFILE_KEYS, ProfileJSONError, profile_from_json
from panel_service.domain.questions import Catalogue
from panel_service.domain.vocab import LANGUAGES
from panel_service.models import ProfileAnswer, Study
from panel_service.models.types import JSONCodeList
from panel_service.queries.eligibility import ACTIVE_CONSENT_SQL
from panel_service.services.accounts import normalise_email
from panel_service.services.consent import VIA_IMPORT, withdraw_contact_consent
from panel_service.services.errors import ValidationFailed
from panel_service.services.matching import request_rematch_all
from panel_service.services.questions import answer_rows, load_catalogue

IMPORT_CONSENT_VERSION = "import"
IDENTITY_KEYS = ("email", "name", "phone", "language", "consent")
MAX_LINE_BYTES = 64 * 1024
SUMMARY_INDEXES = ("ix_profiles_condition_codes", "ix_profiles_medication_codes")


@dataclass(frozen=True)
class ImportLine:
    number: int
    email: str
    name: str
    phone: str | None
    language: str
    consent: bool
    profile: ProfileData


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    rematch_requested: bool = False


def parse_line(number: int, raw: str, today: dt.date, catalogue: Catalogue | None = None) -> ImportLine:
    """Validate one line; raise ValidationFailed whose ``fields`` name every problem."""
    if len(raw) > MAX_LINE_BYTES:
        raise ValidationFailed("line too long", {"$": f"longer than {MAX_LINE_BYTES} bytes"})
    try:
        obj = json_input.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            "not JSON", {"$": f"not valid JSON ({exc.msg} at column {exc.colno})"}
        ) from None
    except json_input.JSONInputError as exc:
        raise ValidationFailed("unusable values", exc.fields) from None
    except RecursionError:
        raise ValidationFailed("nested too deeply", {"$": "nested too deeply"}) from None
    if not isinstance(obj, dict):
        raise ValidationFailed("not an object", {"$": "expected a JSON object"})
    problems: dict[str, str] = {}
    email = ""
    try:
        email = normalise_email(obj["email"]) if isinstance(obj.get("email"), str) else ""
        if not email:
            problems["email"] = "required: an email address"
    except ValidationFailed as exc:
        problems.update(exc.fields)
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems["name"] = f"required: a name of 1 to 200 characters, got {name!r}"
    phone = obj.get("phone")
    if phone is not None and (not isinstance(phone, str) or len(phone) > 40):
        problems["phone"] = f"expected a phone number of at most 40 characters, got {phone!r}"
    language = obj.get("language") or "en"
    if language not in LANGUAGES:
        problems["language"] = f"expected one of {', '.join(LANGUAGES)}, got {language!r}"
    consent = obj.get("consent")
    if not isinstance(consent, bool):
        problems["consent"] = f"required: true or false, got {consent!r}"
    profile = ProfileData()
    try:
        profile = profile_from_json(obj, adult_on=today, catalogue=catalogue, today=today)
    except ProfileJSONError as exc:
        problems.update(dict(exc.errors))
    unknown = sorted(str(key) for key in obj if key not in IDENTITY_KEYS and key not in PROFILE_KEYS)
    for key in unknown:
        problems[key] = f"unknown key {key!r}"
    if problems:
        raise ValidationFailed("invalid line", problems)
    return ImportLine(
        number=number,
        email=email,
        name=" ".join(str(name).split()),
        phone=phone.strip() if isinstance(phone, str) and phone.strip() else None,
        language=str(language),
        consent=bool(consent),
        profile=profile,
    )


def read_lines(
    lines: Iterable[str], today: dt.date, report: ImportReport, catalogue: Catalogue | None = None
) -> Iterator[ImportLine]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        report.lines += 1
        try:
            yield parse_line(number, raw, today, catalogue)
        except ValidationFailed as exc:
            reasons = "; ".join(f"{key}: {message}" for key, message in exc.fields.items())
            report.errors.append((number, reasons))


def import_profiles(
    session_factory: Callable[[], Session],
    lines: Iterable[str],
    *,
    today: dt.date,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import ``lines``; each batch commits on its own so a million lines need no giant
    transaction. Returns what happened; bad lines are in ``report.errors``."""
    report = ImportReport()
    session = session_factory()
    try:
        catalogue = load_catalogue(session)
    finally:
        session.close()
    batch: dict[str, ImportLine] = {}
    for line in read_lines(lines, today, report, catalogue):
        batch[line.email] = line  # a later line for the same email wins
        if len(batch) >= batch_size:
            _write_batch(session_factory, list(batch.values()), report, catalogue)
            if progress:
                progress(len(batch))
            batch = {}
    if batch:
        _write_batch(session_factory, list(batch.values()), report, catalogue)
        if progress:
            progress(len(batch))
    if report.imported:
        session = session_factory()
        try:
            _merge_summary_pending_lists(session)
            recruiting = session.scalar(select(Study.id).where(Study.status == "recruiting").limit(1))
            if recruiting is not None:
                request_rematch_all(session)
                report.rematch_requested = True
            session.commit()
        finally:
            session.close()
    return report


def _merge_summary_pending_lists(session: Session) -> None:
    """PostgreSQL keeps rows inserted under a GIN index in a pending list that every ``&&`` on the
    code summaries scans in full until a vacuum merges it; after a bulk import, merge it now
    rather than leave the counts slow until autovacuum comes by."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for index in SUMMARY_INDEXES:
        session.execute(text("SELECT gin_clean_pending_list(CAST(:index AS regclass))"), {"index": index})


STAGE_COLUMNS = (
    "line",
    "email",
    "name",
    "phone",
    "language",
    "consent",
    "birth_date",
    "sex",
    "region",
    "height_cm",
    "weight_kg",
    "bmi",
    "smoker",
    "pregnant",
    "conditions_answered",
    "medications_answered",
    "home_lat",
    "home_lon",
    "home_place",
    "home_geonameid",
    "condition_codes",
    "medication_codes",
)

_HISTORY = ", ".join(HISTORY_COLUMNS)
_STAGED_HISTORY = ", ".join(f"c.{column}" for column in HISTORY_COLUMNS)
ENTRY_COLUMNS = ("email", "kind", "code", *HISTORY_COLUMNS)

# Each batch is staged in temporary tables and written with a fixed sequence of set-based
# statements that run unchanged on PostgreSQL and SQLite (3.35+): no per-row round trips. The
# code summaries (domain.criteria.summary) are staged in the column type of the engine's
# ``profiles`` (``text[]`` by COPY; JSON text on SQLite) and copied across as they are.
STAGE_DDL = (
    """CREATE TEMP TABLE IF NOT EXISTS import_stage (
        line INTEGER, email VARCHAR(320) PRIMARY KEY, name VARCHAR(200), phone VARCHAR(40),
        language VARCHAR(5), consent BOOLEAN, birth_date DATE, sex VARCHAR(10), region VARCHAR(10),
        height_cm FLOAT, weight_kg FLOAT, bmi FLOAT, smoker BOOLEAN, pregnant BOOLEAN,
        conditions_answered BOOLEAN, medications_answered BOOLEAN, home_lat FLOAT, home_lon FLOAT,
        home_place VARCHAR(200), home_geonameid INTEGER, condition_codes {summary},
        medication_codes {summary}, participant_id BIGINT)""",
    """CREATE TEMP TABLE IF NOT EXISTS import_stage_entries (
        email VARCHAR(320), kind CHAR(1), code VARCHAR(16), status VARCHAR(10), since VARCHAR(10),
        until VARCHAR(10), since_lo DATE, since_hi DATE, until_lo DATE, until_hi DATE)""",
)

WRITE_STATEMENTS = (
    # 1. accounts for new emails (verified members of the panel they came from)
    """INSERT INTO accounts (email, role, email_verified_at, is_active, failed_logins)
       SELECT email, 'participant', CURRENT_TIMESTAMP, true, 0 FROM import_stage WHERE true
       ON CONFLICT (email) DO NOTHING""",
    # 2. identity: created or updated by account
    """INSERT INTO participants (account_id, name, phone, language, preferred_channel)
       SELECT a.id, s.name, s.phone, s.language, 'email'
       FROM import_stage s JOIN accounts a ON a.email = s.email WHERE true
       ON CONFLICT (account_id) DO UPDATE
       SET name = excluded.name, phone = excluded.phone, language = excluded.language""",
    """UPDATE import_stage SET participant_id = p.id
       FROM accounts a JOIN participants p ON p.account_id = a.id
       WHERE a.email = import_stage.email""",
    # 3. the health profile, replaced whole
    """INSERT INTO profiles (participant_id, birth_date, sex, region, height_cm, weight_kg, bmi,
                             smoker, pregnant, conditions_answered, medications_answered,
                             home_lat, home_lon, home_place, home_geonameid, condition_codes,
                             medication_codes, updated_at)
       SELECT participant_id, birth_date, sex, region, height_cm, weight_kg, bmi, smoker, pregnant,
              conditions_answered, medications_answered, home_lat, home_lon, home_place, home_geonameid,
              condition_codes, medication_codes, CURRENT_TIMESTAMP
       FROM import_stage WHERE true
       ON CONFLICT (participant_id) DO UPDATE SET
         birth_date = excluded.birth_date, sex = excluded.sex, region = excluded.region,
         height_cm = excluded.height_cm, weight_kg = excluded.weight_kg, bmi = excluded.bmi,
         smoker = excluded.smoker, pregnant = excluded.pregnant,
         conditions_answered = excluded.conditions_answered,
         medications_answered = excluded.medications_answered,
         home_lat = excluded.home_lat, home_lon = excluded.home_lon, home_place = excluded.home_place,
         home_geonameid = excluded.home_geonameid, condition_codes = excluded.condition_codes,
         medication_codes = excluded.medication_codes, updated_at = CURRENT_TIMESTAMP""",
    "DELETE FROM profile_conditions WHERE participant_id IN (SELECT participant_id FROM import_stage)",
    "DELETE FROM profile_medications WHERE participant_id IN (SELECT participant_id FROM import_stage)",
    f"""INSERT INTO profile_conditions (participant_id, code, {_HISTORY})
       SELECT s.participant_id, c.code, {_STAGED_HISTORY} FROM import_stage_entries c
       JOIN import_stage s ON s.email = c.email WHERE c.kind = 'c'""",  # noqa: S608 - constants
    f"""INSERT INTO profile_medications (participant_id, code, {_HISTORY})
       SELECT s.participant_id, c.code, {_STAGED_HISTORY} FROM import_stage_entries c
       JOIN import_stage s ON s.email = c.email WHERE c.kind = 'm'""",  # noqa: S608 - constants
    # 4. consent given where none is active: the unique index of active consents
    # (uq_consents_active) is the test, so no plan over a temporary table without statistics is
    # involved (a NOT EXISTS here took 25 of 35 s of SQL at 20,000 lines on a fresh database)
    f"""INSERT INTO consents (participant_id, kind, text_version, given_at)
       SELECT s.participant_id, '{CONTACT_CONSENT}', :consent_version, CURRENT_TIMESTAMP
       FROM import_stage s WHERE s.consent
       ON CONFLICT (participant_id, kind) WHERE withdrawn_at IS NULL DO NOTHING""",  # noqa: S608 - constants
)

# 5. consent withdrawn: the volunteers whose line withdraws an active consent. Each is withdrawn by
# the one consent service (pending contact cancelled in the same transaction, audited: P6).
WITHDRAWING = f"""SELECT s.participant_id FROM import_stage s
       WHERE NOT s.consent AND EXISTS (
         SELECT 1 FROM consents c WHERE c.participant_id = s.participant_id AND {ACTIVE_CONSENT_SQL})
       ORDER BY s.participant_id"""  # noqa: S608 - constants


def _stage_row(line: ImportLine) -> tuple[Any, ...]:
    profile = line.profile
    return (
        line.number,
        line.email,
        line.name,
        line.phone,
        line.language,
        line.consent,
        profile.birth_date,
        profile.sex,
        profile.region,
        profile.height_cm,
        profile.weight_kg,
        profile.bmi,
        profile.smoker,
        profile.effective_pregnant,
        profile.conditions is not None,
        profile.medications is not None,
        *(
            (None,) * 4
            if profile.home is None
            else (profile.home.lat, profile.home.lon, profile.home.place, profile.home.geonameid)
        ),
        _summary(profile.condition_entries, "icd10"),
        _summary(profile.medication_entries, "atc"),
    )


def _summary(entries: tuple[Entry, ...] | None, system: str) -> list[str] | None:
    """The code summary of exactly the codes ``_code_rows`` stages for the join table."""
    return None if entries is None else code_summary((entry.code for entry in entries), system)


def _code_rows(batch: list[ImportLine]) -> list[tuple[Any, ...]]:
    """One staged row per listed code (codes are unique per list), with its history."""
    rows: list[tuple[Any, ...]] = []
    for line in batch:
        for kind, entries in (("c", line.profile.condition_entries), ("m", line.profile.medication_entries)):
            rows += [(line.email, kind, entry.code, *history_values(entry)) for entry in entries or ()]
    return rows


def _write_batch(
    session_factory: Callable[[], Session],
    batch: list[ImportLine],
    report: ImportReport,
    catalogue: Catalogue | None = None,
) -> None:
    session = session_factory()
    try:
        connection = session.connection()
        summary_type = "TEXT[]" if connection.dialect.name == "postgresql" else "TEXT"
        for ddl in STAGE_DDL:
            connection.exec_driver_sql(ddl.format(summary=summary_type))
        connection.exec_driver_sql("DELETE FROM import_stage")
        connection.exec_driver_sql("DELETE FROM import_stage_entries")
        # Staged first, then checked by joins against the staged rows (an IN list of the batch's
        # addresses cost more to build and parse than to run).
        _stage(session, batch)
        staff = _staff_emails(session)
        for line in batch:
            if line.email in staff:
                report.errors.append((line.number, "email: belongs to a staff account; not imported"))
        lines = [line for line in batch if line.email not in staff]
        if staff:
            for statement in UNSTAGE_STAFF:
                connection.exec_driver_sql(statement)
        if lines:
            known = int(session.execute(text(KNOWN)).scalar_one())
            for statement in WRITE_STATEMENTS:
                session.execute(text(statement), {"consent_version": IMPORT_CONSENT_VERSION})
            _write_answers(session, lines, catalogue or load_catalogue(session))
            for participant_id in session.scalars(text(WITHDRAWING)).all():
                withdraw_contact_consent(
                    session, participant_id, via=VIA_IMPORT, actor_label="operator:import"
                )
            report.created += len(lines) - known
            report.updated += known
        session.commit()
        report.imported += len(lines)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _write_answers(session: Session, lines: list[ImportLine], catalogue: Catalogue) -> None:
    """The answers (§4a) of each staged profile, replaced whole like the rest of the profile."""
    staged = session.execute(text("SELECT email, participant_id FROM import_stage"))
    ids: dict[str, int] = {str(email): int(pid) for email, pid in staged}
    session.execute(
        delete(ProfileAnswer).where(
            ProfileAnswer.participant_id.in_(select(text("participant_id")).select_from(text("import_stage")))
        )
    )
    rows = [row for line in lines for row in answer_rows(ids[line.email], line.profile.answers, catalogue)]
    if rows:
        session.execute(insert(ProfileAnswer), rows)


STAFF = """SELECT s.email FROM import_stage s JOIN accounts a ON a.email = s.email
       WHERE a.role <> 'participant'"""
UNSTAGE_STAFF = (
    """DELETE FROM import_stage_entries WHERE email IN (
         SELECT a.email FROM accounts a WHERE a.role <> 'participant')""",
    "DELETE FROM import_stage WHERE email IN (SELECT a.email FROM accounts a WHERE a.role <> 'participant')",
)
# Staged volunteers already in the panel (updated, not created).
KNOWN = """SELECT count(*) FROM import_stage s JOIN accounts a ON a.email = s.email
       JOIN participants p ON p.account_id = a.id"""


def _staff_emails(session: Session) -> set[str]:
    """Staged addresses that belong to staff accounts: never imported as volunteers."""
    return {str(email) for email in session.scalars(text(STAFF))}


def _stage(session: Session, lines: list[ImportLine]) -> None:
    connection = session.connection()
    rows = [_stage_row(line) for line in lines]
    codes = _code_rows(lines)
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY import_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if codes:
            with cursor.copy(f"COPY import_stage_entries ({', '.join(ENTRY_COLUMNS)}) FROM STDIN") as copy:
                for code_row in codes:
                    copy.write_row(code_row)
        return
    placeholders = ", ".join("?" for _ in STAGE_COLUMNS)
    as_json = JSONCodeList().process_bind_param
    rows = [
        (*row[:-2], as_json(row[-2], connection.dialect), as_json(row[-1], connection.dialect))
        for row in rows
    ]
    connection.exec_driver_sql(
        f"INSERT INTO import_stage ({', '.join(STAGE_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608 - constants
        rows,
    )
    if codes:
        marks = ", ".join("?" for _ in ENTRY_COLUMNS)
        connection.exec_driver_sql(
            f"INSERT INTO import_stage_entries ({', '.join(ENTRY_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - constants
            codes,
        )
