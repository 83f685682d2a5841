"""Builders for the pipeline tests: volunteers and recruiting studies written straight to the
tables (the real studies service lives on another branch), and a small seeded population whose
expected matches the tests compute on their own, in plain Python over the generated data."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from panel_service import outbox
from panel_service.domain.criteria import criteria_hash, parse_any, to_json
from panel_service.domain.profile import bmi, normalise_atc, normalise_icd10
from panel_service.models import (
    Account,
    Consent,
    EthicsApproval,
    Organisation,
    Participant,
    Profile,
    ProfileCondition,
    ProfileMedication,
    Study,
    StudyVersion,
)

_numbers = itertools.count(1)


@dataclass
class Volunteer:
    """What a test needs to know about a volunteer it created (its own record, not the DB's)."""

    participant_id: int
    email: str
    birth_date: dt.date
    sex: str | None
    conditions: list[str] | None
    medications: list[str] | None
    pregnant: bool | None
    consent: bool
    paused_until: dt.date | None = None
    extra: dict[str, object] = field(default_factory=dict)


def make_volunteer(
    session: Session,
    *,
    birth_date: dt.date,
    sex: str | None = "female",
    conditions: list[str] | None = None,
    medications: list[str] | None = None,
    pregnant: bool | None = False,
    consent: bool = True,
    paused_until: dt.date | None = None,
    height_cm: float | None = 170.0,
    weight_kg: float | None = 70.0,
    region: str | None = "DK-84",
    language: str = "en",
) -> Volunteer:
    number = next(_numbers)
    email = f"vol{number}-{random.randrange(10**9)}@example.org"
    account = Account(email=email, role="participant", email_verified_at=dt.datetime.now(dt.UTC))
    session.add(account)
    session.flush()
    participant = Participant(
        account_id=account.id,
        name=f"Volunteer {number}",
        contact_paused_until=paused_until,
        language=language,
    )
    session.add(participant)
    session.flush()
    session.add(
        Profile(
            participant_id=participant.id,
            birth_date=birth_date,
            sex=sex,
            region=region,
            height_cm=height_cm,
            weight_kg=weight_kg,
            bmi=bmi(height_cm, weight_kg),
            smoker=False,
            pregnant=False if sex == "male" else pregnant,
            conditions_answered=conditions is not None,
            medications_answered=medications is not None,
        )
    )
    session.flush()
    for code in sorted({normalise_icd10(c) for c in conditions or []}):
        session.add(ProfileCondition(participant_id=participant.id, code=code))
    for code in sorted({normalise_atc(c) for c in medications or []}):
        session.add(ProfileMedication(participant_id=participant.id, code=code))
    if consent:
        session.add(Consent(participant_id=participant.id, kind="contact_about_studies", text_version="1"))
    session.flush()
    return Volunteer(
        participant.id, email, birth_date, sex, conditions, medications, pregnant, consent, paused_until
    )


def make_recruiting_study(
    session: Session,
    criteria: str | dict,
    *,
    title: str = "Magnesium for restless legs",
    invitation_text: str = "We are testing magnesium for restless legs.\nAbout 300 mg a day, 8 weeks.",
    approved_on: dt.date | None = None,
    expires_on: dt.date | None = None,
    status: str = "recruiting",
    start_matching: bool = True,
    sites: list[dict[str, object]] | None = None,
) -> Study:
    """Study + approved version + ethics approval, set recruiting, and ``matching.start_study``
    enqueued the way the studies service does it."""
    node = parse_any(criteria)
    today = dt.date.today()
    organisation = Organisation(name=f"Org {next(_numbers)}-{random.randrange(10**9)}")
    session.add(organisation)
    session.flush()
    study = Study(organisation_id=organisation.id, status="draft")
    session.add(study)
    session.flush()
    version = StudyVersion(
        study_id=study.id,
        number=1,
        criteria=to_json(node),
        title=title,
        summary="",
        organisation_name=organisation.name,
        sites=sites or [],
        invitation_text=invitation_text,
        site_region="DK-84",
        target_enrolment=100,
        content_hash=criteria_hash(node),
        review_state="approved",
    )
    session.add(version)
    session.flush()
    session.add(
        EthicsApproval(
            study_version_id=version.id,
            committee="Regional Committee",
            kind="IEC",
            reference=f"H-{study.id}",
            approved_on=approved_on or today - dt.timedelta(days=10),
            expires_on=expires_on or today + dt.timedelta(days=365),
            letter_sha256="0" * 64,
        )
    )
    study.active_version_id = version.id
    study.latest_version_id = version.id
    study.status = status
    session.flush()
    if start_matching and status == "recruiting":
        outbox.enqueue(session, "matching.start_study", {"study_id": study.id})
    return study


NARROW = (
    "age between 18 and 75 and has condition G25.8 and not (has condition N17-N19 or has condition D66 "
    "or pregnant) and not takes A12CC"
)


def narrow_expected(volunteer: Volunteer, today: dt.date) -> bool:
    """The example study's rule, written out by hand (not through the criteria engine)."""
    from panel_service.domain.profile import age_on

    if not volunteer.consent or (volunteer.paused_until is not None and volunteer.paused_until >= today):
        return False
    if volunteer.conditions is None or volunteer.medications is None:
        return False  # unanswered lists: the code leaves are unknown, never true
    age = age_on(volunteer.birth_date, today)
    codes = [c.replace(".", "").upper() for c in volunteer.conditions]
    has_rls = any(c.startswith("G258") for c in codes)
    kidney = any(c[:3] in ("N17", "N18", "N19") for c in codes)
    haemophilia = any(c.startswith("D66") for c in codes)
    pregnant = False if volunteer.sex == "male" else volunteer.pregnant
    if pregnant is None:
        return False  # "not (… or pregnant)" is unknown unless another exclusion holds (then false anyway)
    magnesium = any(m.upper().startswith("A12CC") for m in volunteer.medications)
    return 18 <= age <= 75 and has_rls and not kidney and not haemophilia and not pregnant and not magnesium


def seed_population(session: Session, count: int, seed: int = 7) -> list[Volunteer]:
    """A mixed population around the narrow criteria: matches, near misses, unknowns, no consent."""
    rng = random.Random(seed)
    today = dt.date.today()
    people = []
    for _ in range(count):
        age = rng.choice([17 + 1, 30, 50, 75, 76, 80])
        birth = today.replace(year=today.year - age) - dt.timedelta(days=rng.choice([0, 1, 100]))
        conditions = rng.choice(
            [
                None,
                [],
                ["G25.81"],
                ["G25.8"],
                ["G25.81", "N18.3"],
                ["G25.81", "D66"],
                ["I10"],
                ["G25.81", "I10"],
            ]
        )
        medications = rng.choice([None, [], [], ["A12CC05"], ["N02BE01"]])
        sex = rng.choice(["female", "male", "other", None])
        pregnant = rng.choice([False, False, True, None]) if sex != "male" else False
        people.append(
            make_volunteer(
                session,
                birth_date=birth,
                sex=sex,
                conditions=conditions,
                medications=medications,
                pregnant=pregnant,
                consent=rng.random() < 0.85,
                paused_until=today + dt.timedelta(days=5) if rng.random() < 0.1 else None,
            )
        )
    return people
