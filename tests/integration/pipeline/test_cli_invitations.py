"""``panel invitations ambiguous`` and ``resolve``: the operator's side of P3's last window."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from panel_service.cli import main
from panel_service.models import Invitation, Study
from panel_service.runtime import Runtime
from panel_service.services import contact, matching
from tests.factories import make_recruiting_study, make_volunteer
from tests.support.pipeline import NARROW

TODAY = dt.date.today()


@pytest.fixture()
def committed(committed_runtime: Runtime) -> Iterator[Runtime]:
    yield committed_runtime
    # studies <-> study_versions reference each other; SQLite's row-by-row DELETE in
    # truncate_all needs the cycle broken first.
    with committed_runtime.database.session_scope() as session:
        session.execute(update(Study).values(active_version_id=None, latest_version_id=None))


def test_list_and_resolve_ambiguous(committed: Runtime) -> None:
    committed_runtime = committed
    with committed_runtime.database.session_scope() as session:
        people = [
            make_volunteer(
                session, birth_date=TODAY.replace(year=TODAY.year - 40), conditions=["G25.81"], medications=[]
            )
            for _ in range(2)
        ]
        study_id = make_recruiting_study(session, NARROW, start_matching=False).id
    run_id = matching.start_study(committed_runtime, study_id)
    assert run_id is not None
    matching.match_chunk(committed_runtime, run_id, 0)
    with committed_runtime.database.session_scope() as session:
        session.execute(
            update(Invitation).values(status="ambiguous", claimed_at=dt.datetime.now(dt.UTC), attempts=1)
        )
    env = {
        "DATABASE_URL": committed_runtime.settings.database_url,
        "PANEL_ENV": "test",
        "LOG_LEVEL": "WARNING",
    }
    runner = CliRunner()

    listed = runner.invoke(main, ["invitations", "ambiguous"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert sorted((int(s), int(p)) for s, p, *_ in lines) == sorted(
        (study_id, v.participant_id) for v in people
    )

    first, second = people
    assert (
        runner.invoke(
            main,
            ["invitations", "resolve", str(study_id), str(first.participant_id), "--as", "sent"],
            env=env,
        ).exit_code
        == 0
    )
    assert (
        runner.invoke(
            main,
            ["invitations", "resolve", str(study_id), str(second.participant_id), "--as", "resend"],
            env=env,
        ).exit_code
        == 0
    )
    again = runner.invoke(
        main, ["invitations", "resolve", str(study_id), str(first.participant_id), "--as", "resend"], env=env
    )
    assert again.exit_code == 1 and "not ambiguous" in again.stderr
    with committed_runtime.database.session_scope() as session:
        states = dict(session.execute(select(Invitation.participant_id, Invitation.status)).all())
    assert states == {first.participant_id: "sent", second.participant_id: "queued"}
    assert contact.ambiguous  # the listing function stays importable for the dashboard


def test_show_lists_a_studys_invitations_by_id_with_addresses_removed(committed: Runtime) -> None:
    runtime = committed
    with runtime.database.session_scope() as session:
        people = [
            make_volunteer(
                session, birth_date=TODAY.replace(year=TODAY.year - 40), conditions=["G25.81"], medications=[]
            )
            for _ in range(3)
        ]
        study_id = make_recruiting_study(session, NARROW, start_matching=False).id
    run_id = matching.start_study(runtime, study_id)
    assert run_id is not None
    matching.match_chunk(runtime, run_id, 0)
    stuck, refused, waiting = (v.participant_id for v in people)
    with runtime.database.session_scope() as session:
        session.execute(
            update(Invitation)
            .where(Invitation.participant_id == stuck)
            .values(status="ambiguous", claimed_at=dt.datetime.now(dt.UTC), attempts=1)
        )
        session.execute(
            update(Invitation)
            .where(Invitation.participant_id == refused)
            .values(
                status="failed",
                reason="smtp_refused",
                attempts=3,
                last_error="550 5.1.1 <someone@example.org>:\tuser unknown",
            )
        )
    env = {"DATABASE_URL": runtime.settings.database_url, "PANEL_ENV": "test", "LOG_LEVEL": "WARNING"}
    runner = CliRunner()

    every = runner.invoke(main, ["invitations", "show", str(study_id)], env=env)
    assert every.exit_code == 0, every.output
    lines = {int(fields[0]): fields for fields in (line.split("\t") for line in every.stdout.splitlines())}
    assert set(lines) == {stuck, refused, waiting}
    assert all(len(fields) == 9 for fields in lines.values())
    assert lines[refused][1:5] == ["failed", "smtp_refused", "3", "550 5.1.1 <[address]>: user unknown"]
    assert lines[stuck][1] == "ambiguous" and lines[stuck][6]  # claimed_at shown
    assert lines[waiting][1:4] == ["queued", "", "0"] and lines[waiting][5]  # created_at shown
    assert "@" not in every.stdout
    assert "3 invitation(s)" in every.stderr

    ambiguous = runner.invoke(main, ["invitations", "show", str(study_id), "--status", "ambiguous"], env=env)
    assert [line.split("\t")[0] for line in ambiguous.stdout.splitlines()] == [str(stuck)]

    unknown = runner.invoke(main, ["invitations", "show", str(study_id), "--status", "lost"], env=env)
    assert unknown.exit_code == 2
    assert "'lost' is not one of" in unknown.stderr
    assert all(
        name in unknown.stderr for name in ("queued", "claimed", "sent", "cancelled", "ambiguous", "failed")
    )

    missing = runner.invoke(main, ["invitations", "show", str(study_id + 999)], env=env)
    assert missing.exit_code == 1 and f"No study {study_id + 999}." in missing.stderr

    # The installed command, as an operator runs it.
    real = subprocess.run(
        [
            str(Path(sys.executable).parent / "panel"),
            "invitations",
            "show",
            str(study_id),
            "--status",
            "failed",
        ],
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("PANEL_", "DATABASE_"))}, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert real.returncode == 0, real.stderr
    assert real.stdout.split("\t")[:2] == [str(refused), "failed"]
