"""Demo data for the embedded default (``panel demo``): the example study of the product contract §9,
approved and recruiting, staff accounts to sign in with, and synthetic volunteers from the
same deterministic generator the benchmarks use. Refused in production."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import func, select

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
DEMO_LETTER = b"Demo approval letter: Magnesium for restless legs, H-26-0042. Not a real approval."


@dataclass(frozen=True)
class DemoResult:
    study_id: int
    volunteers: int


def has_studies(runtime: Runtime) -> bool:
    with runtime.database.session_scope() as session:
        return bool(session.scalar(select(func.count()).select_from(Study)))


def load_demo(runtime: Runtime, *, volunteers: int = 3000, seed: int = 42) -> DemoResult:
    if runtime.settings.env == "production":
        raise Forbidden("Demo data is refused in production (PANEL_ENV=production).")
    today = panel_today(runtime.settings)
    staff = _staff(runtime)
    lines = (json.dumps(volunteer) for volunteer in generate_volunteers(volunteers, seed=seed, today=today))
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
    return DemoResult(study_id=study_id, volunteers=report.imported)


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
