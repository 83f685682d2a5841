"""The one base of every web form: text that cannot be stored is refused before any validator.

A NUL character makes PostgreSQL refuse the statement, and a lone surrogate cannot be encoded as
UTF-8, so either would turn a form post into a 500 wherever the value reaches a query, a log line
or a template. ``SafeForm.validate`` looks at what the browser sent for every field first: any C0
control character (tab everywhere, line breaks in text areas only, are allowed), DEL or surrogate
code point gives that field an error, the offending characters are dropped from what the form
shows again, and no other validator runs, so nothing downstream ever sees the value (P8).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from panel_service.domain.json_input import text_problem

REFUSED_MESSAGE = _l(
    "This field contains a character that cannot be used (a control character or invalid Unicode)."
)
_REFUSED = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_REFUSED_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class SafeForm(FlaskForm):
    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        refused = [name for name, field in self._fields.items() if _refuse(field)]
        if not refused:
            return bool(super().validate(extra_validators))
        for name in refused:
            self._fields[name].errors = [str(REFUSED_MESSAGE)]
        return False


def _refuse(field: Any) -> bool:
    multiline = isinstance(field, TextAreaField)
    raw = [value for value in field.raw_data or [] if isinstance(value, str)]
    if not any(text_problem(value, multiline=multiline) for value in raw):
        return False
    pattern = _REFUSED_MULTILINE if multiline else _REFUSED
    field.raw_data = [pattern.sub("", value) if isinstance(value, str) else value for value in field.raw_data]
    if isinstance(field.data, str):
        field.data = pattern.sub("", field.data)
    return True
