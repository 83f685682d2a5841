from __future__ import annotations

import secrets

import pytest
from sqlalchemy import func, select

from panel_service.models import EthicsApproval, OutboxMessage, Participant, Study
from panel_service.runtime import Runtime
from panel_service.services import accounts
from panel_service.services.demo import DEMO_PASSWORD, has_studies, load_demo
from panel_service.services.errors import Forbidden
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
        assert session.scalar(select(func.count()).select_from(Participant)) == 200
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
