"""The eligibility agreement: for drawn volunteer states, the SQL form of the rule
(``queries.eligibility``) lets through exactly the volunteers the pure rule
(``domain.eligibility``) finds no obstacle for, on PostgreSQL and on SQLite. Bulk matching, the
feasibility count, the incremental match and the dispatcher's claim all read it from there.
The volunteer's travel limit (``max_travel_km`` and a home, against drawn study sites) is part of
the rule (§4a)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from panel_service.domain.eligibility import (
    CONTACT_CONSENT,
    TRAVEL_LIMIT_KEY,
    Obstacle,
    VolunteerState,
    contact_paused,
    too_far,
    volunteer_obstacle,
)
from panel_service.domain.geo import Sites, site_points
from panel_service.queries.eligibility import (
    answers,
    consents,
    contactable_clause,
    participants,
    profiles,
    volunteer_state,
)

TODAY = dt.date(2026, 3, 15)
FIRST_ID = 2_000_000
AGREEMENT = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Volunteer:
    """A volunteer as stored: erased or not, paused until a day or not, and their consents:
    some withdrawn ones (a volunteer who gave, withdrew and gave again has several rows) and at
    most one active (the schema allows no more)."""

    erased: bool
    paused_until: dt.date | None
    withdrawn_consents: int
    consent_active: bool
    home: tuple[float, float] | None = None
    max_travel_km: int | None = None

    def state(self) -> VolunteerState:
        return VolunteerState(
            erased=self.erased,
            consent_active=self.consent_active,
            contact_paused_until=self.paused_until,
            home=self.home,
            max_travel_km=None if self.max_travel_km is None else float(self.max_travel_km),
        )


# Homes and sites around Denmark and one far away; limits from 0 km to the longest distance.
PLACES = [(55.68, 12.57), (56.16, 10.2), (55.4, 10.39), (57.05, 9.92), (51.51, -0.13), (-33.87, 151.21)]
SITE_SETS = [
    [],
    [{"name": "Copenhagen", "lat": 55.68, "lon": 12.57}],
    [{"name": "Aarhus", "lat": 56.16, "lon": 10.2}, {"name": "Odense", "lat": 55.4, "lon": 10.39}],
]


volunteers = st.builds(
    Volunteer,
    erased=st.booleans(),
    paused_until=st.one_of(
        st.none(), st.sampled_from([TODAY + dt.timedelta(days=offset) for offset in (-30, -1, 0, 1, 90)])
    ),
    withdrawn_consents=st.integers(min_value=0, max_value=2),
    consent_active=st.booleans(),
    home=st.one_of(st.none(), st.sampled_from(PLACES)),
    max_travel_km=st.one_of(st.none(), st.sampled_from([0, 10, 50, 130, 160, 250, 1000, 20000])),
)


def store(session: Session, people: list[Volunteer]) -> list[int]:
    ids = list(range(FIRST_ID, FIRST_ID + len(people)))
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    session.execute(
        insert(participants),
        [
            {
                "id": pid,
                "erased_at": at if person.erased else None,
                "contact_paused_until": person.paused_until,
            }
            for pid, person in zip(ids, people, strict=True)
        ],
    )
    session.execute(
        insert(profiles),
        [
            {
                "participant_id": pid,
                "home_lat": None if person.home is None else person.home[0],
                "home_lon": None if person.home is None else person.home[1],
            }
            for pid, person in zip(ids, people, strict=True)
        ],
    )
    limits = [
        {
            "participant_id": pid,
            "key": TRAVEL_LIMIT_KEY,
            "value": person.max_travel_km,
            "value_num": float(person.max_travel_km),
            "answered_on": TODAY,
        }
        for pid, person in zip(ids, people, strict=True)
        if person.max_travel_km is not None
    ]
    if limits:
        session.execute(insert(answers), limits)
    rows = [
        {"participant_id": pid, "kind": CONTACT_CONSENT, "text_version": "1", "withdrawn_at": at}
        for pid, person in zip(ids, people, strict=True)
        for _ in range(person.withdrawn_consents)
    ] + [
        {"participant_id": pid, "kind": CONTACT_CONSENT, "text_version": "1", "withdrawn_at": None}
        for pid, person in zip(ids, people, strict=True)
        if person.consent_active
    ]
    if rows:
        session.execute(insert(consents), rows)
    return ids


@AGREEMENT
@given(
    people=st.lists(volunteers, min_size=1, max_size=12),
    on=st.sampled_from([TODAY, TODAY + dt.timedelta(1)]),
    stored_sites=st.sampled_from(SITE_SETS),
)
def test_sql_lets_through_exactly_the_volunteers_without_an_obstacle(
    engine: Engine, people: list[Volunteer], on: dt.date, stored_sites: list[dict[str, object]]
) -> None:
    sites: Sites = site_points(stored_sites)
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            session = Session(bind=connection)
            ids = store(session, people)
            expected = {
                pid
                for pid, person in zip(ids, people, strict=True)
                if volunteer_obstacle(person.state(), on, sites) is None
            }
            dialect = engine.dialect.name
            found = set(
                session.scalars(
                    select(profiles.c.participant_id).where(contactable_clause(dialect, on, sites=sites))
                )
            )
            assert found == expected
            # A chunk's id range narrows the same answer, and nothing outside the range leaks in.
            low, high = ids[0], ids[len(ids) // 2]
            ranged = set(
                session.scalars(
                    select(profiles.c.participant_id).where(
                        profiles.c.participant_id.between(low, high),
                        contactable_clause(dialect, on, (low, high), sites),
                    )
                )
            )
            assert ranged == {pid for pid in expected if low <= pid <= high}
            # The state the incremental match and the rule read is the state stored.
            for pid, person in zip(ids, people, strict=True):
                assert volunteer_state(session, pid) == person.state()
        finally:
            transaction.rollback()


def test_a_volunteer_with_no_row_reads_as_erased(engine: Engine) -> None:
    with engine.connect() as connection, Session(bind=connection) as session:
        assert volunteer_obstacle(volunteer_state(session, 987_654_321), TODAY) is Obstacle.ERASED


def test_a_pause_holds_through_its_last_day() -> None:
    assert contact_paused(TODAY, TODAY)
    assert not contact_paused(TODAY - dt.timedelta(1), TODAY)
    assert not contact_paused(None, TODAY)


def test_the_travel_limit_applies_only_with_a_home_a_limit_and_sites() -> None:
    aarhus = site_points([{"name": "Aarhus", "lat": 56.16, "lon": 10.2}])
    copenhagen = (55.68, 12.57)  # about 157 km from Aarhus
    assert too_far(copenhagen, 100, aarhus)
    assert not too_far(copenhagen, 200, aarhus)
    assert not too_far(None, 100, aarhus)  # no home: the limit cannot apply
    assert not too_far(copenhagen, None, aarhus)
    assert not too_far(copenhagen, 100, ())  # no sites
    state = VolunteerState(
        erased=False, consent_active=True, contact_paused_until=None, home=copenhagen, max_travel_km=100
    )
    assert volunteer_obstacle(state, TODAY, aarhus) is Obstacle.TOO_FAR
    assert volunteer_obstacle(state, TODAY) is None
