"""A volunteer's own travel limit is part of being contactable (§4a): whoever answered
``max_travel_km`` and gave a home is never invited to a study whose nearest site is farther —
not by the bulk match, not by the incremental match, not at the dispatcher's re-check — and the
feasibility count leaves them out. Without a home the limit cannot apply."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel_service.domain.criteria import parse_any
from panel_service.domain.geo import site_points
from panel_service.domain.questions import Answer
from panel_service.models import Account, Invitation, Profile
from panel_service.runtime import Runtime
from panel_service.services import contact, matching
from panel_service.services.criteria_feasibility import count_criteria
from panel_service.services.questions import load_catalogue, replace_answers
from tests.factories import make_recruiting_study, make_volunteer
from tests.support.services import SmtpRecorder

TODAY = dt.date.today()
CRITERIA = "region = DK"
SITES = [{"name": "Aarhus University Hospital", "lat": 56.19, "lon": 10.17}]
AARHUS, COPENHAGEN = (56.16, 10.21), (55.68, 12.57)  # Copenhagen is about 155 km from the site


@pytest.fixture()
def tuned(runtime: Runtime) -> Iterator[Runtime]:
    original = runtime.settings
    runtime.settings = original.model_copy(update={"match_chunk_size": 3})
    try:
        yield runtime
    finally:
        runtime.settings = original


def volunteer(db: Session, home: tuple[float, float] | None, max_travel_km: int | None):  # type: ignore[no-untyped-def]
    made = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40), region="DK-84")
    profile = db.get(Profile, made.participant_id)
    assert profile is not None
    if home is not None:
        profile.home_lat, profile.home_lon = home
    if max_travel_km is not None:
        replace_answers(
            db, made.participant_id, {"max_travel_km": Answer(max_travel_km, TODAY)}, load_catalogue(db)
        )
    db.flush()
    return made


def test_the_bulk_match_invites_the_near_and_not_the_far(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    near = volunteer(db, AARHUS, 30)
    far = volunteer(db, COPENHAGEN, 100)
    willing = volunteer(db, COPENHAGEN, 200)
    homeless = volunteer(db, None, 10)  # no home: the limit cannot apply
    unlimited = volunteer(db, COPENHAGEN, None)
    make_recruiting_study(db, CRITERIA, sites=SITES)
    db.commit()
    tuned.relay.drain()  # type: ignore[attr-defined]
    assert sorted(smtp.to_addresses()) == sorted([near.email, willing.email, homeless.email, unlimited.email])
    assert far.email not in smtp.to_addresses()


def test_incremental_match_feasibility_and_the_send_time_recheck_apply_it(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    study = make_recruiting_study(db, CRITERIA, sites=SITES, start_matching=False)
    far = volunteer(db, COPENHAGEN, 100)
    near = volunteer(db, AARHUS, 30)
    mover = volunteer(db, AARHUS, 30)
    db.commit()
    assert matching.match_profile(tuned, far.participant_id) == 0
    assert matching.match_profile(tuned, near.participant_id) == 1
    assert matching.match_profile(tuned, mover.participant_id) == 1
    actor = db.scalars(select(Account)).first()
    assert actor is not None
    counted = count_criteria(
        db, actor, parse_any(CRITERIA), today=TODAY, threshold=0, sites=site_points(SITES)
    )
    everyone = count_criteria(db, actor, parse_any(CRITERIA), today=TODAY, threshold=0)
    assert everyone.matching - counted.matching == 1  # the far volunteer
    profile = db.get(Profile, mover.participant_id)
    assert profile is not None
    profile.home_lat, profile.home_lon = COPENHAGEN  # moved before the invitation went out
    db.commit()
    contact.dispatch_due(tuned)
    db.expire_all()
    rows = {
        row.participant_id: (row.status, row.reason)
        for row in db.scalars(select(Invitation).where(Invitation.study_id == study.id))
    }
    assert far.participant_id not in rows
    assert rows[near.participant_id][0] == "sent"
    assert rows[mover.participant_id] == ("cancelled", "too_far")
    assert smtp.to_addresses() == [near.email]
