"""The incremental match (one volunteer against every recruiting study, issue 15): what it writes,
and a guard on its shape, counted, never timed: its statements do not grow with the number of
recruiting studies (it used to send one ``UPDATE … cancelled`` per study the profile did not
match, and one insert and one outbox row per study it did)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.history import history_row, make_entry
from panel_service.domain.questions import Answer
from panel_service.models import (
    Invitation,
    OutboxMessage,
    Profile,
    ProfileCondition,
    ProfileMedication,
    Study,
    StudyVersion,
)
from panel_service.queries.eligibility import volunteer_state
from panel_service.queries.matching import load_volunteer
from panel_service.services import matching
from panel_service.services.questions import load_catalogue, replace_answers
from panel_service.tasks import Task
from tests.factories import make_invitation, make_recruiting_study, make_volunteer
from tests.support.pipeline import NARROW, rls_volunteer
from tests.support.queries import Statements, statements

TODAY = dt.date.today()
ELSEWHERE = "has condition I10"  # the RLS volunteers below do not have it


def version_of(db: Session, study: Study) -> StudyVersion:
    version = db.get(StudyVersion, study.active_version_id)
    assert version is not None
    return version


def statuses(db: Session, participant_id: int) -> dict[int, tuple[str, str | None]]:
    db.expire_all()
    rows = db.execute(
        select(Invitation.study_id, Invitation.status, Invitation.reason).where(
            Invitation.participant_id == participant_id
        )
    )
    return {study_id: (status, reason) for study_id, status, reason in rows}


def sends_for(db: Session, participant_id: int) -> list[int]:
    payloads = db.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.task_name == Task.CONTACT_SEND_INVITATION)
    )
    return sorted(p["study_id"] for p in payloads if p["participant_id"] == participant_id)


def test_matches_are_invited_and_sent_and_the_rest_cancelled(db: Session, settings: Settings) -> None:
    matching_studies = [make_recruiting_study(db, NARROW, start_matching=False) for _ in range(3)]
    other = [make_recruiting_study(db, ELSEWHERE, start_matching=False) for _ in range(3)]
    volunteer = rls_volunteer(db)
    neighbour = rls_volunteer(db)
    # Queued invitations to studies the volunteer no longer matches are cancelled; one already
    # sent stays as it was; another volunteer's queued invitation is not touched.
    make_invitation(db, version_of(db, other[0]), volunteer.participant_id, status="queued")
    make_invitation(db, version_of(db, other[1]), volunteer.participant_id, status="queued")
    make_invitation(db, version_of(db, other[2]), volunteer.participant_id, status="sent")
    make_invitation(db, version_of(db, other[0]), neighbour.participant_id, status="queued")
    db.flush()

    assert matching.match_volunteer(db, settings, volunteer.participant_id) == 3

    expected = {study.id: ("queued", None) for study in matching_studies}
    expected[other[0].id] = ("cancelled", "no_longer_matches")
    expected[other[1].id] = ("cancelled", "no_longer_matches")
    expected[other[2].id] = ("sent", None)
    assert statuses(db, volunteer.participant_id) == expected
    assert statuses(db, neighbour.participant_id) == {other[0].id: ("queued", None)}
    assert sends_for(db, volunteer.participant_id) == sorted(study.id for study in matching_studies)

    # Run again (a duplicate delivery): nothing new, no second send queued.
    assert matching.match_volunteer(db, settings, volunteer.participant_id) == 0
    assert statuses(db, volunteer.participant_id) == expected
    assert sends_for(db, volunteer.participant_id) == sorted(study.id for study in matching_studies)


def test_a_paused_volunteer_is_not_invited_and_a_held_invitation_is_not_cancelled(
    db: Session, settings: Settings
) -> None:
    held = make_recruiting_study(db, NARROW, start_matching=False)
    new = make_recruiting_study(db, NARROW, start_matching=False)
    gone = make_recruiting_study(db, ELSEWHERE, start_matching=False)
    paused = rls_volunteer(db, paused_until=TODAY + dt.timedelta(days=5))
    make_invitation(db, version_of(db, held), paused.participant_id, status="queued")
    make_invitation(db, version_of(db, gone), paused.participant_id, status="queued")
    db.flush()

    assert matching.match_volunteer(db, settings, paused.participant_id) == 0

    # P6: the pause holds what still matches (sent after the pause) and invites nothing new now;
    # an invitation the profile no longer matches is cancelled for that reason (P1), pause or not.
    assert statuses(db, paused.participant_id) == {
        held.id: ("queued", None),
        gone.id: ("cancelled", "no_longer_matches"),
    }
    assert new.id not in statuses(db, paused.participant_id)
    assert sends_for(db, paused.participant_id) == []


def test_without_consent_nothing_is_invited(db: Session, settings: Settings) -> None:
    study = make_recruiting_study(db, NARROW, start_matching=False)
    volunteer = rls_volunteer(db, consent=False)
    assert matching.match_volunteer(db, settings, volunteer.participant_id) == 0
    assert statuses(db, volunteer.participant_id) == {}
    assert study.id not in sends_for(db, volunteer.participant_id)


def counted_match(
    db: Session, settings: Settings, engine: Engine, studies: list[tuple[Study, bool]]
) -> Statements:
    """The statements of one incremental match of a fresh volunteer who matches the studies marked
    True and has a queued invitation to each of the others (all to be cancelled). The compiled
    criteria are warmed first by another volunteer, as in a running worker."""
    matching.match_volunteer(db, settings, rls_volunteer(db).participant_id)
    volunteer = rls_volunteer(db)
    others = [study for study, matches in studies if not matches]
    for study in others:
        make_invitation(db, version_of(db, study), volunteer.participant_id, status="queued")
    db.flush()
    with statements(engine) as seen:
        created = matching.match_volunteer(db, settings, volunteer.participant_id)
    assert created == len(studies) - len(others)
    found = statuses(db, volunteer.participant_id)
    assert sorted(s for s, (status, _) in found.items() if status == "cancelled") == sorted(
        s.id for s in others
    )
    assert sends_for(db, volunteer.participant_id) == sorted(s.id for s, matches in studies if matches)
    return seen


def test_statements_do_not_grow_with_the_recruiting_studies(
    db: Session, settings: Settings, engine: Engine
) -> None:
    made: list[tuple[Study, bool]] = []

    def add(count: int) -> None:
        for _ in range(count):
            made.append((make_recruiting_study(db, NARROW, start_matching=False), True))
            made.append((make_recruiting_study(db, ELSEWHERE, start_matching=False), False))
        db.flush()

    add(1)
    few = counted_match(db, settings, engine, made)
    add(14)
    many = counted_match(db, settings, engine, made)
    assert many.count == few.count, f"2 studies: {few.count}, 30 studies: {many.count} statements:\n{many}"
    # One SELECT (the recruiting versions and the volunteer: profile, entries, answers, contact
    # state, whether an invitation is queued); one INSERT of the invitations, one of their sends,
    # one UPDATE cancelling.
    assert many.count <= 4, f"{many.count} statements:\n{many}"
    assert len(many.writes) == 3, f"writes:\n{many}"


def test_the_one_statement_load_agrees_with_the_profile_and_state_loaders(db: Session) -> None:
    """``queries.matching.load_volunteer`` against ``load_profile`` and ``volunteer_state`` (the
    loaders the rest of Panel uses) for volunteers with histories, every kind of answer, a home and
    a travel limit, and for the edge cases: no profile lists answered, paused, no consent, erased,
    no such volunteer."""
    full = rls_volunteer(db, medications=["A12CC", "N06AB"], paused_until=TODAY + dt.timedelta(days=3))
    for code, status, since, until in (
        ("I10", "current", "2019-05", None),
        ("J45", "past", "2001", "2010-03-02"),
    ):
        db.add(
            ProfileCondition(
                participant_id=full.participant_id,
                code=code,
                **history_row(make_entry(code, status, since, until)),
            )
        )
    db.add(
        ProfileMedication(
            participant_id=full.participant_id,
            code="C10AA",
            **history_row(make_entry("C10AA", "current", "2020", None)),
        )
    )
    profile = db.get(Profile, full.participant_id)
    assert profile is not None
    profile.home_lat, profile.home_lon, profile.home_place = 56.16, 10.2, "Aarhus, DK"
    replace_answers(
        db,
        full.participant_id,
        {
            "max_travel_km": Answer(40, TODAY),
            "smoking_status": Answer("former", TODAY - dt.timedelta(days=400)),
            "smoking_quit_year": Answer(2015, TODAY),
            "pack_years": Answer(12.5, TODAY),
            "languages": Answer(frozenset({"da", "en"}), TODAY),
            "walks_unaided": Answer(True, TODAY),
        },
        load_catalogue(db),
    )
    unanswered = make_volunteer(
        db, birth_date=TODAY.replace(year=1960), conditions=None, medications=None, consent=False
    )
    erased = rls_volunteer(db, erased=True)
    db.flush()
    for participant_id in (full.participant_id, unanswered.participant_id, erased.participant_id, 10**12):
        loaded = load_volunteer(db, participant_id, TODAY)
        assert matching.profile_of(loaded) == matching.load_profile(db, participant_id)
        assert loaded.state == volunteer_state(db, participant_id)
    loaded = load_volunteer(db, full.participant_id, TODAY)
    assert loaded.profile is not None and loaded.profile["home_place"] == "Aarhus, DK"
    assert len(loaded.answers) == 6 and loaded.state.max_travel_km == 40
