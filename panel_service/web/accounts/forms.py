from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from panel_service.web.forms import SafeForm


class LoginForm(SafeForm):
    email = EmailField(
        _l("Email address"), validators=[DataRequired(message=_l("Enter your email address."))]
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(message=_l("Enter your password.")), Length(max=1024)]
    )
    next = HiddenField()
