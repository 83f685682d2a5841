"""The code summary (profiles.condition_codes / medication_codes, domain.criteria.summary) says
exactly what the join rows say, whichever path wrote the profile: the web wizard, the profile
service, the bulk import (new and updated volunteers, histories) and erasure. FHIR and the API
write no codes. PostgreSQL matches plain code leaves on the summary, so a stale one would
invite the wrong people (queries.criteria_sql)."""

from __future__ import annotations

import datetime as dt
import json

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.domain.criteria.summary import code_summary
from panel_service.models import Account, Participant, Profile, ProfileCondition, ProfileMedication
from panel_service.runtime import Runtime
from panel_service.services import personal_data, profiles
from panel_service.services.volunteer_import import import_profiles
from tests.support.volunteers import PASSWORD, make_volunteer, post_form, sign_in

TODAY = dt.date(2026, 11, 25)
Summaries = tuple[list[str] | None, list[str] | None]


def implied_by_rows(db: Session, profile: Profile) -> Summaries:
    """The summaries that the join rows and the answered flags imply."""

    def of(
        model: type[ProfileCondition] | type[ProfileMedication], answered: bool, system: str
    ) -> list[str] | None:
        codes = db.scalars(select(model.code).where(model.participant_id == profile.participant_id))
        return code_summary(codes, system) if answered else None

    return (
        of(ProfileCondition, profile.conditions_answered, "icd10"),
        of(ProfileMedication, profile.medications_answered, "atc"),
    )


def stored(profile: Profile) -> Summaries:
    def ordered(summary: list[str] | None) -> list[str] | None:
        return None if summary is None else sorted(summary)

    return ordered(profile.condition_codes), ordered(profile.medication_codes)


def summary_of(db: Session, participant_id: int) -> Summaries:
    """The stored summaries, after checking them against the rows of every profile in the database."""
    db.expire_all()
    everyone = db.scalars(select(Profile)).all()
    assert everyone
    for profile in everyone:
        assert stored(profile) == implied_by_rows(db, profile), profile.participant_id
    profile = db.get(Profile, participant_id)
    assert profile is not None
    return stored(profile)


def test_the_web_wizard_writes_the_summary_with_the_codes(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    _account, participant = make_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    saved = post_form(client, "/me/profile/conditions", {"codes": ["G25.81", "N18.3"], "action": "save"})
    assert saved.status_code == 302
    assert post_form(client, "/me/profile/medications", {"action": "none"}).status_code == 302
    assert summary_of(db, participant.id) == (
        ["=G2581", "=N183", "G", "G2", "G25", "G258", "N", "N1", "N18"],
        [],
    )
    # One code dropped, one kept: the summary shrinks with the rows.
    assert (
        post_form(client, "/me/profile/conditions", {"codes": ["G25.81"], "action": "save"}).status_code
        == 302
    )
    assert summary_of(db, participant.id)[0] == ["=G2581", "G", "G2", "G25", "G258"]
    # Skipping leaves the stored answer (and its summary) as it is.
    assert post_form(client, "/me/profile/conditions", {"action": "skip"}).status_code == 302
    assert summary_of(db, participant.id)[0] == ["=G2581", "G", "G2", "G25", "G258"]


def test_the_profile_service_keeps_the_summary_through_every_change(db: Session, settings: Settings) -> None:
    _account, participant = make_volunteer(db, settings)
    profiles.get_or_create_profile(db, participant)
    assert summary_of(db, participant.id) == (None, None)  # unanswered: NULL, not empty
    profiles.save_codes(db, participant, system="atc", codes=["A12CC05", "N02BE01"])
    profiles.save_codes(db, participant, system="icd10", codes=[])
    assert summary_of(db, participant.id) == ([], code_summary(["A12CC05", "N02BE01"], "atc"))
    profiles.save_codes(db, participant, system="atc", codes=None)  # skip
    assert summary_of(db, participant.id)[1] == code_summary(["A12CC05", "N02BE01"], "atc")
    # Histories change dates, not codes: the summary stays.
    profiles.save_histories(db, participant, {("atc", "A12CC05"): ("current", "2025")})
    profiles.save_codes(db, participant, system="atc", codes=["A12CC05"])
    assert summary_of(db, participant.id)[1] == code_summary(["A12CC05"], "atc")


def _line(email: str, **profile: object) -> str:
    return json.dumps({"email": email, "name": "Imported Volunteer", "consent": True, **profile})


def test_the_import_stages_the_summary_for_new_and_updated_volunteers(runtime: Runtime, db: Session) -> None:
    lines = [
        _line(
            "ann@example.org",
            conditions=[
                "G25.81",
                {"code": "I21.4", "status": "past", "since": "2025-11", "until": "2026-01"},
            ],
        ),
        _line("bo@example.org", conditions=[], medications=[{"code": "A12CC05", "status": "current"}]),
        _line("cy@example.org", birth_date="1970-01-01"),
    ]
    report = import_profiles(runtime.database.session_factory, lines, today=TODAY)
    assert report.imported == 3 and not report.errors
    ids = {
        email: db.scalar(select(Participant.id).join(Account).where(Account.email == email))
        for email in ("ann@example.org", "bo@example.org", "cy@example.org")
    }
    assert summary_of(db, ids["ann@example.org"]) == (code_summary(["G2581", "I214"], "icd10"), None)
    assert summary_of(db, ids["bo@example.org"]) == ([], code_summary(["A12CC05"], "atc"))
    assert summary_of(db, ids["cy@example.org"]) == (None, None)

    # A later import replaces the profile whole: answered lists change, a missing one is unanswered.
    again = [
        _line("ann@example.org", medications=["N02BE01"]),
        _line("bo@example.org", conditions=["E11.9"], medications=[]),
    ]
    assert import_profiles(runtime.database.session_factory, again, today=TODAY).imported == 2
    assert summary_of(db, ids["ann@example.org"]) == (None, code_summary(["N02BE01"], "atc"))
    assert summary_of(db, ids["bo@example.org"]) == (code_summary(["E119"], "icd10"), [])


def test_erasure_leaves_no_summary(db: Session, settings: Settings) -> None:
    account, participant = make_volunteer(db, settings)
    _other_account, other = make_volunteer(db, settings, "kept@example.org")
    for volunteer in (participant, other):
        profiles.save_codes(db, volunteer, system="icd10", codes=["G2581"])
    personal_data.erase(db, settings, account, PASSWORD)
    db.expire_all()
    assert db.get(Profile, participant.id) is None
    assert summary_of(db, other.id)[0] == code_summary(["G2581"], "icd10")
    assert db.scalars(select(Profile.participant_id)).all() == [other.id]
