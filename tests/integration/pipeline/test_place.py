"""Distance to the study's sites and the region hierarchy through the real pipeline (§4a): the
bulk match, the incremental match and the P1 re-check at dispatch all see the version's sites."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel_service.models import Invitation, Profile
from panel_service.runtime import Runtime
from panel_service.services import contact, matching
from tests.factories import make_recruiting_study, make_volunteer
from tests.support.services import SmtpRecorder, email_parts

TODAY = dt.date.today()
NEAR_AARHUS = "distance_to_site_km <= 50 and region = DK"
SITES = [{"name": "Aarhus University Hospital", "lat": 56.19, "lon": 10.17}]
AARHUS, COPENHAGEN = (56.16, 10.21), (55.68, 12.57)


@pytest.fixture()
def tuned(runtime: Runtime) -> Iterator[Runtime]:
    original = runtime.settings
    runtime.settings = original.model_copy(update={"match_chunk_size": 3})
    try:
        yield runtime
    finally:
        runtime.settings = original


def volunteer(db: Session, home: tuple[float, float] | None, region: str = "DK-82"):  # type: ignore[no-untyped-def]
    made = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40), region=region)
    if home is not None:
        profile = db.get(Profile, made.participant_id)
        assert profile is not None
        profile.home_lat, profile.home_lon = home
    db.flush()
    return made


def test_the_bulk_match_invites_only_those_near_a_site(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    near = volunteer(db, AARHUS)
    far = volunteer(db, COPENHAGEN, region="DK-84")
    homeless = volunteer(db, None)
    abroad = volunteer(db, AARHUS, region="SE-M")
    near_country = volunteer(db, AARHUS, region="DK")  # a country alone still lies in DK
    make_recruiting_study(db, NEAR_AARHUS, sites=SITES)
    db.commit()
    tuned.relay.drain()  # type: ignore[attr-defined]
    assert sorted(smtp.to_addresses()) == sorted([near.email, near_country.email])
    assert far.email not in smtp.to_addresses() and homeless.email not in smtp.to_addresses()
    assert abroad.email not in smtp.to_addresses()


def test_incremental_match_and_dispatch_recheck_use_the_sites(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    study = make_recruiting_study(db, NEAR_AARHUS, sites=SITES, start_matching=False)
    newcomer = volunteer(db, AARHUS)
    mover = volunteer(db, AARHUS)
    db.commit()
    for person in (newcomer, mover):
        assert matching.match_profile(tuned, person.participant_id) == 1
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
    assert rows[newcomer.participant_id][0] == "sent"
    assert rows[mover.participant_id] == ("cancelled", "no_longer_matches")
    assert smtp.to_addresses() == [newcomer.email]


def test_a_study_without_sites_invites_nobody_by_distance(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    near = volunteer(db, AARHUS)
    make_recruiting_study(db, NEAR_AARHUS)
    db.commit()
    tuned.relay.drain()  # type: ignore[attr-defined]
    assert smtp.to_addresses() == []
    assert matching.match_profile(tuned, near.participant_id) == 0


def test_the_email_names_each_site_with_its_town_and_the_region_by_name(
    db: Session, tuned: Runtime, smtp: SmtpRecorder
) -> None:
    """Issue 13 item 4: "Bispebjerg Hospital, Copenhagen" ("København" in Danish), never a bare
    "DK-84"."""
    english = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40), region="DK-84")
    danish = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40), region="DK-84", language="da")
    make_recruiting_study(
        db, "region = DK", sites=[{"name": "Bispebjerg Hospital", "lat": 55.71, "lon": 12.54}]
    )
    db.commit()
    tuned.relay.drain()  # type: ignore[attr-defined]
    by_address = {
        message["To"].split("<")[-1].rstrip(">"): message for message in smtp.wait_for(2, timeout=10)
    }
    for who, town, region in (
        (english, "Bispebjerg Hospital, Copenhagen", "Capital Region of Denmark"),
        (danish, "Bispebjerg Hospital, København", "Region Hovedstaden"),
    ):
        parts = email_parts(by_address[who.email])
        for text in (parts.text, parts.html):
            assert town in text and region in text and "DK-84" not in text
