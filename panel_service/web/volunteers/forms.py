"""Volunteer forms. Every field is optional in the profile: an empty answer is "unanswered"."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, ValidationError

from panel_service.domain.passwords import MAX_PASSWORD_LENGTH, password_problem
from panel_service.domain.regions import REGIONS
from panel_service.web.forms import SafeForm

PASSWORD_MESSAGES = {
    "too_short": _l("Use at least 8 characters."),
    "too_long": _l("Use at most 128 characters."),
    "common": _l("This password is too common and easy to guess. Choose another."),
}
BIRTH_DATE_MESSAGES = {
    "future": _l("The date of birth cannot be in the future."),
    "too_old": _l("Enter a date of birth after 1900."),
    "under_18": _l("You must be 18 or older to join Panel."),
}
HEIGHT_RANGE = (Decimal("50"), Decimal("260"))
WEIGHT_RANGE = (Decimal("20"), Decimal("400"))


def check_password(form: FlaskForm, field: Field) -> None:
    email = getattr(getattr(form, "email", None), "data", None)
    problem = password_problem(field.data or "", email=email)
    if problem:
        raise ValidationError(str(PASSWORD_MESSAGES[problem]))


class SignupForm(SafeForm):
    name = StringField(
        _l("Your name"),
        validators=[DataRequired(message=_l("Enter your name.")), Length(max=200)],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(message=_l("Enter your email address.")), Length(max=320)],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        _l("Choose a password"),
        validators=[DataRequired(message=_l("Choose a password.")), check_password],
        render_kw={"autocomplete": "new-password", "maxlength": str(MAX_PASSWORD_LENGTH)},
    )
    consent = BooleanField(
        _l("Yes, you may contact me about approved studies that my profile is consistent with.")
    )


PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{5,24}$")


def check_phone(form: FlaskForm, field: Field) -> None:
    value = (field.data or "").strip()
    if value and (not PHONE.match(value) or sum(ch.isdigit() for ch in value) < 6):
        raise ValidationError(str(_l("Enter a phone number with digits only, for example +45 12 34 56 78.")))


class DetailsForm(SafeForm):
    """The contact details a study team receives when the volunteer says yes (P4)."""

    name = StringField(
        _l("Your name"),
        validators=[DataRequired(message=_l("Enter your name.")), Length(max=200)],
        render_kw={"autocomplete": "name"},
    )
    phone = StringField(
        _l("Phone number (optional)"),
        validators=[check_phone],
        render_kw={"autocomplete": "tel", "type": "tel", "maxlength": "40"},
    )


class ForgotPasswordForm(SafeForm):
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(message=_l("Enter your email address.")), Length(max=320)],
        render_kw={"autocomplete": "email"},
    )


class ResetPasswordForm(SafeForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(message=_l("Choose a password.")), check_password],
        render_kw={"autocomplete": "new-password", "maxlength": str(MAX_PASSWORD_LENGTH)},
    )


class MeasureField(StringField):
    """A number with at most one decimal; accepts "172,5" as well as "172.5". Empty = None."""

    def __init__(self, label: Any, *, unit: str, bounds: tuple[Decimal, Decimal], **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, **kwargs)
        self.unit = unit
        self.bounds = bounds
        self.number: float | None = None

    def pre_validate(self, form: FlaskForm) -> None:
        raw = (self.data or "").strip().replace(",", ".")
        self.number = None
        if not raw:
            return
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ValidationError(str(_l("Enter a number, for example 172.5."))) from None
        if not value.is_finite():
            raise ValidationError(str(_l("Enter a number, for example 172.5.")))
        low, high = self.bounds
        if value < low or value > high:
            raise ValidationError(
                str(
                    _l(
                        "Enter a value between %(low)s and %(high)s %(unit)s.",
                        low=low,
                        high=high,
                        unit=self.unit,
                    )
                )
            )
        self.number = float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _optional_choice(choices: list[tuple[str, Any]]) -> Any:
    allowed = {value for value, _label in choices}

    def check(form: FlaskForm, field: Field) -> None:
        if field.data not in (None, "") and field.data not in allowed:
            raise ValidationError(str(_l("Choose one of the options.")))

    return check


SEX_CHOICES = [("female", _l("Female")), ("male", _l("Male")), ("other", _l("Other"))]
YES_NO = [("yes", _l("Yes")), ("no", _l("No"))]
COUNTRY_NAMES = {
    "DK": _l("Denmark"),
    "SE": _l("Sweden"),
    "NO": _l("Norway"),
    "DE": _l("Germany"),
    "NL": _l("Netherlands"),
    "GB": _l("United Kingdom"),
}


def choices(pairs: list[tuple[str, Any]]) -> list[SelectChoice]:
    return [SelectChoice(value, str(label)) for value, label in pairs]


class DateInput(StringField):
    """A date typed as YYYY-MM-DD (what a date picker sends) or as 23.04.1980 / 23-04-1980 /
    23/04/1980 (what people type). Empty = None; ``value`` holds the parsed date."""

    def __init__(self, label: Any, **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {"type": "date"})
        super().__init__(label, **kwargs)
        self.value: dt.date | None = None

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return self.data.isoformat() if isinstance(self.data, dt.date) else (self.data or "")

    def pre_validate(self, form: FlaskForm) -> None:
        raw = (self.data or "").strip() if isinstance(self.data, str) else ""
        self.value = self.data if isinstance(self.data, dt.date) else None
        if not raw:
            return
        self.value = parse_date(raw)
        if self.value is None:
            raise ValidationError(str(_l("Enter a real date, for example 1980-04-23.")))


def parse_date(raw: str) -> dt.date | None:
    raw = raw.strip()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    for separator in (".", "-", "/"):
        parts = raw.split(separator)
        if len(parts) == 3 and all(part.isdigit() for part in parts) and len(parts[2]) == 4:
            try:
                return dt.date(int(parts[2]), int(parts[1]), int(parts[0]))
            except ValueError:
                return None
    return None


class AboutForm(SafeForm):
    birth_date = DateInput(_l("Date of birth"), render_kw={"type": "date", "autocomplete": "bday"})
    sex = RadioField(_l("Sex"), choices=[], validate_choice=False)
    region = SelectField(_l("Region where you live"), choices=[], validate_choice=False)
    height_cm = MeasureField(_l("Height in centimetres"), unit="cm", bounds=HEIGHT_RANGE)
    weight_kg = MeasureField(_l("Weight in kilograms"), unit="kg", bounds=WEIGHT_RANGE)
    smoker = RadioField(_l("Do you smoke?"), choices=[], validate_choice=False)
    pregnant = RadioField(_l("Are you pregnant?"), choices=[], validate_choice=False)
    # §4a: a town from the shipped gazetteer (or coordinates), stored as a rounded point.
    home = StringField(_l("Town where you live"), validators=[Length(max=200)])
    wizard = HiddenField()

    def __init__(self, *args: Any, language: str = "en", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Choices are built per request so that their labels are in the request's language.
        self.sex.choices = choices(SEX_CHOICES)
        self.smoker.choices = choices(YES_NO)
        self.pregnant.choices = choices(YES_NO)
        self.region.choices = [SelectChoice("", str(_l("Choose your region")))] + [
            SelectChoice(region.code, region.name(language), optgroup=str(COUNTRY_NAMES[region.country]))
            for region in REGIONS
        ]
        self.sex.validators = [_optional_choice(SEX_CHOICES)]
        self.smoker.validators = [_optional_choice(YES_NO)]
        self.pregnant.validators = [_optional_choice(YES_NO)]
        self.region.validators = [_optional_choice([(region.code, "") for region in REGIONS])]


def yes_no(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def from_bool(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


class CodesForm(SafeForm):
    """Search by lay words or code, tick matches; or say "I have none", or skip."""

    q = StringField(_l("Search by name or code"), validators=[Length(max=100)])
    codes = SelectMultipleField(_l("Selected"), choices=[], validate_choice=False)
    wizard = HiddenField()


class PauseForm(SafeForm):
    until = DateInput(_l("Pause contact until"), validators=[DataRequired(message=_l("Enter a date."))])


class ConsentForm(SafeForm):
    consent = BooleanField(
        _l("Yes, you may contact me about approved studies that my profile is consistent with."),
        validators=[DataRequired(message=_l("Tick the box to give your consent."))],
    )


class EmptyForm(SafeForm):
    """Only the CSRF token: for buttons that POST."""


class AnswerForm(SafeForm):
    answer = HiddenField(validators=[DataRequired()])


class DeleteForm(SafeForm):
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(message=_l("Enter your password to confirm."))],
        render_kw={"autocomplete": "current-password"},
    )
