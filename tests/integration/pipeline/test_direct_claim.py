"""The dispatcher's claim and record as PostgreSQL runs them in production (``claim_direct``,
``Database.execute_alone``: sent with psycopg on a connection of the engine's pool, outside
SQLAlchemy's execution). The other in-process pipeline tests run inside the ``db`` fixture's
rolled-back transaction, where the claim goes through the session (``claim_in``); these commit
for real (``committed_runtime``), so the direct path is the one taken, and they hold it to
the same outcomes: the email with its stored links, and every invitation that may not go out
cancelled or held with the session path's reasons, with no link issued for it. The live-worker
fault tests run this path too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from panel_service.domain.questions import Answer
from panel_service.models import ActionToken, EthicsApproval, Invitation, Participant, Profile
from panel_service.runtime import Runtime
from panel_service.services import contact, matching
from panel_service.services.questions import load_catalogue, replace_answers
from tests.factories import add_condition, make_recruiting_study, make_volunteer
from tests.support.pipeline import NARROW, invitation_links, rls_volunteer
from tests.support.services import SmtpRecorder

pytestmark = pytest.mark.postgres

TODAY = dt.date.today()
SITES = [{"name": "Aarhus University Hospital", "lat": 56.19, "lon": 10.17}]
AARHUS, COPENHAGEN = (56.16, 10.21), (55.68, 12.57)  # Copenhagen is about 155 km from the site


@pytest.fixture()
def direct(committed_runtime: Runtime) -> Iterator[Runtime]:
    if committed_runtime.database.is_sqlite:
        pytest.skip("the direct claim is PostgreSQL's")
    assert committed_runtime.database.direct
    yield committed_runtime


@pytest.fixture()
def db(direct: Runtime) -> Iterator[Session]:
    """A plain session on the engine: what it commits, the dispatcher sees."""
    session = direct.database.session()
    try:
        yield session
    finally:
        session.close()


def match_without_sending(runtime: Runtime, study_id: int) -> None:
    run_id = matching.start_study(runtime, study_id)
    assert run_id is not None
    matching.match_chunk(runtime, run_id, 0)


def states(db: Session, study_id: int) -> dict[int, tuple[str, str | None]]:
    db.expire_all()
    return {
        row.participant_id: (row.status, row.reason)
        for row in db.scalars(select(Invitation).where(Invitation.study_id == study_id))
    }


def linked(db: Session) -> set[int]:
    """The volunteers some link token was issued for."""
    return set(db.scalars(select(ActionToken.participant_id)))


def test_a_direct_send_claims_sends_and_records_with_working_links(
    db: Session, direct: Runtime, smtp: SmtpRecorder
) -> None:
    volunteer = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    db.commit()
    match_without_sending(direct, study.id)

    assert contact.send_invitation(direct, study.id, volunteer.participant_id) == "sent"
    assert contact.send_invitation(direct, study.id, volunteer.participant_id) is None  # once

    [message] = smtp.wait_for(1, timeout=5)
    invitation_links(db, message, study.id, volunteer.participant_id)
    db.expire_all()
    row = db.get(Invitation, (study.id, volunteer.participant_id))
    assert row is not None and (row.status, row.attempts) == ("sent", 1)
    assert row.sent_at is not None and row.message_id == message["Message-ID"]


def test_what_may_not_go_out_is_cancelled_or_held_with_the_session_paths_reasons(
    db: Session, direct: Runtime, smtp: SmtpRecorder
) -> None:
    sent = rls_volunteer(db)
    no_longer = rls_volunteer(db)
    paused = rls_volunteer(db)
    capped = rls_volunteer(db)
    study = make_recruiting_study(db, NARROW, start_matching=False)
    earlier = [
        make_recruiting_study(db, NARROW, title=f"Earlier {n}", start_matching=False) for n in range(2)
    ]
    db.commit()
    for each in earlier:  # the capped volunteer has had two invitations this month
        match_without_sending(direct, each.id)
        db.execute(
            update(Invitation)
            .where(Invitation.study_id == each.id, Invitation.participant_id != capped.participant_id)
            .values(status="cancelled", reason="other")
        )
        db.commit()
        contact.dispatch_due(direct)
    assert len(smtp.to_addresses()) == 2
    match_without_sending(direct, study.id)
    add_condition(db, no_longer.participant_id, "N183")  # kidney disease: the criteria exclude it
    db.execute(
        update(Participant)
        .where(Participant.id == paused.participant_id)
        .values(contact_paused_until=TODAY + dt.timedelta(days=5))
    )
    db.commit()
    before = linked(db)

    contact.dispatch_due(direct)

    rows = states(db, study.id)
    assert rows[sent.participant_id] == ("sent", None)
    assert rows[no_longer.participant_id] == ("cancelled", "no_longer_matches")
    assert rows[paused.participant_id] == ("queued", None)
    assert rows[capped.participant_id] == ("queued", None)
    held = {
        row.participant_id: row.next_attempt_at
        for row in db.scalars(select(Invitation).where(Invitation.study_id == study.id))
    }
    paused_until, capped_until = held[paused.participant_id], held[capped.participant_id]
    assert paused_until is not None and paused_until.date() > TODAY
    assert capped_until is not None and capped_until.date() >= TODAY + dt.timedelta(days=29)
    assert smtp.to_addresses()[2:] == [sent.email]
    # Links only for the one that went out: nothing refused was ever claimed.
    assert linked(db) - before == {sent.participant_id}


def test_an_expired_approval_and_a_volunteer_too_far_cancel_at_the_direct_recheck(
    db: Session, direct: Runtime, smtp: SmtpRecorder
) -> None:
    near = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40), region="DK-84")
    mover = make_volunteer(db, birth_date=TODAY.replace(year=TODAY.year - 40), region="DK-84")
    for person in (near, mover):
        profile = db.get(Profile, person.participant_id)
        assert profile is not None
        profile.home_lat, profile.home_lon = AARHUS
        replace_answers(db, person.participant_id, {"max_travel_km": Answer(30, TODAY)}, load_catalogue(db))
    with_sites = make_recruiting_study(db, "region = DK", sites=SITES, start_matching=False)
    expiring = make_recruiting_study(db, "region = DK", title="Expiring", start_matching=False)
    db.commit()
    for each in (with_sites, expiring):
        match_without_sending(direct, each.id)
    profile = db.get(Profile, mover.participant_id)
    assert profile is not None
    profile.home_lat, profile.home_lon = COPENHAGEN  # moved before the invitation went out
    db.execute(
        update(EthicsApproval)
        .where(EthicsApproval.study_version_id == expiring.active_version_id)
        .values(expires_on=TODAY - dt.timedelta(days=1))
    )
    db.commit()

    contact.dispatch_due(direct)

    assert states(db, with_sites.id) == {
        near.participant_id: ("sent", None),
        mover.participant_id: ("cancelled", "too_far"),
    }
    assert set(states(db, expiring.id).values()) == {("cancelled", "approval_expired")}
    assert smtp.to_addresses() == [near.email]
    assert linked(db) == {near.participant_id}
