"""Volunteer forms. Every field is optional in the profile: an empty answer is "unanswered"."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
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
from wtforms.utils import unset_value
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import html_params

from panel_service.domain.passwords import MAX_PASSWORD_LENGTH, password_problem
from panel_service.domain.regions import REGIONS
from panel_service.web.forms import SafeForm

PASSWORD_MESSAGES = {
    "too_short": _l("Your password must be at least 8 characters long."),
    "too_long": _l("Your password must be at most 128 characters long."),
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
        validators=[DataRequired(message=_l("Enter a password.")), check_password],
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


class ChangeEmailForm(SafeForm):
    """A new email address, confirmed with the password (issue 13 item 7)."""

    email = EmailField(
        _l("New email address"),
        validators=[DataRequired(message=_l("Enter your new email address.")), Length(max=320)],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(message=_l("Enter your password to confirm the change."))],
        render_kw={"autocomplete": "current-password"},
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
        validators=[DataRequired(message=_l("Enter a new password.")), check_password],
        render_kw={"autocomplete": "new-password", "maxlength": str(MAX_PASSWORD_LENGTH)},
    )


class MeasureField(StringField):
    """A number with at most one decimal; accepts "172,5" as well as "172.5". Empty = None.

    ``messages`` holds this field's own wording: ``not_a_number`` and ``out_of_range`` (with
    ``%(low)s`` and ``%(high)s``), so that each message says what to enter and gives an example."""

    def __init__(
        self,
        label: Any,
        *,
        unit: str,
        bounds: tuple[Decimal, Decimal],
        messages: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, **kwargs)
        self.unit = unit
        self.bounds = bounds
        self.messages = messages
        self.number: float | None = None

    def pre_validate(self, form: FlaskForm) -> None:
        raw = (self.data or "").strip().replace(",", ".")
        self.number = None
        if not raw:
            return
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ValidationError(str(self.messages["not_a_number"])) from None
        if not value.is_finite():
            raise ValidationError(str(self.messages["not_a_number"]))
        low, high = self.bounds
        if value < low or value > high:
            raise ValidationError(str(self.messages["out_of_range"]) % {"low": low, "high": high})
        self.number = float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


HEIGHT_MESSAGES = {
    "not_a_number": _l("Enter your height in centimetres as a number, for example 172 or 172.5."),
    "out_of_range": _l("Enter a height between %(low)s and %(high)s centimetres, for example 172."),
}
WEIGHT_MESSAGES = {
    "not_a_number": _l("Enter your weight in kilograms as a number, for example 68 or 68.4."),
    "out_of_range": _l("Enter a weight between %(low)s and %(high)s kilograms, for example 68."),
}


def _optional_choice(choices: list[tuple[str, Any]], message: Any) -> Any:
    allowed = {value for value, _label in choices}

    def check(form: FlaskForm, field: Field) -> None:
        if field.data not in (None, "") and field.data not in allowed:
            raise ValidationError(str(message))

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


DATE_PARTS = ("day", "month", "year")
SHOWN_AGAIN = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


class DatePartsField(Field):
    """A date as three boxes, day / month / year (the GOV.UK date input): no picker to fight,
    no format to guess. One value under the field's own name (``1980-04-23`` from a script, or
    ``23.04.1980``) is taken too. Empty = unanswered (``value`` None).

    ``what`` names the date in messages ("date of birth"); ``autocomplete`` is a prefix such as
    ``bday`` for the browser's ``bday-day``, ``bday-month`` and ``bday-year``."""

    type = "DatePartsField"

    def __init__(self, label: Any, *, what: Any, autocomplete: str | None = None, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.what = what
        self.autocomplete = autocomplete
        self.parts = dict.fromkeys(DATE_PARTS, "")
        self.value: dt.date | None = None

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        self.process_errors: list[Any] = []
        self.raw_data = None
        self.object_data = None if data is unset_value else data
        self.parts = dict.fromkeys(DATE_PARTS, "")
        initial = self.object_data
        if isinstance(initial, str):
            initial = parse_date(initial) if initial.strip() else None
        if isinstance(initial, dt.date):
            self.parts = {"day": str(initial.day), "month": str(initial.month), "year": str(initial.year)}
        if formdata is not None:
            typed = {part: str(formdata.get(f"{self.name}-{part}", "")).strip()[:8] for part in DATE_PARTS}
            single = formdata.get(self.name)
            if any(typed.values()):
                self.parts = typed
                self.raw_data = list(typed.values())
            elif single is not None:
                self.raw_data = [single]
                parsed = parse_date(str(single)) if str(single).strip() else None
                self.parts = (
                    {"day": str(parsed.day), "month": str(parsed.month), "year": str(parsed.year)}
                    if parsed
                    else {"day": str(single)[:8], "month": "", "year": ""}
                )
        # ``data`` is non-empty exactly when something was given, for DataRequired.
        self.data = (
            "-".join(self.parts[part] for part in ("year", "month", "day"))
            if any(self.parts.values())
            else ""
        )

    def pre_validate(self, form: FlaskForm) -> None:
        self.value = None
        if not any(self.parts.values()):
            return
        day, month, year = (self.parts[part] for part in DATE_PARTS)
        real = _l("Enter a real %(what)s, for example 23 4 1980.", what=self.what)
        if self.raw_data is not None and len(self.raw_data) == 1 and not (month and year):
            raise ValidationError(str(real))  # one value that is no date ("yesterday")
        if not (day and month and year):
            raise ValidationError(
                str(
                    _l(
                        "Your %(what)s must include a day, a month and a year, for example 23 4 1980.",
                        what=self.what,
                    )
                )
            )
        if not (day.isdigit() and month.isdigit() and year.isdigit()) or len(year) != 4:
            raise ValidationError(str(real))
        try:
            self.value = dt.date(int(year), int(month), int(day))
        except ValueError:
            raise ValidationError(str(real)) from None

    def __call__(self, **kwargs: Any) -> Markup:
        describedby = kwargs.pop("aria-describedby", None)
        invalid = kwargs.pop("aria-invalid", None)
        boxes = []
        labels = {"day": _l("Day"), "month": _l("Month"), "year": _l("Year")}
        for part in DATE_PARTS:
            attributes = {
                "id": f"{self.id}-{part}",
                "name": f"{self.name}-{part}",
                # What SafeForm refused is not shown again (a NUL cannot go back to the browser).
                "value": SHOWN_AGAIN.sub("", self.parts[part]),
                "inputmode": "numeric",
                "class": f"date-{part}",
                "maxlength": "4" if part == "year" else "2",
                "size": "4" if part == "year" else "2",
            }
            if self.autocomplete:
                attributes["autocomplete"] = f"{self.autocomplete}-{part}"
            if describedby:
                attributes["aria-describedby"] = describedby
            if invalid:
                attributes["aria-invalid"] = invalid
            boxes.append(
                Markup('<div class="date-part"><label for="{0}">{1}</label><input {2}></div>').format(
                    attributes["id"],
                    labels[part],
                    Markup(html_params(**attributes)),  # noqa: S704 - html_params escapes
                )
            )
        return Markup('<div class="date-input" id="{0}">{1}</div>').format(self.id, Markup("").join(boxes))


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
    birth_date = DatePartsField(_l("Date of birth"), what=_l("date of birth"), autocomplete="bday")
    sex = RadioField(_l("Sex"), choices=[], validate_choice=False)
    region = SelectField(_l("Region where you live"), choices=[], validate_choice=False)
    height_cm = MeasureField(
        _l("Height in centimetres"), unit="cm", bounds=HEIGHT_RANGE, messages=HEIGHT_MESSAGES
    )
    weight_kg = MeasureField(
        _l("Weight in kilograms"), unit="kg", bounds=WEIGHT_RANGE, messages=WEIGHT_MESSAGES
    )
    smoker = RadioField(_l("Do you smoke?"), choices=[], validate_choice=False)
    pregnant = RadioField(_l("Are you pregnant?"), choices=[], validate_choice=False)
    # The home town (§4a) has its own page: HomeForm.
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
        self.sex.validators = [_optional_choice(SEX_CHOICES, _l("Choose female, male or other."))]
        self.smoker.validators = [_optional_choice(YES_NO, _l("Choose yes or no for whether you smoke."))]
        self.pregnant.validators = [
            _optional_choice(YES_NO, _l("Choose yes or no for whether you are pregnant."))
        ]
        self.region.validators = [
            _optional_choice(
                [(region.code, "") for region in REGIONS], _l("Choose your region from the list.")
            )
        ]


def yes_no(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def from_bool(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


class HomeForm(SafeForm):
    """The home town page (§4a): type a town and search (the server lists the matches as radios,
    GOV.UK's "find an address"), or pick a match as you type (``js/townpicker.js``)."""

    town = StringField(
        _l("Town where you live"),
        validators=[Length(max=200, message=_l("Enter at most 200 characters."))],
        render_kw={"autocomplete": "address-level2", "spellcheck": "false"},
    )
    place = RadioField(_l("Choose your town"), choices=[], validate_choice=False)
    wizard = HiddenField()


ANY_DISTANCE_KM = 20000  # "any distance": the question's largest answer, farther than any site
TRAVEL_CHOICES = [
    ("10", _l("Up to 10 km")),
    ("25", _l("Up to 25 km")),
    ("50", _l("Up to 50 km")),
    ("100", _l("Up to 100 km")),
    (str(ANY_DISTANCE_KM), _l("Any distance")),
]


class TravelForm(SafeForm):
    """How far would you travel to a study visit: one question, radios (the ``max_travel_km``
    answer, §4a)."""

    distance = RadioField(_l("How far would you travel to a study visit?"), choices=[], validate_choice=False)
    wizard = HiddenField()

    def __init__(self, *args: Any, current: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offered = list(TRAVEL_CHOICES)
        if current is not None and str(current) not in {value for value, _label in offered}:
            # An answer given elsewhere (the questions page, an import) stays choosable.
            offered.insert(0, (str(current), _l("Up to %(km)s km (your answer)", km=current)))
        self.distance.choices = choices(offered)


class CodesForm(SafeForm):
    """Search by lay words or code, tick matches; or say "I have none", or skip."""

    q = StringField(_l("Search by name or code"), validators=[Length(max=100)])
    codes = SelectMultipleField(_l("Your list"), choices=[], validate_choice=False)
    wizard = HiddenField()


class PauseForm(SafeForm):
    until = DatePartsField(
        _l("Pause contact until"),
        what=_l("date"),
        validators=[DataRequired(message=_l("Enter the date until which we should not contact you."))],
    )


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
