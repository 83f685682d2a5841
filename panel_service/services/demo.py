"""Demo data for the embedded default (``panel demo``): the example study of the product contract §9,
approved and recruiting, staff accounts to sign in with, and synthetic volunteers from the
same deterministic generator the benchmarks use; then a second study written in the version 2
language (§4a: ``within``, ``question`` and ``distance_to_site_km`` leaves, with a site) and a few
hand-written volunteers with histories, answers and home places, each showing one way the second
study takes or leaves them. Refused in production."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from panel_service.models import Account, Study
from panel_service.runtime import Runtime
from panel_service.services import accounts, studies
from panel_service.services.errors import Forbidden
from panel_service.services.volunteer_import import import_profiles
from panel_service.synthetic import generate_volunteers
from panel_service.timeutil import panel_today

DEMO_PASSWORD = "panel-demo-only"  # noqa: S105 - printed for the newcomer; production refuses demo data
DEMO_STAFF = (
    ("coordinator@example.org", "coordinator", "Nordic Sleep Research"),
    ("reviewer@example.org", "reviewer", None),
    ("admin@example.org", "admin", None),
)
DEMO_CRITERIA = (
    "age between 18 and 75 and has condition G25.8 and not (has condition N17-N19 or has condition D66 "
    "or pregnant) and not takes A12CC"
)
DEMO_INVITATION = (
    "We are testing whether a daily magnesium supplement (about 300 mg, the usual adult dose) eases "
    "restless legs. Magnesium blocks calcium channels in nerve cells, and a deficiency may make nerves "
    "overactive. High doses can cause side effects such as diarrhoea. Taking part means a tablet every "
    "evening for 12 weeks and three short visits at the sleep clinic."
)
# The second demo study (§4a): insomnia in the last two years, no Z-drug in the last three months,
# willing to give blood samples, living within 100 km of the Aarhus site.
SLEEP_CRITERIA = (
    "age between 30 and 70 and has condition G47.0 within P2Y and not takes N05CF within P3M "
    "and answer willing_blood_samples = true and distance_to_site_km <= 100"
)
SLEEP_SITES = [{"name": "Aarhus University Hospital, sleep clinic", "lat": 56.19, "lon": 10.17}]
SLEEP_INVITATION = (
    "We are studying whether a structured sleep programme (six weekly group sessions) helps adults "
    "with insomnia. Taking part means two visits at the sleep clinic in Aarhus, a blood sample at "
    "each visit, and a sleep diary for eight weeks."
)
AARHUS, SILKEBORG, COPENHAGEN = (56.16, 10.21), (56.17, 9.55), (55.68, 12.57)
DEMO_LETTER = b"Demo approval letter: Magnesium for restless legs, H-26-0042. Not a real approval."


@dataclass(frozen=True)
class DemoResult:
    study_id: int
    volunteers: int
    sleep_study_id: int = 0


def sleep_volunteers(today: dt.date) -> list[dict[str, object]]:
    """Hand-written volunteers for the second study, by the email's first word: ``invited``
    (matches), ``zdrug`` (stopped zolpidem last month), ``far`` (Copenhagen, 150 km away),
    ``long_ago`` (insomnia ended four years ago), ``no_blood`` (not willing to give blood),
    ``limit`` (40 km away but travels at most 20 km: not contactable, §4a)."""
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    insomnia = {"code": "G47.0", "status": "current", "since": str(today.year - 1)}
    answers: dict[str, object] = {
        "willing_blood_samples": True,
        "smoking_status": "former",
        "smoking_quit_year": today.year - 5,
        "languages": ["da", "en"],
        "max_travel_km": 120,
    }

    def person(name: str, home: tuple[float, float], **changes: object) -> dict[str, object]:
        return {
            "email": f"{name}.sleep-demo@example.org",
            "name": f"Sleep demo ({name})",
            "language": "da",
            "consent": True,
            "birth_date": today.replace(year=today.year - 52, day=1).isoformat(),
            "sex": "female",
            "region": "DK-82",
            "height_cm": 168.0,
            "weight_kg": 66.0,
            "pregnant": False,
            "conditions": [insomnia],
            "medications": [],
            "answers": dict(answers),
            "home": {"lat": home[0], "lon": home[1]},
            **changes,
        }

    return [
        person("invited", AARHUS),
        person(
            "zdrug",
            SILKEBORG,
            medications=[
                {"code": "N05CF02", "status": "past", "since": str(today.year - 1), "until": last_month}
            ],
        ),
        person("far", COPENHAGEN, region="DK-84"),
        person(
            "long_ago",
            AARHUS,
            conditions=[
                {
                    "code": "G47.0",
                    "status": "past",
                    "since": str(today.year - 8),
                    "until": str(today.year - 4),
                }
            ],
        ),
        person("no_blood", AARHUS, answers={**answers, "willing_blood_samples": False}),
        person("limit", SILKEBORG, answers={**answers, "max_travel_km": 20}),
    ]


def has_studies(runtime: Runtime) -> bool:
    with runtime.database.session_scope() as session:
        return bool(session.scalar(select(func.count()).select_from(Study)))


def load_demo(runtime: Runtime, *, volunteers: int = 3000, seed: int = 42) -> DemoResult:
    if runtime.settings.env == "production":
        raise Forbidden("Demo data is refused in production (PANEL_ENV=production).")
    today = panel_today(runtime.settings)
    staff = _staff(runtime)
    generated = generate_volunteers(volunteers, seed=seed, today=today)
    lines = (json.dumps(volunteer) for volunteer in [*generated, *sleep_volunteers(today)])
    report = import_profiles(runtime.database.session, lines, today=today)
    with runtime.database.session_scope() as session:
        coordinator = session.get(Account, staff["coordinator"])
        reviewer = session.get(Account, staff["reviewer"])
        assert coordinator is not None and reviewer is not None
        study = studies.create_study(
            session,
            coordinator,
            studies.StudyFields(
                title="Magnesium for restless legs",
                summary=(
                    "Adults with restless legs syndrome; excludes kidney disease, haemophilia, pregnancy "
                    "and people already taking magnesium."
                ),
                criteria=DEMO_CRITERIA,
                invitation_text=DEMO_INVITATION,
                site_region="DK-84",
                sites=[{"name": "Bispebjerg Hospital, sleep clinic", "lat": 55.7127, "lon": 12.5408}],
                target_enrolment=120,
            ),
        )
        studies.submit_study(session, coordinator, study.id)
        studies.approve_study(
            session,
            reviewer,
            study.id,
            studies.ApprovalFields(
                committee="Demo Regional Scientific Ethics Committee",
                kind="IEC",
                reference="H-26-0042",
                approved_on=today - dt.timedelta(days=7),
                expires_on=today + dt.timedelta(days=365),
                letter_sha256=hashlib.sha256(DEMO_LETTER).hexdigest(),
                letter=DEMO_LETTER,
                letter_filename="approval-letter.txt",
            ),
            today=today,
        )
        studies.recruit_study(session, coordinator, study.id, today=today)
        study_id = study.id
        sleep = studies.create_study(
            session,
            coordinator,
            studies.StudyFields(
                title="A sleep programme for insomnia",
                summary=(
                    "Adults of 30 to 70 with insomnia in the last two years, no sleeping pills of the "
                    "zolpidem kind in the last three months, willing to give blood, near Aarhus."
                ),
                criteria=SLEEP_CRITERIA,
                invitation_text=SLEEP_INVITATION,
                site_region="DK-82",
                sites=SLEEP_SITES,
                target_enrolment=60,
            ),
        )
        _approve_and_recruit(session, coordinator, reviewer, sleep.id, "H-26-0077", today)
        sleep_study_id = sleep.id
    return DemoResult(study_id=study_id, volunteers=report.imported, sleep_study_id=sleep_study_id)


def _approve_and_recruit(
    session: Session, coordinator: Account, reviewer: Account, study_id: int, reference: str, today: dt.date
) -> None:
    studies.submit_study(session, coordinator, study_id)
    studies.approve_study(
        session,
        reviewer,
        study_id,
        studies.ApprovalFields(
            committee="Demo Regional Scientific Ethics Committee",
            kind="IEC",
            reference=reference,
            approved_on=today - dt.timedelta(days=7),
            expires_on=today + dt.timedelta(days=365),
            letter_sha256=hashlib.sha256(DEMO_LETTER).hexdigest(),
            letter=DEMO_LETTER,
            letter_filename="approval-letter.txt",
        ),
        today=today,
    )
    studies.recruit_study(session, coordinator, study_id, today=today)


def _staff(runtime: Runtime) -> dict[str, int]:
    ids: dict[str, int] = {}
    with runtime.database.session_scope() as session:
        for email, role, organisation in DEMO_STAFF:
            account = accounts.find_account(session, email)
            if account is None:
                account = accounts.create_staff_account(
                    session, email=email, role=role, organisation=organisation
                )
            account.password_hash = accounts.hash_password(runtime.settings, DEMO_PASSWORD)
            ids[role] = account.id
    return ids
