"""A stamp of the stored question catalogue: one short text that changes whenever any stored
question's key, type, definition or retirement does (PostgreSQL: the md5 of the rows as
``services.questions`` reads them, in their order). A statement that needs the catalogue can
carry the stamp as one more column and use a catalogue already built from rows with that stamp
instead of reading the rows again. SQLite: no stamp (NULL); the rows are read as before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, cast, func, literal, null, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from panel_service.models.questions import QuestionRow


def catalogue_stamp(dialect: str) -> Any:
    """A scalar expression of the stamp (uncorrelated: PostgreSQL computes it once per
    statement), or NULL where there is none."""
    if dialect != "postgresql":
        return null()
    row = func.concat_ws(
        literal("|", Text),
        QuestionRow.key,
        QuestionRow.type,
        func.md5(cast(QuestionRow.data, Text)),
        func.coalesce(cast(QuestionRow.retired_at, Text), literal("-", Text)),
    )
    rows = func.string_agg(
        row, aggregate_order_by(literal("\n", Text), QuestionRow.position, QuestionRow.key)
    )
    return select(func.md5(func.coalesce(rows, literal("", Text)))).select_from(QuestionRow).scalar_subquery()
