"""Closed sets (domain.vocab): the database refuses a value outside each one, its CHECK
constraints list exactly the enum's values, and migration 0003_closed_sets keeps every reason
stored before it and stops, naming them, on values outside the set (PostgreSQL and SQLite,
whichever backend the run uses)."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panel_service.domain import vocab
from tests.factories import (
    ConsentFactory,
    EthicsApprovalFactory,
    InvitationFactory,
    ParticipantFactory,
    ProfileFactory,
    StudyVersionFactory,
    bound_to,
)
from tests.integration.test_migration_pinned_content import empty_engine, migrate

__all__ = ["empty_engine"]

# (table, column) -> its CHECK constraint's name and the closed set it is built from.
CLOSED_COLUMNS: dict[tuple[str, str], tuple[str, type[StrEnum] | tuple[str, ...]]] = {
    ("accounts", "role"): ("ck_accounts_role", vocab.Role),
    ("participants", "language"): ("ck_participants_language", vocab.Language),
    ("participants", "preferred_channel"): ("ck_participants_channel", vocab.ContactChannel),
    ("profiles", "sex"): ("ck_profiles_sex", vocab.Sex),
    ("consents", "kind"): ("ck_consents_kind", vocab.ConsentKind),
    ("studies", "status"): ("ck_studies_status", vocab.StudyStatus),
    ("study_versions", "review_state"): ("ck_study_versions_review_state", vocab.ReviewState),
    ("ethics_approvals", "kind"): ("ck_ethics_approvals_kind", vocab.ApprovalKind),
    ("invitations", "status"): ("ck_invitations_status", vocab.InvitationStatus),
    ("invitations", "response"): ("ck_invitations_response", vocab.Answer),
    ("invitations", "reason"): ("ck_invitations_reason", vocab.INVITATION_REASONS),
    ("match_runs", "kind"): ("ck_match_runs_kind", vocab.MatchRunKind),
    ("action_tokens", "purpose"): ("ck_action_tokens_purpose", vocab.TokenPurpose),
}


def test_each_check_constraint_lists_exactly_its_closed_set(engine: Engine) -> None:
    """The migrated database (not only the models) holds a CHECK per closed column whose list is
    the enum's values: no value the code writes is refused, none it does not is allowed.
    (PostgreSQL reflects ``IN (...)`` as ``= ANY (ARRAY[...])``: the quoted literals are compared.)"""
    inspector = inspect(engine)
    for (table, _column), (name, closed) in CLOSED_COLUMNS.items():
        texts = [c["sqltext"] for c in inspector.get_check_constraints(table) if c["name"] == name]
        assert len(texts) == 1, (table, name, texts)
        assert set(re.findall(r"'([^']*)'", texts[0])) == {str(value) for value in closed}, (name, texts[0])


@pytest.mark.parametrize(("table", "column"), list(CLOSED_COLUMNS))
def test_a_value_outside_the_closed_set_is_refused(db: Session, table: str, column: str) -> None:
    with bound_to(db):
        version = StudyVersionFactory(review_state=vocab.ReviewState.APPROVED)
        participant = ParticipantFactory()
        ProfileFactory(participant_id=participant.id)
        ConsentFactory(participant_id=participant.id)
        InvitationFactory(
            study_id=version.study_id, participant_id=participant.id, study_version_id=version.id
        )
        EthicsApprovalFactory(study_version_id=version.id)
    db.execute(
        text(
            "INSERT INTO action_tokens (token_hash, purpose, participant_id, expires_at)"
            " VALUES (:h, 'answer', :p, CURRENT_TIMESTAMP)"
        ),
        {"h": "1" * 64, "p": participant.id},
    )
    db.execute(
        text(
            "INSERT INTO match_runs (study_id, study_version_id, kind, match_date, chunk_size, chunks_total)"
            " VALUES (:s, :v, 'manual', CURRENT_DATE, 10, 1)"
        ),
        {"s": version.study_id, "v": version.id},
    )
    name = CLOSED_COLUMNS[(table, column)][0]
    # Two letters fit every column (ethics_approvals.kind is three long), so only the CHECK refuses.
    with pytest.raises(IntegrityError, match=name), db.begin_nested():
        db.execute(text(f"UPDATE {table} SET {column} = 'zz'"))


def _invitations_before_0003(engine: Engine, reasons: list[str]) -> None:
    """At revision 0002_leases: a study version and one cancelled invitation per reason."""
    with engine.begin() as connection:
        org_id = connection.execute(
            text("INSERT INTO organisations (name) VALUES ('Aarhus Sleep Clinic') RETURNING id")
        ).scalar_one()
        study_id = connection.execute(
            text("INSERT INTO studies (organisation_id, status) VALUES (:o, 'recruiting') RETURNING id"),
            {"o": org_id},
        ).scalar_one()
        version_id = connection.execute(
            text(
                "INSERT INTO study_versions (study_id, number, criteria, title, summary, organisation_name,"
                " sites, invitation_text, site_region, target_enrolment, content_hash, review_state)"
                " VALUES (:s, 1, '{}', 'T', '', 'Aarhus Sleep Clinic', '[]', 'Please.', 'DK-84', 10, :h,"
                " 'approved') RETURNING id"
            ),
            {"s": study_id, "h": "0" * 64},
        ).scalar_one()
        for reason in reasons:
            participant_id = connection.execute(
                text("INSERT INTO participants (name) VALUES ('P') RETURNING id")
            ).scalar_one()
            connection.execute(
                text(
                    "INSERT INTO invitations (study_id, participant_id, study_version_id, status, reason)"
                    " VALUES (:s, :p, :v, :status, :r)"
                ),
                {
                    "s": study_id,
                    "p": participant_id,
                    "v": version_id,
                    "status": "failed" if reason == "smtp_refused" else "cancelled",
                    "r": reason,
                },
            )


def _reasons(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(text("SELECT reason FROM invitations")).scalars())


def _refuses(engine: Engine, reason: str) -> bool:
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE invitations SET reason = :r"), {"r": reason})
    except IntegrityError:
        return True
    return False


def test_every_stored_reason_survives_the_upgrade_and_the_downgrade(empty_engine: Engine) -> None:
    migrate(empty_engine, "0002_leases")
    every = [reason for reason in vocab.INVITATION_REASONS if reason != "too_far"]  # 0005_too_far
    _invitations_before_0003(empty_engine, every)

    migrate(empty_engine, "0003_closed_sets")
    assert _reasons(empty_engine) == sorted(every)
    assert _refuses(empty_engine, "bounced")

    migrate(empty_engine, "0002_leases", down=True)
    assert _reasons(empty_engine) == sorted(every)
    assert not _refuses(empty_engine, "bounced")


def test_an_unknown_stored_reason_stops_the_upgrade_and_is_named(empty_engine: Engine) -> None:
    migrate(empty_engine, "0002_leases")
    _invitations_before_0003(empty_engine, ["consent_withdrawn", "mailbox_full"])
    with pytest.raises(RuntimeError, match="mailbox_full"):
        migrate(empty_engine, "0003_closed_sets")
    assert _reasons(empty_engine) == ["consent_withdrawn", "mailbox_full"]


def test_too_far_is_allowed_from_0005_and_reads_as_other_below_it(empty_engine: Engine) -> None:
    migrate(empty_engine, "0002_leases")
    _invitations_before_0003(empty_engine, ["no_longer_matches"])
    migrate(empty_engine, "0003_questions")
    assert _refuses(empty_engine, "too_far")
    migrate(empty_engine, "0005_too_far")
    assert not _refuses(empty_engine, "too_far")
    assert _reasons(empty_engine) == ["too_far"]
    migrate(empty_engine, "0003_questions", down=True)
    assert _reasons(empty_engine) == ["other"]
    assert _refuses(empty_engine, "too_far")
