"""Helpers for tests of the volunteer pages: CSRF tokens, ready-made volunteers, sign-in."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service.db import Base
from panel_service.domain.criteria import parse_text, to_json
from panel_service.models import Account, Participant, StudyVersion
from panel_service.services import demo, participants
from tests.factories import EthicsApprovalFactory, bound_to, make_study_version

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
PASSWORD = "correct horse battery staple"


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = CSRF.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, Any], *, token_from: str | None = None) -> Any:
    body = dict(data)
    body.setdefault("csrf_token", csrf_token(client, token_from or path))
    return client.post(path, data=body)


def make_volunteer(
    db: Session,
    settings: Settings,
    email: str = "vera@example.org",
    *,
    name: str = "Vera Volunteer",
    password: str = PASSWORD,
    consent: bool = True,
    verified: bool = True,
) -> tuple[Account, Participant]:
    participants.sign_up(db, settings, email=email, password=password, name=name, consent=consent)
    account = db.scalar(select(Account).where(Account.email == email.lower()))
    assert account is not None
    if verified:
        participants.mark_verified(db, account)
    db.flush()
    participant = participants.participant_for(db, account.id)
    return account, participant


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    response = post_form(client, "/login", {"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def row_counts(db: Session) -> dict[str, int]:
    """Rows in every table, to show that a refused form wrote nothing."""
    db.expire_all()
    return {
        table.name: int(db.scalar(select(func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables
    }


# The example study of the product contract §9, from the one place the demo defines it.
DEMO_CRITERIA = to_json(parse_text(demo.DEMO_CRITERIA))


def recruiting_study(
    db: Session, criteria: dict[str, Any] | None = None, title: str = "Magnesium for restless legs"
) -> StudyVersion:
    """A recruiting study with an active version under an approval in force (the factory's
    default dates), as a study must be to recruit (P5)."""
    version = make_study_version(
        db,
        criteria or DEMO_CRITERIA,
        title=title,
        invitation_text="We are testing whether magnesium eases restless legs.\n\nIt takes 8 weeks.",
    )
    with bound_to(db):
        EthicsApprovalFactory(study_version_id=version.id, reference=f"H-{version.study_id}")
    version.study.status = "recruiting"
    version.study.active_version_id = version.id
    db.flush()
    return version
