"""The pipeline tests' population: a small seeded set of volunteers (built with the factories in
tests/factories.py) whose expected matches the tests compute on their own, in plain Python over
the generated data."""

from __future__ import annotations

import datetime as dt
import random
import re
from email.message import Message
from typing import Any

from sqlalchemy.orm import Session

from panel_service.services import tokens
from tests.factories import Volunteer, make_volunteer
from tests.support.services import email_parts

NARROW = (
    "age between 18 and 75 and has condition G25.8 and not (has condition N17-N19 or has condition D66 "
    "or pregnant) and not takes A12CC"
)


def rls_volunteer(session: Session, **overrides: object) -> Volunteer:
    """A volunteer the NARROW study matches (restless legs, 40 years old, no medicines), with
    ``overrides`` to make one it does not."""
    today = dt.date.today()
    values: dict[str, object] = {
        "birth_date": today.replace(year=today.year - 40),
        "conditions": ["G25.81"],
        "medications": [],
    }
    values.update(overrides)
    return make_volunteer(session, **values)  # type: ignore[arg-type]


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


def invitation_links(
    session: Session, message: Message, study_id: int, participant_id: int
) -> tuple[Any, Any]:
    """The stored tokens of an invitation email's two links (answer, unsubscribe), checked to name
    the study and the volunteer it was sent for (the unsubscribe link names no study)."""
    answer = re.search(r"/invitations/answer/([\w-]+)\?answer=interested", email_parts(message).text)
    unsubscribe = re.search(r"/unsubscribe/([\w-]+)>", message["List-Unsubscribe"])
    assert answer is not None and unsubscribe is not None
    answer_row = tokens.peek(session, answer.group(1), "answer")
    assert (answer_row.study_id, answer_row.participant_id) == (study_id, participant_id)
    unsubscribe_row = tokens.peek(session, unsubscribe.group(1), "unsubscribe")
    assert (unsubscribe_row.study_id, unsubscribe_row.participant_id) == (None, participant_id)
    return answer_row, unsubscribe_row
