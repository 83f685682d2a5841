"""`panel import profiles` against the test database: in-process through Click's runner (the
command's own code, settings from the environment it is given), and once through the installed
console script as an operator runs it."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import func, select

from panel_service.cli import main
from panel_service.domain.profile_json import profile_to_json
from panel_service.models import (
    Account,
    ActionToken,
    AuditEvent,
    Consent,
    OutboxMessage,
    Participant,
    Profile,
    ProfileCondition,
    ProfileMedication,
)
from panel_service.runtime import Runtime
from panel_service.services import accounts
from panel_service.services.matching import load_profile
from panel_service.synthetic import generate_volunteers

PANEL = str(Path(sys.executable).with_name("panel"))


def panel_env(runtime: Runtime) -> dict[str, str]:
    return {
        "DATABASE_URL": runtime.settings.database_url,
        "PANEL_INSTANCE_PATH": str(runtime.settings.instance_path),
        "LOG_LEVEL": "WARNING",
    }


def run_panel(runtime: Runtime, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=panel_env(runtime))


def write_lines(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def counts(runtime: Runtime) -> dict[str, int]:
    with runtime.database.session_scope() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (
                Account,
                Participant,
                Profile,
                ProfileCondition,
                Consent,
                OutboxMessage,
                ActionToken,
            )
        }


GOOD = {
    "email": "Ann@Example.org",
    "name": "Ann Jensen",
    "phone": "+45 12 34 56 78",
    "language": "da",
    "consent": True,
    "birth_date": "1970-02-28",
    "sex": "female",
    "region": "DK-84",
    "height_cm": 168.0,
    "weight_kg": 61.5,
    "smoker": False,
    "pregnant": False,
    "conditions": ["G25.81", "E11"],
    "medications": [],
}


def test_bad_lines_are_reported_by_number_and_write_nothing(
    committed_runtime: Runtime, tmp_path: Path
) -> None:
    file = write_lines(
        tmp_path / "in.jsonl",
        [
            GOOD,
            {"email": "not-an-email", "name": "X", "consent": True},
            "{broken json",
            {**GOOD, "email": "kid@example.org", "birth_date": "2015-05-05"},
            {**GOOD, "email": "code@example.org", "conditions": ["G25.81", "XY.9"]},
            {**GOOD, "email": "tall@example.org", "height_cm": 2000},
            {**GOOD, "email": "who@example.org", "favourite_colour": "blue"},
        ],
    )
    result = run_panel(committed_runtime, "import", "profiles", str(file))
    assert result.exit_code == 1
    assert result.stdout == ""
    for number, needle in [
        (2, "email"),
        (3, "not valid JSON"),
        (4, "at least 18"),
        (5, "conditions[1]"),
        (6, "height_cm"),
        (7, "favourite_colour"),
    ]:
        assert any(
            line.startswith(f"line {number}:") and needle in line for line in result.stderr.splitlines()
        ), (number, result.stderr)
    assert "imported 1" in result.stderr
    after = counts(committed_runtime)
    assert after["accounts"] == after["participants"] == after["profiles"] == 1
    assert after["profile_conditions"] == 2
    with committed_runtime.database.session_scope() as session:
        account = session.scalar(select(Account))
        assert account is not None and account.email == "ann@example.org" and account.email_verified_at
        assert account.role == "participant" and account.password_hash is None


def test_reimport_updates_instead_of_duplicating(committed_runtime: Runtime, tmp_path: Path) -> None:
    run_panel(committed_runtime, "import", "profiles", str(write_lines(tmp_path / "a.jsonl", [GOOD])))
    changed = {
        **GOOD,
        "email": "ANN@example.org",
        "name": "Ann B. Jensen",
        "conditions": None,
        "consent": False,
    }
    result = run_panel(
        committed_runtime, "import", "profiles", str(write_lines(tmp_path / "b.jsonl", [changed]))
    )
    assert result.exit_code == 0, result.stderr
    assert "1 updated" in result.stderr
    after = counts(committed_runtime)
    assert after["accounts"] == after["participants"] == after["profiles"] == 1
    assert after["profile_conditions"] == 0
    with committed_runtime.database.session_scope() as session:
        participant = session.scalar(select(Participant))
        profile = session.scalar(select(Profile))
        assert participant is not None and participant.name == "Ann B. Jensen"
        assert profile is not None and profile.conditions_answered is False
        consents = session.scalars(select(Consent)).all()
        assert len(consents) == 1 and consents[0].withdrawn_at is not None


def test_staff_email_is_refused(committed_runtime: Runtime, tmp_path: Path) -> None:
    with committed_runtime.database.session_scope() as session:
        accounts.create_staff_account(session, email="ann@example.org", role="reviewer")
    result = run_panel(
        committed_runtime, "import", "profiles", str(write_lines(tmp_path / "s.jsonl", [GOOD]))
    )
    assert result.exit_code == 1
    assert "line 1: email: belongs to a staff account" in result.stderr
    assert counts(committed_runtime)["participants"] == 0


def test_import_emails_nobody_and_queues_no_per_line_work(committed_runtime: Runtime, tmp_path: Path) -> None:
    lines = list(generate_volunteers(300, seed=7))
    result = run_panel(committed_runtime, "import", "profiles", str(write_lines(tmp_path / "g.jsonl", lines)))
    assert result.exit_code == 0, result.stderr
    after = counts(committed_runtime)
    assert after["participants"] == 300
    # No study recruits, so no re-match; and never a per-line job or an email token.
    assert after["outbox"] == 0
    assert after["action_tokens"] == 0
    expected_consents = sum(1 for line in lines if line["consent"])
    assert after["consents"] == expected_consents


def test_withdrawn_consent_cancels_queued_contact(committed_runtime: Runtime, tmp_path: Path) -> None:
    from panel_service.models import Invitation
    from tests.factories import make_study_version

    run_panel(committed_runtime, "import", "profiles", str(write_lines(tmp_path / "a.jsonl", [GOOD])))
    with committed_runtime.database.session_scope() as session:
        version = make_study_version(session)
        participant_id = session.scalar(select(Participant.id))
        assert participant_id is not None
        session.add(
            Invitation(study_id=version.study_id, participant_id=participant_id, study_version_id=version.id)
        )
    withdrawn = {**GOOD, "consent": False}
    result = run_panel(
        committed_runtime, "import", "profiles", str(write_lines(tmp_path / "b.jsonl", [withdrawn]))
    )
    assert result.exit_code == 0, result.stderr
    with committed_runtime.database.session_scope() as session:
        invitation = session.scalar(select(Invitation))
        assert invitation is not None
        assert (invitation.status, invitation.reason) == ("cancelled", "consent_withdrawn")
        # The one consent withdrawal, audited as every other is (issue 11: once, one detail shape).
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "consent.withdraw"))
        assert event is not None and event.details == {"via": "import", "cancelled": 1}
        assert event.actor_label == "operator:import"


def test_histories_are_imported_with_their_date_bounds(committed_runtime: Runtime, tmp_path: Path) -> None:
    line = {
        **GOOD,
        "conditions": ["G25.81", {"code": "I21.4", "status": "past", "since": "2025-11", "until": "2026-01"}],
        "medications": [{"code": "A12CC05", "since": "2024-02"}],
    }
    result = run_panel(
        committed_runtime, "import", "profiles", str(write_lines(tmp_path / "h.jsonl", [line]))
    )
    assert result.exit_code == 0, result.stderr
    with committed_runtime.database.session_scope() as session:
        participant_id = session.scalar(select(Participant.id))
        assert participant_id is not None
        rows = session.execute(
            select(
                ProfileCondition.code,
                ProfileCondition.status,
                ProfileCondition.since,
                ProfileCondition.since_lo,
                ProfileCondition.until_hi,
            ).order_by(ProfileCondition.code)
        ).all()
        assert [tuple(row) for row in rows] == [
            ("G2581", None, None, None, None),  # a plain code: present, history unknown
            ("I214", "past", "2025-11", dt.date(2025, 11, 1), dt.date(2026, 1, 31)),
        ]
        medication = session.get(ProfileMedication, (participant_id, "A12CC05"))
        assert medication is not None and (medication.since_lo, medication.since_hi) == (
            dt.date(2024, 2, 1),
            dt.date(2024, 2, 29),
        )
        profile = load_profile(session, participant_id)
    assert profile is not None and profile_to_json(profile)["conditions"] == [
        "G2581",
        {"code": "I214", "status": "past", "since": "2025-11", "until": "2026-01"},
    ]


def test_answers_are_imported_with_smoker_agreement_and_bad_ones_refused(
    committed_runtime: Runtime, tmp_path: Path
) -> None:
    from panel_service.models import ProfileAnswer

    items = {f"gad7_{n}": "several_days" for n in range(1, 8)}
    lines: list[object] = [
        {**GOOD, "smoker": None, "answers": {"smoking_status": "former", "languages": ["da"], **items}},
        {
            **GOOD,
            "email": "bo@example.org",
            "smoker": True,
            "answers": {"falls_12m": {"value": 2, "answered_on": "2026-01-02"}},
        },
        {**GOOD, "email": "cy@example.org", "answers": {"smoking_status": "maybe"}},
    ]
    result = run_panel(committed_runtime, "import", "profiles", str(write_lines(tmp_path / "a.jsonl", lines)))
    assert result.exit_code == 1 and "line 3" in result.stderr
    assert "answers.smoking_status" in result.stderr
    with committed_runtime.database.session_scope() as session:
        by_email = {
            email: pid
            for email, pid in session.execute(select(Account.email, Participant.id).join(Participant))
        }
        ann, bo = by_email["ann@example.org"], by_email["bo@example.org"]
        assert "cy@example.org" not in by_email
        rows = {
            (row.participant_id, row.key): row
            for row in session.scalars(
                select(ProfileAnswer).where(ProfileAnswer.participant_id.in_([ann, bo]))
            )
        }
        assert rows[(ann, "gad7")].value_num == 7
        assert rows[(ann, "languages")].value_text == "|da|"
        assert session.get(Profile, ann).smoker is False  # type: ignore[union-attr]  # former: not a smoker
        assert rows[(bo, "smoking_status")].value_text == "current"  # smoker: true alone means current
        assert rows[(bo, "falls_12m")].answered_on == dt.date(2026, 1, 2)
        profile = load_profile(session, ann)
    assert profile is not None and profile.answers["gad7"].value == 7


def test_homes_are_imported_as_rounded_points_and_bad_ones_named_by_line(
    committed_runtime: Runtime, tmp_path: Path
) -> None:
    file = write_lines(
        tmp_path / "homes.jsonl",
        [
            {**GOOD, "home": {"place": "Aarhus, DK"}},
            {**GOOD, "email": "bo@example.org", "home": {"lat": 55.67612, "lon": 12.56834}},
            {**GOOD, "email": "cy@example.org", "home": {"place": "Atlantis, DK"}},
            {**GOOD, "email": "di@example.org", "home": {"lat": 55.6, "lon": 12.5, "street": "Vej 1"}},
            {**GOOD, "email": "ed@example.org", "region": "GB-XXX"},
        ],
    )
    result = run_panel(committed_runtime, "import", "profiles", str(file))
    assert result.exit_code == 1
    for number, needle in [(3, "home.place"), (4, "home.street"), (5, "region")]:
        assert any(
            line.startswith(f"line {number}:") and needle in line for line in result.stderr.splitlines()
        ), (number, result.stderr)
    with committed_runtime.database.session_scope() as session:
        homes = {
            account.email: load_profile(session, participant.id).home  # type: ignore[union-attr]
            for account, participant in session.execute(
                select(Account, Participant).join(Participant, Participant.account_id == Account.id)
            )
        }
    assert {email: home.to_json() if home else None for email, home in homes.items()} == {
        "ann@example.org": {"lat": 56.16, "lon": 10.21, "place": "Århus, DK", "geonameid": 2624652},
        "bo@example.org": {"lat": 55.68, "lon": 12.57},
    }


def test_the_installed_command_imports(committed_runtime: Runtime, tmp_path: Path) -> None:
    """The console script end to end, in a process of its own: entry point, settings from the
    environment, exit status and messages on stderr."""
    file = write_lines(tmp_path / "one.jsonl", [GOOD, "{broken json"])
    result = subprocess.run(
        [PANEL, "import", "profiles", str(file)],
        capture_output=True,
        text=True,
        env={**os.environ, **panel_env(committed_runtime)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert any(line.startswith("line 2:") and "not valid JSON" in line for line in result.stderr.splitlines())
    assert "imported 1" in result.stderr
    assert counts(committed_runtime)["participants"] == 1


def test_homes_are_imported_as_points_or_gazetteer_places_and_bad_ones_refused(
    committed_runtime: Runtime, tmp_path: Path
) -> None:
    """``home`` (§4a, §8) as coordinates (rounded to 0.01°) or a gazetteer place; a place that is
    not in the gazetteer is refused with its line and path, and nothing of that file is written."""
    lines = [
        {**GOOD, "home": {"lat": 56.1629, "lon": 10.2039}},
        {**GOOD, "email": "bo@example.org", "home": {"place": "Aarhus, DK"}},
    ]
    result = run_panel(committed_runtime, "import", "profiles", str(write_lines(tmp_path / "h.jsonl", lines)))
    assert result.exit_code == 0, result.stderr
    with committed_runtime.database.session_scope() as session:
        homes = sorted(
            (lat, lon, place)
            for lat, lon, place in session.execute(
                select(Profile.home_lat, Profile.home_lon, Profile.home_place)
            )
        )
    assert homes[0][2] is None or homes[1][2] is None
    assert (56.16, 10.2, None) in homes
    assert len(homes) == 2, homes
    assert homes[1] == (56.16, 10.21, "Århus, DK"), homes  # the gazetteer's own name for "Aarhus, DK"
    bad = write_lines(
        tmp_path / "bad.jsonl", [{**GOOD, "email": "cy@example.org", "home": {"place": "Atlantis, DK"}}]
    )
    refused = run_panel(committed_runtime, "import", "profiles", str(bad))
    assert refused.exit_code != 0
    assert "line 1" in refused.stderr and "home.place" in refused.stderr, refused.stderr
