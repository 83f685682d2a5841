"""factory_boy factories for the rows tests need as context (not as the thing under test).

Every factory flushes into the session bound with ``bound_to(session)`` (the test's rolled-back
``db`` session or a ``session_scope()`` of a committing test), so that ids are known at once:

    with bound_to(db):
        version = StudyVersionFactory(criteria=..., title="A study")

The helpers below (``make_volunteer``, ``make_recruiting_study``, ``make_study_version``,
``make_invitation``) take the session as their first argument and bind it themselves. A version's
``content_hash`` is computed the production way (``services.studies.VersionContent``), so a test
version and one the studies service writes hash alike.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel_service.domain.criteria import parse_any, to_json
from panel_service.domain.criteria.summary import code_summary
from panel_service.domain.profile import bmi, normalise_atc, normalise_icd10
from panel_service.domain.vocab import (
    ApprovalKind,
    ConsentKind,
    InvitationStatus,
    Language,
    ReviewState,
    Role,
    Sex,
    StudyStatus,
)
from panel_service.models import (
    Account,
    Consent,
    EthicsApproval,
    Invitation,
    Organisation,
    Participant,
    Profile,
    ProfileCondition,
    ProfileMedication,
    Study,
    StudyVersion,
)
from panel_service.services import matching
from panel_service.services.studies import VersionContent
from panel_service.timeutil import utcnow

_bound: ContextVar[Session | None] = ContextVar("factory_session", default=None)
# Unique across the whole run: committing tests share one database and truncate only after.
_numbers = itertools.count(1)


def _session() -> Session:
    session = _bound.get()
    if session is None:
        raise RuntimeError("bind a session first: `with bound_to(session): ...`")
    return session


@contextmanager
def bound_to(session: Session) -> Iterator[Session]:
    """Make the factories write into ``session`` inside the block."""
    token = _bound.set(session)
    try:
        yield session
    finally:
        _bound.reset(token)


class _Factory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = _session
        sqlalchemy_session_persistence = "flush"


class OrganisationFactory(_Factory):
    class Meta:
        model = Organisation

    name = factory.LazyFunction(lambda: f"Organisation {next(_numbers)}")


class AccountFactory(_Factory):
    class Meta:
        model = Account

    email = factory.LazyFunction(lambda: f"person{next(_numbers)}@example.org")
    role = Role.PARTICIPANT
    email_verified_at = factory.LazyFunction(utcnow)


class ParticipantFactory(_Factory):
    """A volunteer's identity row with a participant account of its own."""

    class Meta:
        model = Participant

    class Params:
        email = factory.LazyFunction(lambda: f"volunteer{next(_numbers)}@example.org")

    account_id = factory.LazyAttribute(lambda o: AccountFactory(email=o.email).id)
    name = factory.LazyFunction(lambda: f"Volunteer {next(_numbers)}")
    language = Language.EN


class ProfileFactory(_Factory):
    """A health profile of a woman of 41 in DK-84 with both code lists answered (empty)."""

    class Meta:
        model = Profile

    participant_id = factory.LazyAttribute(lambda _: ParticipantFactory().id)
    birth_date = factory.LazyFunction(lambda: dt.date.today() - dt.timedelta(days=15_000))
    sex = Sex.FEMALE
    region = "DK-84"
    height_cm = 170.0
    weight_kg = 70.0
    bmi = factory.LazyAttribute(lambda o: bmi(o.height_cm, o.weight_kg))
    smoker = False
    pregnant = False
    conditions_answered = True
    medications_answered = True
    # The code summary of the lists (domain.criteria.summary): empty when answered, as no codes.
    condition_codes = factory.LazyAttribute(lambda o: [] if o.conditions_answered else None)
    medication_codes = factory.LazyAttribute(lambda o: [] if o.medications_answered else None)


class ConditionFactory(_Factory):
    class Meta:
        model = ProfileCondition

    code = "G2581"


class MedicationFactory(_Factory):
    class Meta:
        model = ProfileMedication

    code = "A12CC05"


class ConsentFactory(_Factory):
    class Meta:
        model = Consent

    kind = ConsentKind.CONTACT_ABOUT_STUDIES
    text_version = "1"


class StudyFactory(_Factory):
    class Meta:
        model = Study

    organisation_id = factory.LazyAttribute(lambda _: OrganisationFactory().id)
    status = StudyStatus.DRAFT


