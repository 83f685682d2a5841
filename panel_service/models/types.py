"""Reusable column types so every table spells ids, timestamps and codes the same way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated

from sqlalchemy import BigInteger, DateTime, Integer, String, func
from sqlalchemy.orm import mapped_column

# BigInteger ids on PostgreSQL; SQLite only auto-increments a column declared INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Codes are compared by byte order (prefix ranges such as 'N17' <= code < 'N1:'), so PostgreSQL
# must not apply a locale collation to them.
CodeString = String(16).with_variant(String(16, collation="C"), "postgresql")

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
