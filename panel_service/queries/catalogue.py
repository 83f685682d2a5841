"""A stamp of the stored question catalogue: one short text that changes whenever any stored
question row is added, changed (a new row version: its key, type, definition or retirement) or
removed. PostgreSQL: the md5 of every row's key, ``xmin`` (the transaction that wrote the row
version, kept by ``VACUUM FREEZE`` too) and ``ctid`` (where the version lies: a second change in
the same transaction keeps the ``xmin`` but makes a new version elsewhere, and the old one's
place cannot be reused before that transaction ends), in key order. Hashing the definitions
themselves cost three times as much per statement for the same answer. A statement that needs the catalogue can
carry the stamp as one more column and use a catalogue already built from rows with that stamp
instead of reading the rows again. SQLite: no stamp (NULL); the rows are read as before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, func, literal, literal_column, null, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from panel_service.models.questions import QuestionRow


def catalogue_stamp(dialect: str) -> Any:
    """A scalar expression of the stamp (uncorrelated: PostgreSQL computes it once per
    statement), or NULL where there is none."""
    if dialect != "postgresql":
        return null()
    row = func.concat(
        QuestionRow.key,
        literal(":", Text),
        literal_column("questions.xmin::text", Text),
        literal_column("questions.ctid::text", Text),
    )
    rows = func.string_agg(row, aggregate_order_by(literal(",", Text), QuestionRow.key.collate("C")))
    return select(func.md5(func.coalesce(rows, literal("", Text)))).select_from(QuestionRow).scalar_subquery()
