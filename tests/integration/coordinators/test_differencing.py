"""P4 differencing through the JSON API: no feasibility or funnel response lets a reader derive a
count from 1 to 10 by subtracting or adding what it shows (issue 10, item 1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.orm import Session

from panel_service.domain.disclosure import Cell, Count
from panel_service.domain.vocab import CANCEL_REASONS, INVITATION_RESPONSES, INVITATION_STATUSES
from panel_service.extensions import limiter
from panel_service.models import Profile
from panel_service.services import studies
from tests.integration.coordinators.conftest import Staff, api, make_volunteer, study_fields, study_in
from tests.integration.coordinators.test_reports import invite
from tests.support.disclosure import breakdown_leaks, chain_leaks

THRESHOLD = 11
API_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def volunteer_in(db: Session, region: str, **fields: Any) -> int:
    participant_id = make_volunteer(db, **fields)
    db.execute(update(Profile).where(Profile.participant_id == participant_id).values(region=region))
    db.flush()
    return participant_id


def draft_with(db: Session, coordinator: Staff, criteria: str) -> int:
    return studies.create_study(db, coordinator.account, study_fields(criteria=criteria)).id


def feasibility_chain(body: dict[str, Any]) -> list[Count]:
    return [row["remaining"] for row in body["attrition"]] + [body["matching"]]


@pytest.mark.parametrize(
    "criteria",
    [
        "has condition G25.8 and not (region = DK-81)",
        "has condition G25.8 and (region = DK-81 or not (region = DK-81)) and not (region = DK-81)",
        "(region = DK-81 or not (region = DK-81)) and not (region = DK-81)",
    ],
)
def test_one_volunteer_in_a_region_is_not_revealed_by_attrition(
    client: FlaskClient, db: Session, coordinator: Staff, criteria: str
) -> None:
    """18 contactable volunteers with G25.8, one of them in DK-81: no step may tell the one."""
    volunteer_in(db, "DK-81")
    for _ in range(17):
        volunteer_in(db, "DK-84")
    body = api(client, "GET", f"/studies/{draft_with(db, coordinator, criteria)}/feasibility", coordinator)
    chain = feasibility_chain(body.get_json())
    assert chain[-1] == 17  # the answer itself stays exact
    assert chain_leaks(None, chain, THRESHOLD) == [], chain


def test_funnel_total_beside_its_parts_does_not_tell_one_invitation(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    """invitations 17 beside queued 16 told that one invitation was elsewhere."""
    sid = study_in(db, coordinator, reviewer, "recruiting")
    for _ in range(16):
        invite(db, sid, make_volunteer(db), "queued")
    invite(db, sid, make_volunteer(db), "sent")
    funnel = api(client, "GET", f"/studies/{sid}/funnel", coordinator).get_json()
    shown = [funnel["invitations"], *funnel["by_status"].values()]
    numbers = [value for value in shown if isinstance(value, int)]
    assert not (17 in numbers and 16 in numbers), funnel
    assert funnel["invitations"] == 17
    # every status and reason is listed, zero or not, so that absence tells nothing
    assert set(funnel["by_status"]) == set(INVITATION_STATUSES)
    assert set(funnel["by_reason"]) == set(CANCEL_REASONS)
    assert set(funnel["responses"]) == set(INVITATION_RESPONSES)


@dataclass(frozen=True)
class Person:
    region: str
    conditions: tuple[str, ...]
    consent: bool
    age: int
    status: str | None  # the invitation to the recruiting study, if any
    reason: str
    response: str | None
    days_ago: int


people = st.lists(
    st.builds(
        Person,
        region=st.sampled_from(["DK-81", "DK-84"]),
        conditions=st.sampled_from([(), ("G2581",), ("G2581", "N183"), ("D66",)]),
        consent=st.booleans() | st.just(True),
        age=st.sampled_from([17, 40, 80]),
        status=st.sampled_from([None, *INVITATION_STATUSES, "sent", "queued"]),
        reason=st.sampled_from(["consent_withdrawn", "study_paused", "no_longer_matches", "erased"]),
        response=st.sampled_from([None, *INVITATION_RESPONSES]),
        days_ago=st.integers(0, 3),
    ),
    max_size=36,
)
ATOMS = [
    "has condition G25.8",
    "has condition N17-N19",
    "has condition D66",
    "region = DK-81",
    "age between 18 and 75",
]
criteria_texts = st.lists(
    st.tuples(st.sampled_from(ATOMS), st.sampled_from(["", "not", "either"])), min_size=1, max_size=4
).map(
    lambda parts: " and ".join(
        atom if how == "" else f"not ({atom})" if how == "not" else f"({atom} or not ({atom}))"
        for atom, how in parts
    )
)


def funnel_truth(population: list[Person], days: list[str], today: dt.date) -> Cell:
    """The funnel's counts, from what the test made, as a tree of total and parts."""
    invited = [person for person in population if person.status is not None]
    root = Cell("invitations", len(invited))
    for status in INVITATION_STATUSES:
        mine = [person for person in invited if person.status == status]
        cell = Cell(f"by_status.{status}", len(mine))
        if status == "cancelled":
            cell.parts = [
                Cell(f"by_reason.{reason}", sum(person.reason == reason for person in mine))
                for reason in CANCEL_REASONS
            ]
        if status == "sent":
            for response in INVITATION_RESPONSES:
                answered = [person for person in mine if person.response == response]
                per_day = [
                    Cell(
                        f"{day}.{response}",
                        sum(
                            (today - dt.timedelta(days=person.days_ago)).isoformat() == day
                            for person in answered
                        ),
                    )
                    for day in days
                ]
                cell.parts.append(Cell(f"responses.{response}", len(answered), per_day))
            unanswered = sum(person.response is None for person in mine)
            cell.parts.append(Cell("unanswered", unanswered, shown=False))
        root.parts.append(cell)
    return root


