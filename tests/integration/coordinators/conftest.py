"""Fixtures for the coordinator and review areas: staff accounts with tokens, studies in any state."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from panel_service.extensions import limiter
from panel_service.models import Account
from panel_service.services import accounts, studies
from tests import factories

_counter = itertools.count(1)
LETTER = b"%PDF-1.4 approval letter"
LETTER_SHA = hashlib.sha256(LETTER).hexdigest()

STUDY_BODY: dict[str, Any] = {
    "title": "Magnesium for restless legs",
    "summary": "Does magnesium help restless legs?",
    "criteria": "age between 18 and 75 and has condition G25.8 and not (has condition N17-N19"
    " or has condition D66 or pregnant) and not takes A12CC",
    "invitation_text": "We are looking for adults with restless legs.",
    "site_region": "DK-84",
    "target_enrolment": 40,
}


@dataclass
class Staff:
    account: Account
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_staff(db: Session, role: str, organisation: str | None = None) -> Staff:
    number = next(_counter)
    if role == "participant":
        account = Account(email=f"volunteer{number}@example.org", role="participant")
        db.add(account)
        db.flush()
    else:
        account = accounts.create_staff_account(
            db,
            email=f"{role}{number}@example.org",
            role=role,
            organisation=organisation if role == "coordinator" else None,
        )
    token = accounts.create_api_token(db, account)
    db.flush()
    return Staff(account, token)


@pytest.fixture()
def coordinator(db: Session) -> Staff:
    return make_staff(db, "coordinator", "Aarhus Sleep Clinic")


@pytest.fixture()
def other_coordinator(db: Session) -> Staff:
    return make_staff(db, "coordinator", "Odense Research")


@pytest.fixture()
def reviewer(db: Session) -> Staff:
    return make_staff(db, "reviewer")


@pytest.fixture()
def admin(db: Session) -> Staff:
    return make_staff(db, "admin")


@pytest.fixture()
def participant(db: Session) -> Staff:
    return make_staff(db, "participant")


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app: Flask) -> Iterator[None]:
    with app.app_context():
        limiter.reset()
    yield


def study_fields(**overrides: Any) -> studies.StudyFields:
    return studies.StudyFields(**{**STUDY_BODY, **overrides})


def approval_fields(today: dt.date | None = None, **overrides: Any) -> studies.ApprovalFields:
    today = today or dt.date.today()
    values: dict[str, Any] = {
        "committee": "Region Midtjylland IEC",
        "kind": "IEC",
        "reference": "1-10-72-1-26",
        "approved_on": today - dt.timedelta(days=1),
        "expires_on": today + dt.timedelta(days=365),
        "letter_sha256": LETTER_SHA,
    }
    values.update(overrides)
    return studies.ApprovalFields(**values)


def study_in(db: Session, coordinator: Staff, reviewer: Staff, status: str) -> int:
    """A study of ``coordinator`` brought to ``status`` through the service functions."""
    today = dt.date.today()
    study = studies.create_study(db, coordinator.account, study_fields())
    if status == "draft":
        return study.id
    studies.submit_study(db, coordinator.account, study.id)
    if status == "in_review":
        return study.id
    if status == "rejected":
        studies.reject_study(db, reviewer.account, study.id, "Consent form missing")
        return study.id
    studies.approve_study(db, reviewer.account, study.id, approval_fields(today), today=today)
    if status == "approved":
        return study.id
    if status == "closed":
        studies.close_study(db, coordinator.account, study.id)
        return study.id
    studies.recruit_study(db, coordinator.account, study.id, today=today)
    if status == "paused":
        studies.pause_study(db, coordinator.account, study.id)
    return study.id


def api(client: FlaskClient, method: str, path: str, who: Staff | None = None, **kwargs: Any) -> Any:
    headers = dict(kwargs.pop("headers", {}))
    if who is not None:
        headers.update(who.headers)
    return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)


def make_volunteer(
    db: Session,
    *,
    age: int = 40,
    conditions: tuple[str, ...] = ("G2581",),
    consent: bool = True,
    paused_until: dt.date | None = None,
    erased: bool = False,
    name: str | None = None,
) -> int:
    """A volunteer with a profile (tests/factories.py); by default one the example study would
    invite. Returns the participant id."""
    number = next(_counter)
    today = dt.date.today()
    return factories.make_volunteer(
        db,
        birth_date=today.replace(year=today.year - age - 1),
        conditions=list(conditions),
        medications=[],
        consent=consent,
        paused_until=paused_until,
        erased=erased,
        name=name or f"Person {number}",
        phone=f"+45 2000 {number:04d}",
        height_cm=None,
        weight_kg=None,
        smoker=None,
    ).participant_id
