"""The stored question catalogue: the seed loaded by ``panel db upgrade`` (idempotent), answers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from panel_service.domain.profile import ProfileData
from panel_service.domain.questions import Answer, seed_catalogue
from panel_service.migrate import load_question_seed
from panel_service.models import ProfileAnswer, QuestionRow
from panel_service.services import questions as service
from tests.integration.criteria.test_sql_agreement import insert_profiles
from tests.integration.test_migration_pinned_content import empty_engine, migrate

__all__ = ["empty_engine"]

STABLE_KEYS = [
    "menopausal_status",
    "breastfeeding",
    "planning_pregnancy",
    "contraception",
    "smoking_status",
    "smoking_quit_year",
    "pack_years",
    "alcohol_units_week",
    "hospital_admissions_12m",
    "exacerbations_12m",
    "falls_12m",
    "rls_nights_week",
    "walks_unaided",
    "lives_alone",
    "drug_study_3m",
    "willing_mri",
    "willing_blood_samples",
    "willing_overnight",
    "languages",
    "max_travel_km",
    "phq9",
    "gad7",
]
TODAY = dt.date(2026, 6, 15)


def test_the_upgrade_loaded_every_stable_key(db: Session) -> None:
    stored = {row.key: row.type for row in db.scalars(select(QuestionRow))}
    for key in STABLE_KEYS:
        assert key in stored
    assert stored["phq9"] == "integer" and len(seed_catalogue()["phq9"].items) == 9
    assert len(seed_catalogue()["gad7"].items) == 7


def test_loading_the_seed_again_changes_nothing_and_restores_wording(db: Session) -> None:
    assert service.load_seed(db) == []
    row = db.get(QuestionRow, "lives_alone")
    assert row is not None
    row.data = {**row.data, "wording": {"en": "Old wording", "da": "Gammel"}}
    db.flush()
    assert service.load_seed(db) == ["updated lives_alone"]
    assert db.get(QuestionRow, "lives_alone").data["wording"]["en"] == "Do you live alone?"  # type: ignore[union-attr]


def test_loading_the_seed_never_changes_a_stored_type(db: Session) -> None:
    row = db.get(QuestionRow, "falls_12m")
    assert row is not None
    row.type = "decimal"
    db.flush()
    changes = service.load_seed(db)
    assert any("kept falls_12m as decimal" in change for change in changes)
    assert db.get(QuestionRow, "falls_12m").type == "decimal"  # type: ignore[union-attr]


def test_seed_loader_adds_missing_questions(db: Session) -> None:
    db.delete(db.get(QuestionRow, "willing_mri"))
    db.flush()
    assert load_question_seed(db.connection()) == ["added willing_mri"]


def test_answers_store_typed_values_and_derive_instruments(db: Session) -> None:
    participant_id = insert_profiles(db.connection(), [ProfileData()], first_id=900_001)[0]
    catalogue = service.load_catalogue(db)
    items = {f"phq9_{n}": Answer("several_days", TODAY - dt.timedelta(days=n)) for n in range(1, 10)}
    answers = {"languages": Answer(frozenset({"da", "en"}), TODAY), "pack_years": Answer(7.5, TODAY), **items}
    service.replace_answers(db, participant_id, answers, catalogue)
    stored = {
        row.key: row
        for row in db.scalars(select(ProfileAnswer).where(ProfileAnswer.participant_id == participant_id))
    }
    assert stored["languages"].value_text == "|da|en|"
    assert stored["pack_years"].value_num == 7.5
    assert stored["phq9"].value_num == 9 and stored["phq9"].answered_on == TODAY - dt.timedelta(days=9)
    # One item withdrawn: the instrument is partly answered, so unanswered.
    db.execute(ProfileAnswer.__table__.delete().where(ProfileAnswer.key == "phq9_3"))
    service.replace_answers(db, participant_id, {}, catalogue)
    assert "phq9" not in service.answers_of(db, participant_id)


def test_type_of_an_answered_question_cannot_change(db: Session) -> None:
    participant_id = insert_profiles(db.connection(), [ProfileData()], first_id=900_001)[0]
    service.add_question(
        db,
        {
            "key": "owns_dog",
            "type": "boolean",
            "section": "daily_life",
            "wording": {"en": "Do you have a dog?"},
        },
    )
    catalogue = service.load_catalogue(db)
    assert catalogue["owns_dog"].type == "boolean"
    service.update_question(db, "owns_dog", {"type": "integer", "wording": {"en": "How many dogs?"}})
    service.update_question(db, "owns_dog", {"type": "boolean", "wording": {"en": "Do you have a dog?"}})
    service.replace_answers(db, participant_id, {"owns_dog": Answer(True, TODAY)}, service.load_catalogue(db))
    with pytest.raises(service.QuestionChangeRefused, match="answered"):
        service.update_question(db, "owns_dog", {"type": "integer"})
    service.update_question(db, "owns_dog", {"wording": {"en": "Do you own a dog?", "da": "Har du en hund?"}})
    service.retire_question(db, "owns_dog")
    assert service.load_catalogue(db)["owns_dog"].retired


def test_migration_0003_upgrades_and_downgrades(empty_engine: Engine) -> None:
    migrate(empty_engine, "0004_outcomes")
    migrate(empty_engine, "0003_questions")
    assert load_question_seed_count(empty_engine) >= len(STABLE_KEYS)
    migrate(empty_engine, "0004_outcomes", down=True)
    with empty_engine.connect() as connection:
        assert not inspect(connection).has_table("questions")
        assert not inspect(connection).has_table("profile_answers")


def load_question_seed_count(engine: Engine) -> int:
    with engine.begin() as connection:
        return len(load_question_seed(connection))


def test_panel_db_upgrade_loads_the_seed_and_running_it_again_changes_nothing(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from sqlalchemy import create_engine, func

    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": url, "PANEL_INSTANCE_PATH": str(tmp_path), "LOG_LEVEL": "WARNING"}
    panel = str(Path(sys.executable).with_name("panel"))
    for _ in range(2):
        result = subprocess.run(
            [panel, "db", "upgrade"], capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        engine = create_engine(url)
        with engine.connect() as connection:
            keys = {key: kind for key, kind in connection.execute(select(QuestionRow.key, QuestionRow.type))}
            updated = connection.scalar(select(func.count()).where(QuestionRow.updated_at.is_not(None)))
        engine.dispose()
        assert set(STABLE_KEYS) <= set(keys) and keys["pack_years"] == "decimal"
        assert updated == 0  # the second run found nothing to change
