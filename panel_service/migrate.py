"""Run Alembic programmatically against the configured database (``panel db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        load_question_seed(connection)


def load_question_seed(connection: Connection) -> list[str]:
    """Add and update the shipped questions (ARCHITECTURE §4a), once the table exists."""
    from sqlalchemy.orm import Session

    from panel_service.services.questions import load_seed

    if not inspect(connection).has_table("questions"):
        return []
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        changes = load_seed(session)
        session.commit()
    return changes
