"""Feasibility, funnel and respondents: counts only, suppressed below 11 (P4), audited."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel_service.models import AuditEvent, Invitation, Study
from tests.integration.coordinators.conftest import Staff, api, make_volunteer, study_in

SUPPRESSED = "fewer than 11"


def numbers_in(value: Any) -> list[int]:
    """Every whole number in a JSON value, keys excepted."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers_in(item)]
    if isinstance(value, list):
        return [n for item in value for n in numbers_in(item)]
    return []


def invite(db: Session, study_id: int, participant_id: int, status: str = "sent", **fields: Any) -> None:
    study = db.get(Study, study_id)
    assert study is not None and study.active_version_id is not None
    if status in ("cancelled", "failed"):
        fields.setdefault("reason", "consent_withdrawn" if status == "cancelled" else "smtp_refused")
    db.add(
        Invitation(
            study_id=study_id,
            participant_id=participant_id,
            study_version_id=study.active_version_id,
            status=status,
            **fields,
        )
    )
    db.flush()


def test_feasibility_counts_only_contactable_matching_volunteers(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "draft")
    for _ in range(12):
        make_volunteer(db)
    make_volunteer(db, consent=False)
    make_volunteer(db, paused_until=dt.date.today() + dt.timedelta(days=5))
    make_volunteer(db, erased=True)
    make_volunteer(db, conditions=("G2581", "N183"))  # excluded by kidney disease
    make_volunteer(db, age=80)
    body = api(client, "GET", f"/studies/{sid}/feasibility", coordinator).get_json()
    assert body["matching"] == 12
    # 14 contactable: one is too old, one has kidney disease. 13 beside 12 would tell that one
    # (P4 differencing), so the 13s are withheld and the 12s, the answer, stay exact.
    assert [row["remaining"] for row in body["attrition"]] == ["withheld", "withheld", 12, 12]
    assert body["attrition"][0]["criterion"] == "age between 18 and 75"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "feasibility.query"))
    assert event is not None and event.details["criteria_hash"] == body["criteria_hash"]
    assert event.actor_id == coordinator.account.id


@pytest.mark.parametrize("matching", range(0, 11))
def test_no_count_from_1_to_10_reaches_a_coordinator(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff, matching: int
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    people = [make_volunteer(db) for _ in range(matching)]
    statuses = ["sent", "queued", "cancelled", "failed", "ambiguous", "claimed"]
    for index, person in enumerate(people):
        invite(
            db,
            sid,
            person,
            statuses[index % len(statuses)] if index % 2 else "sent",
            response="interested" if index % 3 == 0 and index % 2 == 0 else None,
            responded_at=dt.datetime.now(dt.UTC) if index % 3 == 0 and index % 2 == 0 else None,
        )
    feasibility = api(client, "GET", f"/studies/{sid}/feasibility", coordinator).get_json()
    funnel = api(client, "GET", f"/studies/{sid}/funnel", coordinator).get_json()
    funnel.pop("matching_progress")  # slices of the id space, not people
    funnel.pop("study_id")
    funnel.pop("target_enrolment")
    feasibility.pop("study_id")
    feasibility.pop("version")
    for body in (feasibility, funnel):
        small = [n for n in numbers_in(body) if 0 <= n <= 10]
        assert small == [], json.dumps(body)
    assert feasibility["matching"] == SUPPRESSED
    assert funnel["invitations"] == SUPPRESSED


def test_funnel_shows_exact_counts_from_the_threshold_up(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    for index in range(23):
        person = make_volunteer(db)
        if index < 12:
            invite(db, sid, person, "sent", response="not_interested", responded_at=dt.datetime.now(dt.UTC))
        else:
            invite(db, sid, person, "queued")
    funnel = api(client, "GET", f"/studies/{sid}/funnel", coordinator).get_json()
    assert funnel["invitations"] == 23
    assert funnel["by_status"]["sent"] == 12 and funnel["by_status"]["queued"] == 11
    assert funnel["by_status"]["failed"] == SUPPRESSED
    assert funnel["responses"]["not_interested"] == 12
    assert funnel["answers_per_day"][0]["not_interested"] == 12
    # pausing cancels the pending ones, with the reason shown in the funnel
    api(client, "POST", f"/studies/{sid}/pause", coordinator)
    paused = api(client, "GET", f"/studies/{sid}/funnel", coordinator).get_json()
    assert paused["by_reason"]["study_paused"] == 11
    others = {value for reason, value in paused["by_reason"].items() if reason != "study_paused"}
    assert others == {SUPPRESSED}
    assert paused["by_status"]["queued"] == SUPPRESSED


def test_respondents_are_only_the_interested_and_only_contact_details(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    yes = make_volunteer(db, name="Ada Yes")
    no = make_volunteer(db, name="Bo No")
    silent = make_volunteer(db, name="Cy Silent")
    invite(db, sid, yes, response="interested", responded_at=dt.datetime.now(dt.UTC))
    invite(db, sid, no, response="not_interested", responded_at=dt.datetime.now(dt.UTC))
    invite(db, sid, silent)
    body = api(client, "GET", f"/studies/{sid}/respondents", coordinator).get_json()
    assert [item["name"] for item in body["items"]] == ["Ada Yes"]
    assert (body["total"], body["page"], body["per_page"]) == (1, 1, 100)
    assert set(body["items"][0]) == {"name", "email", "phone", "preferred_channel", "answered_at"}
    assert body["items"][0]["email"].endswith("@example.org")
    text = json.dumps(body)
    assert "G25" not in text and "birth" not in text
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "respondents.view")) is not None


def test_reviewers_do_not_see_respondents_or_counts(
    client: FlaskClient, db: Session, coordinator: Staff, reviewer: Staff
) -> None:
    sid = study_in(db, coordinator, reviewer, "recruiting")
    for path in ("respondents", "feasibility", "funnel"):
        assert api(client, "GET", f"/studies/{sid}/{path}", reviewer).status_code == 403


def test_feasibility_is_rate_limited_per_coordinator(
    client: FlaskClient,
    db: Session,
    coordinator: Staff,
    other_coordinator: Staff,
    reviewer: Staff,
    settings: Any,
) -> None:
    limit = int(re.match(r"\d+", settings.feasibility_rate_limit).group())  # type: ignore[union-attr]
    sid = study_in(db, coordinator, reviewer, "draft")
    for _ in range(limit):
        assert api(client, "GET", f"/studies/{sid}/feasibility", coordinator).status_code == 200
    refused = api(client, "GET", f"/studies/{sid}/feasibility", coordinator)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    other = study_in(db, other_coordinator, reviewer, "draft")
    assert api(client, "GET", f"/studies/{other}/feasibility", other_coordinator).status_code == 200