def funnel_shown(body: dict[str, Any]) -> dict[str, Count]:
    shown: dict[str, Count] = {"invitations": body["invitations"]}
    for group in ("by_status", "by_reason", "responses"):
        shown |= {f"{group}.{key}": value for key, value in body[group].items()}
    for row in body["answers_per_day"]:
        shown |= {f"{row['date']}.{response}": row[response] for response in INVITATION_RESPONSES}
    return shown


@API_SETTINGS
@given(population=people, criteria=criteria_texts)
def test_no_feasibility_or_funnel_response_lets_a_small_count_be_derived(
    app: Flask,
    client: FlaskClient,
    db: Session,
    coordinator: Staff,
    reviewer: Staff,
    population: list[Person],
    criteria: str,
) -> None:
    with app.app_context():
        limiter.reset()
    sid = study_in(db, coordinator, reviewer, "recruiting")
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    for person in population:
        participant_id = volunteer_in(
            db, person.region, conditions=person.conditions, consent=person.consent, age=person.age
        )
        if person.status is not None:
            answer = person.response if person.status == "sent" else None
            invite(
                db,
                sid,
                participant_id,
                person.status,
                **({"reason": person.reason} if person.status == "cancelled" else {}),
                response=answer,
                responded_at=now - dt.timedelta(days=person.days_ago) if answer else None,
            )
    draft = draft_with(db, coordinator, criteria)
    feasibility = api(client, "GET", f"/studies/{draft}/feasibility", coordinator).get_json()
    chain = feasibility_chain(feasibility)
    assert chain_leaks(None, chain, THRESHOLD) == [], (criteria, chain)

    funnel = api(client, "GET", f"/studies/{sid}/funnel", coordinator).get_json()
    days = [row["date"] for row in funnel["answers_per_day"]]
    answered = sorted(
        {person.days_ago for person in population if person.status == "sent" and person.response}
    )
    expected_days = (
        [(today - dt.timedelta(days=ago)).isoformat() for ago in range(answered[-1], -1, -1)]
        if answered
        else []
    )
    assert days == expected_days
    truth = funnel_truth(population, days, today)
    assert breakdown_leaks(truth, funnel_shown(funnel), THRESHOLD) == [], funnel
