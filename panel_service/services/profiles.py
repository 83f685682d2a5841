"""A volunteer's health profile: the basics, conditions and medications, as stored and as the
criteria engine reads them. Every change records a re-match in the outbox; nothing commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.criteria.summary import code_summary
from panel_service.domain.eligibility import TRAVEL_LIMIT_KEY
from panel_service.domain.geo import Home, round_coordinate
from panel_service.domain.history import HISTORY_COLUMNS, Entry, history_values, make_entry
from panel_service.domain.profile import ProfileData, bmi, latest_adult_birth_date
from panel_service.domain.questions import Answer
from panel_service.models import Participant, Profile, ProfileCondition, ProfileMedication
from panel_service.services.errors import ValidationFailed
from panel_service.services.matching import load_profile, request_profile_match
from panel_service.services.questions import (
    answers_of,
    load_catalogue,
    save_volunteer_answers,
    sync_smoking_status,
)
from panel_service.timeutil import panel_today, utcnow


def get_or_create_profile(session: Session, participant: Participant) -> Profile:
    profile = session.get(Profile, participant.id)
    if profile is None:
        profile = Profile(
            participant_id=participant.id, conditions_answered=False, medications_answered=False
        )
        session.add(profile)
        session.flush()
    return profile


def validate_birth_date(settings: Settings, birth_date: dt.date) -> str | None:
    """A message key, or None: not in the future, not before 1900, an adult today."""
    today = panel_today(settings)
    if birth_date > today:
        return "future"
    if birth_date.year < 1900:
        return "too_old"
    if birth_date > latest_adult_birth_date(today):
        return "under_18"
    return None


def save_about(
    session: Session,
    settings: Settings,
    participant: Participant,
    *,
    birth_date: dt.date | None,
    sex: str | None,
    region: str | None,
    height_cm: float | None,
    weight_kg: float | None,
    smoker: bool | None,
    pregnant: bool | None,
    home: Home | Literal["keep"] | None = "keep",
) -> Profile:
    """Store the answered basics; ``None`` stores "unanswered". Enqueues a re-match.
    ``home`` (§4a) is left as stored unless given."""
    if birth_date is not None:
        problem = validate_birth_date(settings, birth_date)
        if problem:
            raise ValidationFailed("The date of birth is not accepted.", {"birth_date": problem})
    profile = get_or_create_profile(session, participant)
    profile.birth_date = birth_date
    profile.sex = sex
    profile.region = region
    profile.height_cm = height_cm
    profile.weight_kg = weight_kg
    profile.bmi = bmi(height_cm, weight_kg)
    profile.smoker = smoker
    session.flush()
    sync_smoking_status(session, participant.id, smoker, panel_today(settings))
    # The one rule of fact (product contract §3): a man is stored as not pregnant.
    profile.pregnant = False if sex == "male" else pregnant
    if home != "keep":
        store_home(profile, home)
    profile.updated_at = utcnow()
    session.flush()
    request_profile_match(session, participant.id)
    return profile


def store_home(profile: Profile, home: Home | None) -> None:
    """A point rounded to 0.01° and the gazetteer place it came from; never an address."""
    profile.home_lat = None if home is None else round_coordinate(home.lat)
    profile.home_lon = None if home is None else round_coordinate(home.lon)
    profile.home_place = None if home is None else home.place
    profile.home_geonameid = None if home is None else home.geonameid


def save_home(session: Session, participant: Participant, home: Home | None) -> Profile:
    """The volunteer's home town (§4a) from the town page; ``None`` removes it. Enqueues a
    re-match (a study's distance and the travel limit depend on it)."""
    profile = get_or_create_profile(session, participant)
    store_home(profile, home)
    profile.updated_at = utcnow()
    session.flush()
    request_profile_match(session, participant.id)
    return profile


def travel_limit(session: Session, participant_id: int) -> int | None:
    """The answer to ``max_travel_km`` in kilometres, or None when unanswered."""
    answer = answers_of(session, participant_id).get(TRAVEL_LIMIT_KEY)
    return None if answer is None or answer.value is None else int(answer.value)  # type: ignore[arg-type]


def save_travel_limit(session: Session, settings: Settings, participant: Participant, km: int) -> None:
    """ "How far would you travel": stored as the catalogue's ``max_travel_km`` answer (so criteria
    and the travel limit of §4a read it), answered today. Enqueues a re-match."""
    catalogue = load_catalogue(session)
    question = catalogue[TRAVEL_LIMIT_KEY]
    low = int(question.minimum) if question.minimum is not None else 0
    high = int(question.maximum) if question.maximum is not None else km
    if not low <= km <= high:
        raise ValidationFailed("The distance is out of range.", {"distance": "out_of_range"})
    get_or_create_profile(session, participant)
    current = answers_of(session, participant.id).get(TRAVEL_LIMIT_KEY)
    if current is None or current.value != km:
        save_volunteer_answers(
            session, participant.id, {TRAVEL_LIMIT_KEY: Answer(km, panel_today(settings))}, (), catalogue
        )
        request_profile_match(session, participant.id)


def save_codes(
    session: Session, participant: Participant, *, system: str, codes: list[str] | None
) -> Profile:
    """Replace the condition (``icd10``) or medication (``atc``) list and its code summary.
    ``None`` = skip: the stored answer stays as it is (unanswered stays unanswered). ``[]`` = "I
    have none". The one writer of a volunteer's lists outside the bulk import."""
    profile = get_or_create_profile(session, participant)
    if codes is None:
        return profile
    unique = sorted(set(codes))
    model = ProfileCondition if system == "icd10" else ProfileMedication
    # Codes that stay keep their history (§4a); the others go, new ones come in plain.
    session.execute(delete(model).where(model.participant_id == participant.id, model.code.not_in(unique)))
    kept = set(stored_codes(session, participant.id, system))
    session.add_all(model(participant_id=participant.id, code=code) for code in unique if code not in kept)
    # The join rows now hold exactly ``unique``; the summary says the same (criteria_sql reads it).
    if system == "icd10":
        profile.conditions_answered = True
        profile.condition_codes = code_summary(unique, "icd10")
    else:
        profile.medications_answered = True
        profile.medication_codes = code_summary(unique, "atc")
    profile.updated_at = utcnow()
    session.flush()
    session.expire(profile, ["conditions", "medications"])
    request_profile_match(session, participant.id)
    return profile


def save_histories(
    session: Session,
    participant: Participant,
    answers: Mapping[tuple[str, str], tuple[str | None, str | None]],
) -> Profile:
    """The "still have it? since when?" answers (issue 13 item 2): ``(system, code)`` →
    ``(status, since)``, for codes already in the profile (others are ignored). An end date
    stored earlier (an import, the API) stays while the entry stays past. ValidationFailed, with
    ``system:code`` as the field, when a since date falls after that end date."""
    profile = get_or_create_profile(session, participant)
    problems: dict[str, str] = {}
    changed = False
    models: tuple[tuple[str, type[ProfileCondition] | type[ProfileMedication]], ...] = (
        ("icd10", ProfileCondition),
        ("atc", ProfileMedication),
    )
    for system, model in models:
        rows: list[ProfileCondition | ProfileMedication] = list(
            session.scalars(select(model).where(model.participant_id == participant.id))
        )
        for row in rows:
            if (system, row.code) not in answers:
                continue
            status, since = answers[(system, row.code)]
            until = row.until if status == "past" else None
            try:
                entry = make_entry(row.code, status, since, until)
            except ValueError as error:
                problems[f"{system}:{row.code}"] = str(error)
                continue
            values = dict(zip(HISTORY_COLUMNS, history_values(entry), strict=True))
            if any(getattr(row, column) != value for column, value in values.items()):
                for column, value in values.items():
                    setattr(row, column, value)
                changed = True
    if problems:
        raise ValidationFailed("invalid history", problems)
    if changed:
        profile.updated_at = utcnow()
        session.flush()
        request_profile_match(session, participant.id)
    return profile


def stored_entries(session: Session, participant_id: int, system: str) -> list[Entry]:
    model = ProfileCondition if system == "icd10" else ProfileMedication
    rows = session.execute(
        select(model.code, model.status, model.since, model.until)
        .where(model.participant_id == participant_id)
        .order_by(model.code)
    )
    return [Entry(code, status, since, until) for code, status, since, until in rows]


def stored_codes(session: Session, participant_id: int, system: str) -> list[str]:
    model = ProfileCondition if system == "icd10" else ProfileMedication
    return list(session.scalars(select(model.code).where(model.participant_id == participant_id)))


def profile_data(session: Session, participant_id: int) -> ProfileData:
    """The stored profile as the criteria engine reads it (``None`` = unanswered): the very loader
    matching and dispatch use, so the dashboard explains exactly what the matcher saw."""
    return load_profile(session, participant_id) or ProfileData()


def stored_profile(session: Session, participant_id: int) -> ProfileData | None:
    """The stored profile as ``profile_data`` reads it, or None when there is none yet."""
    return load_profile(session, participant_id)


def has_profile(session: Session, participant_id: int) -> bool:
    return session.get(Profile, participant_id) is not None