class StudyVersionFactory(_Factory):
    """Version 1 of a new study, made the study's newest version (``latest_version_id``)."""

    class Meta:
        model = StudyVersion

    study = factory.SubFactory(StudyFactory)
    number = 1
    criteria = factory.LazyFunction(lambda: {"field": "age", "op": "ge", "value": 18})
    title = "A study"
    summary = ""
    organisation_name = factory.LazyAttribute(
        lambda o: _session().get_one(Organisation, o.study.organisation_id).name
    )
    sites = factory.LazyFunction(list)
    invitation_text = "Please consider taking part."
    site_region = "DK-84"
    target_enrolment = 50
    content_hash = factory.LazyAttribute(lambda o: VersionContent.of(o).content_hash)

    @factory.post_generation
    def newest(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.study.latest_version_id = self.id
            _session().flush()


class EthicsApprovalFactory(_Factory):
    class Meta:
        model = EthicsApproval

    committee = "Regional Committee"
    kind = ApprovalKind.IEC
    reference = factory.LazyFunction(lambda: f"H-{next(_numbers)}")
    approved_on = factory.LazyFunction(lambda: dt.date.today() - dt.timedelta(days=10))
    expires_on = factory.LazyFunction(lambda: dt.date.today() + dt.timedelta(days=365))
    letter_sha256 = "0" * 64


class InvitationFactory(_Factory):
    class Meta:
        model = Invitation

    status = InvitationStatus.SENT
    sent_at = factory.LazyAttribute(lambda o: utcnow() if o.status == InvitationStatus.SENT else None)


# --- The shapes the tests ask for, built from the factories above ---------------------------


def make_study_version(db: Session, criteria: dict | None = None, **fields: Any) -> StudyVersion:
    """A draft study with one version (``fields`` override the version's columns)."""
    with bound_to(db):
        if criteria is not None:
            fields["criteria"] = criteria
        return StudyVersionFactory(**fields)


def make_invitation(
    db: Session, version: StudyVersion, participant_id: int, status: str = InvitationStatus.SENT
) -> Invitation:
    with bound_to(db):
        return InvitationFactory(
            study_id=version.study_id,
            participant_id=participant_id,
            study_version_id=version.id,
            status=status,
        )


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
    smoker: bool | None = False,
    language: str = "en",
    name: str | None = None,
    phone: str | None = None,
    erased: bool = False,
) -> Volunteer:
    """A volunteer with a verified account, a profile, its codes and (by default) consent.
    ``conditions``/``medications`` None: the list was not answered."""
    condition_codes = sorted({normalise_icd10(c) for c in conditions or []})
    medication_codes = sorted({normalise_atc(c) for c in medications or []})
    with bound_to(session):
        email = f"vol{next(_numbers)}@example.org"
        participant = ParticipantFactory(
            email=email,
            contact_paused_until=paused_until,
            language=language,
            phone=phone,
            erased_at=utcnow() if erased else None,
            **({"name": name} if name is not None else {}),
        )
        ProfileFactory(
            participant_id=participant.id,
            birth_date=birth_date,
            sex=sex,
            region=region,
            height_cm=height_cm,
            weight_kg=weight_kg,
            smoker=smoker,
            pregnant=False if sex == "male" else pregnant,
            conditions_answered=conditions is not None,
            medications_answered=medications is not None,
            condition_codes=None if conditions is None else code_summary(condition_codes, "icd10"),
            medication_codes=None if medications is None else code_summary(medication_codes, "atc"),
        )
        for code in condition_codes:
            ConditionFactory(participant_id=participant.id, code=code)
        for code in medication_codes:
            MedicationFactory(participant_id=participant.id, code=code)
        if consent:
            ConsentFactory(participant_id=participant.id)
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
    status: str = StudyStatus.RECRUITING,
    start_matching: bool = True,
    sites: list[dict[str, object]] | None = None,
) -> Study:
    """Study + approved version + ethics approval, set recruiting, and ``matching.start_study``
    enqueued the way the studies service does it."""
    with bound_to(session):
        version = StudyVersionFactory(
            criteria=to_json(parse_any(criteria)),
            sites=sites or [],
            title=title,
            invitation_text=invitation_text,
            target_enrolment=100,
            review_state=ReviewState.APPROVED,
        )
        study: Study = version.study
        EthicsApprovalFactory(
            study_version_id=version.id,
            reference=f"H-{study.id}",
            **({"approved_on": approved_on} if approved_on else {}),
            **({"expires_on": expires_on} if expires_on else {}),
        )
        study.active_version_id = version.id
        study.status = status
        session.flush()
    if start_matching and status == StudyStatus.RECRUITING:
        matching.request_recruit_match(session, study.id)
    return study


def add_condition(session: Session, participant_id: int, code: str) -> None:
    """A condition written behind the services' back (a racing edit the matcher has not seen),
    with the code summary that every writer keeps beside the join rows (domain.criteria.summary)."""
    session.add(ProfileCondition(participant_id=participant_id, code=code))
    session.flush()
    profile = session.get(Profile, participant_id)
    assert profile is not None
    stored = session.scalars(
        select(ProfileCondition.code).where(ProfileCondition.participant_id == participant_id)
    )
    profile.condition_codes = code_summary(stored, "icd10")
    profile.conditions_answered = True
    session.flush()
