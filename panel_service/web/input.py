"""Request input that every route shares: path integers and JSON bodies (P8).

``BoundedIntConverter`` keeps ``<int:...>`` path values within a 32-bit id, so a path such as
``/studies/99999999999999999999`` is a 404 like any missing id instead of an integer that the
database (SQLite) cannot bind. ``SafeJSONProvider`` makes ``request.get_json`` decode through
``domain.json_input``: a body with a lone surrogate, NaN or an absurd number is treated as a
malformed body rather than handed to a view.
"""

from __future__ import annotations

import typing as t

from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter, ValidationError

from panel_service.domain import json_input

MAX_PATH_INT = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    def __init__(self, map: t.Any, *args: t.Any, **kwargs: t.Any) -> None:
        kwargs.setdefault("max", MAX_PATH_INT)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> t.Any:
        # int() refuses more than 4,300 digits with a ValueError; anything this long is no id.
        if len(value) > len(str(MAX_PATH_INT)):
            raise ValidationError()
        return super().to_python(value)


class SafeJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        return json_input.loads(s)
