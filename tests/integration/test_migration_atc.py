"""Migration 0002_atc_gabapentinoids: a stored gabapentin or pregabalin answer moves to the code
the WHO index now gives it, without a duplicate where the profile already held the new code
(PostgreSQL and SQLite, whichever backend the run uses)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from tests.integration.test_migration_pinned_content import empty_engine, migrate

__all__ = ["empty_engine"]


def _codes(engine: Engine) -> set[tuple[int, str]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT participant_id, code FROM profile_medications"))
        return {(row.participant_id, row.code) for row in rows}


def test_gabapentinoid_answers_move_to_their_current_codes(empty_engine: Engine) -> None:
    migrate(empty_engine, "0002_pinned_content")
    with empty_engine.begin() as connection:
        for participant_id, codes in (
            (1, ["N03AX12", "A12CC"]),
            (2, ["N03AX16", "N02BF02"]),
            (3, ["N03AX14"]),
        ):
            connection.execute(text("INSERT INTO participants (id) VALUES (:p)"), {"p": participant_id})
            connection.execute(
                text("INSERT INTO profiles (participant_id, medications_answered) VALUES (:p, :t)"),
                {"p": participant_id, "t": True},
            )
            for code in codes:
                connection.execute(
                    text("INSERT INTO profile_medications (participant_id, code) VALUES (:p, :c)"),
                    {"p": participant_id, "c": code},
                )

    migrate(empty_engine, "0002_atc_gabapentinoids")
    assert _codes(empty_engine) == {(1, "N02BF01"), (1, "A12CC"), (2, "N02BF02"), (3, "N03AX14")}

    migrate(empty_engine, "0002_pinned_content", down=True)
    assert _codes(empty_engine) == {(1, "N03AX12"), (1, "A12CC"), (2, "N03AX16"), (3, "N03AX14")}
