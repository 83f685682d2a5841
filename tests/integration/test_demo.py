from __future__ import annotations

import secrets

import pytest
from sqlalchemy import func, select

from panel_service.models import Account, EthicsApproval, Invitation, OutboxMessage, Participant, Study
from panel_service.models.questions import ProfileAnswer
from panel_service.runtime import Runtime
from panel_service.services import accounts, matching
from panel_service.services.demo import DEMO_PASSWORD, has_studies, load_demo, sleep_volunteers
from panel_service.services.errors import Forbidden
from panel_service.timeutil import panel_today
from tests.conftest import make_test_settings


def test_demo_loads_the_example_study_recruiting(committed_runtime: Runtime) -> None:
    assert not has_studies(committed_runtime)
    result = load_demo(committed_runtime, volunteers=200)
    assert has_studies(committed_runtime)
    with committed_runtime.database.session_scope() as session:
        study = session.get(Study, result.study_id)
        assert study is not None and study.latest_title == "Magnesium for restless legs"
        assert study.active_version is not None and study.active_version.sites
        assert study.status == "recruiting"
        approval = session.scalar(
            select(EthicsApproval).where(EthicsApproval.study_version_id == study.active_version_id)
        )
        assert approval is not None and approval.kind == "IEC"
        assert session.scalar(select(func.count()).select_from(Participant)) == 200 + 6
        # Recruiting was recorded as work for the matcher, not done inline.
        tasks = session.scalars(select(OutboxMessage.task_name)).all()
        assert "matching.start_study" in tasks
        coordinator = accounts.find_account(session, "coordinator@example.org")
        assert coordinator is not None
        assert accounts.verify_password(committed_runtime.settings, coordinator.password_hash, DEMO_PASSWORD)


def test_demo_is_refused_in_production(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_test_settings(
        "postgresql://nobody@127.0.0.1:1/none",
        tmp_path,
        env="production",
        secret_key=secrets.token_urlsafe(48),
    )
    runtime = Runtime(settings)
    with pytest.raises(Forbidden):
        load_demo(runtime, volunteers=1)


def test_the_second_demo_study_uses_histories_answers_and_places(committed_runtime: Runtime) -> None:
    """The version 2 study (``within``, ``question``, ``distance_to_site_km`` with a site) invites
    exactly the hand-written volunteer meant for it: the others are excluded by a recent Z-drug,
    distance, an old diagnosis, an answer, and their own travel limit (§4a)."""
    result = load_demo(committed_runtime, volunteers=20)
    assert result.volunteers == 20 + len(sleep_volunteers(panel_today(committed_runtime.settings)))
    with committed_runtime.database.session_scope() as session:
        sleep = session.get(Study, result.sleep_study_id)
        assert sleep is not None and sleep.status == "recruiting"
        version = sleep.active_version
        assert version is not None and version.sites
        criteria = str(version.criteria)
        for leaf in ("within", "question", "distance_to_site_km"):
            assert leaf in criteria
        people = {
            str(email).split(".")[0]: pid
            for pid, email in session.execute(
                select(Participant.id, Account.email)
                .join(Account, Account.id == Participant.account_id)
                .where(Account.email.like("%.sleep-demo@%"))
            )
        }
        assert set(people) == {"invited", "zdrug", "far", "long_ago", "no_blood", "limit"}
        assert session.scalar(
            select(func.count())
            .select_from(ProfileAnswer)
            .where(ProfileAnswer.participant_id.in_(people.values()))
        )
    for pid in people.values():
        matching.match_profile(committed_runtime, pid)
    with committed_runtime.database.session_scope() as session:
        invited = set(
            session.scalars(
                select(Invitation.participant_id).where(Invitation.study_id == result.sleep_study_id)
            )
        )
    assert invited == {people["invited"]}
