"""What the study list needs of APIFlask's decorators without running them on every request.

The list (``views.list_studies``) is the API's most frequent read. Through ``@bp.input`` every
request built webargs' parser state and loaded the query string through a marshmallow schema
to read two small numbers, and through ``@bp.auth_required`` the token was looked up in a
statement of its own. The view now does both itself on its common path, and these two helpers
keep the rest as it was:

- ``documented`` gives the view the OpenAPI description the decorators would give it (the
  document is unchanged) without wrapping the view in them;
- ``PlainPaging`` reads the query string when it is nothing but ``page`` and ``per_page`` as
  plain decimal numbers within the schema's ranges, and answers None for anything else, which
  the view then hands to the schema through webargs as before: whatever the schema accepts
  otherwise (a leading zero, a sign, spaces, an unknown key) or refuses (422 naming the field)
  is the schema's own answer. The defaults and bounds are read from the schema, and
  ``tests/integration/test_request_overhead.py`` holds the two readings equal.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Request
from marshmallow import Schema
from marshmallow.validate import Range

F = TypeVar("F", bound=Callable[..., Any])

# Decimal digits without a sign, a leading zero or spaces: what ``int`` and marshmallow read the
# same way. Seven digits cover every bound a paging schema has (at most 1,000,000).
_PLAIN_NUMBER = re.compile(r"[1-9][0-9]{0,6}")


def documented(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """Describe a view in the OpenAPI document as ``decorators`` (APIFlask's ``auth_required``,
    ``input``, ``output``, ``doc``, listed outermost first as they would be stacked) would, and
    return the view itself, unwrapped: for a view that does their work on its own."""

    def decorate(view: F) -> F:
        # The decorators read the view's name and docstring and attach its description; they
        # are given a copy to wrap (``functools.wraps``), and only the description is kept.
        @functools.wraps(view)
        def described_view(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        described: Any = described_view
        for decorator in reversed(decorators):
            described = decorator(described)
        view._spec = described._spec  # type: ignore[attr-defined]
        return view

    return decorate


class PlainPaging:
    """Read ``page`` and ``per_page`` the way ``schema`` would when the query string is plain."""

    def __init__(self, schema: type[Schema], names: tuple[str, ...] = ("page", "per_page")) -> None:
        self.names = names
        self.defaults: tuple[int, ...] = ()
        self.bounds: dict[str, tuple[int, int]] = {}
        for name in names:
            field = schema._declared_fields[name]
            assert field.data_key in (None, name), f"{name} is read under another key"
            (limit,) = (v for v in field.validators if isinstance(v, Range))
            assert limit.min is not None and limit.max is not None
            assert limit.min_inclusive and limit.max_inclusive and limit.min >= 1
            assert len(str(limit.max)) <= 7, "a bound longer than _PLAIN_NUMBER reads"
            self.bounds[name] = (int(limit.min), int(limit.max))
            self.defaults += (int(field.load_default),)

    def __call__(self, request: Request) -> tuple[int, ...] | None:
        """The values in ``names`` order, or None when the schema must read the query string."""
        if not request.query_string:
            return self.defaults
        found: dict[str, int] = {}
        for key, values in request.args.lists():
            bounds = self.bounds.get(key)
            if bounds is None or len(values) != 1 or not _PLAIN_NUMBER.fullmatch(values[0]):
                return None
            number = int(values[0])
            if not bounds[0] <= number <= bounds[1]:
                return None
            found[key] = number
        return tuple(
            found.get(name, default) for name, default in zip(self.names, self.defaults, strict=True)
        )
