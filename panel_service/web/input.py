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
from werkzeug.routing import IntegerConverter

from panel_service.domain import json_input

MAX_PATH_INT = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    """Path ids: at most as many digits as the largest id (``MAX_PATH_INT``), so a longer number
    matches no route at all. A number of that length but beyond the largest id reaches the view,
    which finds nothing: a 404 for every method. (A converter that refuses a value after the path
    matched makes Werkzeug answer 405 when a route for another method took the same path.)"""

    regex = rf"\d{{1,{len(str(MAX_PATH_INT))}}}"


class SafeJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        return json_input.loads(s)
