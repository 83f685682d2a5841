"""The pipeline tests' population: a small seeded set of volunteers (built with the factories in
tests/factories.py) whose expected matches the tests compute on their own, in plain Python over
the generated data."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy.orm import Session

from tests.factories import Volunteer, make_volunteer

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
