"""Bulk import of volunteers from JSON lines (``panel import profiles``, ARCHITECTURE §8).

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

from sqlalchemy import Insert, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from panel_service import outbox
from panel_service.domain.profile import ProfileData
from panel_service.domain.profile_json import ProfileJSONError, profile_from_json
from panel_service.domain.vocab import LANGUAGES
from panel_service.models import (
    Account,
    Consent,
    Participant,
    Profile,
    ProfileCondition,
    ProfileMedication,
    Study,
)
from panel_service.services.accounts import normalise_email
from panel_service.services.errors import ValidationFailed
from panel_service.services.invitations import cancel_pending
from panel_service.timeutil import utcnow

IMPORT_CONSENT_VERSION = "import"
IDENTITY_KEYS = ("email", "name", "phone", "language", "consent")
MAX_LINE_BYTES = 64 * 1024


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


def parse_line(number: int, raw: str, today: dt.date) -> ImportLine:
    """Validate one line; raise ValidationFailed whose ``fields`` name every problem."""
    if len(raw) > MAX_LINE_BYTES:
        raise ValidationFailed("line too long", {"$": f"longer than {MAX_LINE_BYTES} bytes"})
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            "not JSON", {"$": f"not valid JSON ({exc.msg} at column {exc.colno})"}
        ) from None
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
        profile = profile_from_json(obj, adult_on=today)
    except ProfileJSONError as exc:
        problems.update(dict(exc.errors))
    unknown = sorted(str(key) for key in obj if key not in IDENTITY_KEYS and key not in _PROFILE_KEYS)
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


_PROFILE_KEYS = (
    "birth_date",
    "sex",
    "region",
    "height_cm",
    "weight_kg",
    "smoker",
    "pregnant",
    "conditions",
    "medications",
)


def read_lines(lines: Iterable[str], today: dt.date, report: ImportReport) -> Iterator[ImportLine]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        report.lines += 1
        try:
            yield parse_line(number, raw, today)
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
    batch: dict[str, ImportLine] = {}
    for line in read_lines(lines, today, report):
        batch[line.email] = line  # a later line for the same email wins
        if len(batch) >= batch_size:
            _write_batch(session_factory, list(batch.values()), report)
            if progress:
                progress(len(batch))
            batch = {}
    if batch:
        _write_batch(session_factory, list(batch.values()), report)
        if progress:
            progress(len(batch))
    if report.imported:
        session = session_factory()
        try:
            recruiting = session.scalar(select(Study.id).where(Study.status == "recruiting").limit(1))
            if recruiting is not None:
                outbox.enqueue(session, "matching.rematch_all", {})
                report.rematch_requested = True
            session.commit()
        finally:
            session.close()
    return report


def _insert(session: Session, table: Any) -> Insert:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


def _write_batch(
    session_factory: Callable[[], Session], batch: list[ImportLine], report: ImportReport
) -> None:
    session = session_factory()
    try:
        participant_ids, staff_emails = _upsert_identities(session, batch, report)
        good = [line for line in batch if line.email not in staff_emails]
        _upsert_profiles(session, good, participant_ids)
        _apply_consents(session, good, participant_ids)
        session.commit()
        report.imported += len(good)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _upsert_identities(
    session: Session, batch: list[ImportLine], report: ImportReport
) -> tuple[dict[str, int], set[str]]:
    emails = [line.email for line in batch]
    existing = {
        row.email: (row.id, row.role)
        for row in session.execute(
            select(Account.id, Account.email, Account.role).where(Account.email.in_(emails))
        )
    }
    staff = {email for email, (_, role) in existing.items() if role != "participant"}
    for line in batch:
        if line.email in staff:
            report.errors.append((line.number, "email: belongs to a staff account; not imported"))
    new_lines = [line for line in batch if line.email not in existing]
    now = utcnow()
    if new_lines:
        account_rows = session.execute(
            _insert(session, Account.__table__).returning(Account.id, Account.email),
            [
                {"email": line.email, "role": "participant", "email_verified_at": now, "is_active": True}
                for line in new_lines
            ],
        ).all()
        for account_id, email in account_rows:
            existing[email] = (account_id, "participant")
    account_ids = {line.email: existing[line.email][0] for line in batch if line.email not in staff}
    participants = dict(
        session.execute(
            select(Participant.account_id, Participant.id).where(
                Participant.account_id.in_(account_ids.values())
            )
        ).all()
    )
    lines = [line for line in batch if line.email in account_ids]
    if not lines:
        return {}, staff
    to_create = [line for line in lines if account_ids[line.email] not in participants]
    statement = _insert(session, Participant.__table__)
    statement = statement.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["account_id"],
        set_={column: statement.excluded[column] for column in ("name", "phone", "language")},  # type: ignore[attr-defined]
    ).returning(Participant.account_id, Participant.id)
    participant_rows = session.execute(
        statement,
        [
            {
                "account_id": account_ids[line.email],
                "name": line.name,
                "phone": line.phone,
                "language": line.language,
                "preferred_channel": "email",
            }
            for line in lines
        ],
    ).all()
    participants.update({account_id: pid for account_id, pid in participant_rows})
    report.created += len(to_create)
    report.updated += len(lines) - len(to_create)
    return {email: participants[account_id] for email, account_id in account_ids.items()}, staff


def _upsert_profiles(session: Session, batch: list[ImportLine], participant_ids: dict[str, int]) -> None:
    if not batch:
        return
    rows = [_profile_row(participant_ids[line.email], line.profile) for line in batch]
    statement = _insert(session, Profile.__table__)
    columns = [key for key in rows[0] if key != "participant_id"]
    statement = statement.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["participant_id"],
        set_={column: statement.excluded[column] for column in columns} | {"updated_at": utcnow()},  # type: ignore[attr-defined]
    )
    session.execute(statement, rows)
    ids = list(participant_ids[line.email] for line in batch)
    for model in (ProfileCondition, ProfileMedication):
        session.execute(delete(model).where(model.participant_id.in_(ids)))
    conditions = [
        {"participant_id": participant_ids[line.email], "code": code}
        for line in batch
        for code in line.profile.conditions or ()
    ]
    medications = [
        {"participant_id": participant_ids[line.email], "code": code}
        for line in batch
        for code in line.profile.medications or ()
    ]
    if conditions:
        session.execute(_insert(session, ProfileCondition.__table__), conditions)
    if medications:
        session.execute(_insert(session, ProfileMedication.__table__), medications)


def _profile_row(participant_id: int, profile: ProfileData) -> dict[str, Any]:
    return {
        "participant_id": participant_id,
        "birth_date": profile.birth_date,
        "sex": profile.sex,
        "region": profile.region,
        "height_cm": profile.height_cm,
        "weight_kg": profile.weight_kg,
        "bmi": profile.bmi,
        "smoker": profile.smoker,
        "pregnant": profile.effective_pregnant,
        "conditions_answered": profile.conditions is not None,
        "medications_answered": profile.medications is not None,
    }


def _apply_consents(session: Session, batch: list[ImportLine], participant_ids: dict[str, int]) -> None:
    ids = [participant_ids[line.email] for line in batch]
    active = set(
        session.scalars(
            select(Consent.participant_id).where(
                Consent.participant_id.in_(ids), Consent.withdrawn_at.is_(None)
            )
        )
    )
    grant = [
        participant_ids[line.email]
        for line in batch
        if line.consent and participant_ids[line.email] not in active
    ]
    withdraw = [
        participant_ids[line.email]
        for line in batch
        if not line.consent and participant_ids[line.email] in active
    ]
    if grant:
        session.execute(
            _insert(session, Consent.__table__),
            [
                {
                    "participant_id": pid,
                    "kind": "contact_about_studies",
                    "text_version": IMPORT_CONSENT_VERSION,
                }
                for pid in grant
            ],
        )
    if withdraw:
        session.execute(
            update(Consent)
            .where(Consent.participant_id.in_(withdraw), Consent.withdrawn_at.is_(None))
            .values(withdrawn_at=utcnow())
        )
        for pid in withdraw:
            cancel_pending(session, participant_id=pid, reason="consent_withdrawn")
