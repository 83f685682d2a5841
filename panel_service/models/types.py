"""Reusable column types so every table spells ids, timestamps and codes the same way."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, Dialect, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import mapped_column
from sqlalchemy.types import TypeDecorator

# BigInteger ids on PostgreSQL; SQLite only auto-increments a column declared INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Codes are compared by byte order (prefix ranges such as 'N17' <= code < 'N1:'), so PostgreSQL
# must not apply a locale collation to them.
CodeString = String(16).with_variant(String(16, collation="C"), "postgresql")


class JSONCodeList(TypeDecorator[list[str]]):
    """A list of codes as JSON text, for SQLite, which has no arrays (the code summary)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(sorted(value), separators=(",", ":"))

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str] | None:
        return None if value is None else list(json.loads(value))


# The per-profile code summary (domain.criteria.summary): ``text[]`` on PostgreSQL, where a GIN
# index answers ``&&`` from the criteria compiler; JSON text on SQLite, which matches on the join
# tables and only keeps the column so that both engines store the same profile.
CodeSummary = ARRAY(Text()).with_variant(JSONCodeList(), "sqlite")

int_pk = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=True)]
created_at = Annotated[
    dt.datetime, mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
]
timestamp = Annotated[dt.datetime, mapped_column(DateTime(timezone=True))]
short_text = Annotated[str, mapped_column(String(200))]
sha256_hex = Annotated[str, mapped_column(String(64))]


def check_in(column: str, values: Iterable[str]) -> str:
    """``column IN (...)`` over a closed set (a ``StrEnum`` of domain.vocab, or its values)."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def postgresql_only(index: Index) -> Index:
    """An index that exists on PostgreSQL only (a GIN index): ``create_all`` skips it elsewhere
    and ``include_object_on`` keeps autogenerate from asking for it there."""
    index.info["only_on"] = "postgresql"
    return index.ddl_if(dialect="postgresql")


def include_object_on(dialect_name: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for a database of ``dialect_name``: leaves out the model
    indexes that ``postgresql_only`` reserves for another engine."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "index" and not reflected:
            only_on = obj.info.get("only_on")
            return only_on is None or only_on == dialect_name
        return True

    return include_object
