from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from panel_service.domain.sites import MAX_SITE_NAME, MAX_SITES
from panel_service.domain.vocab import RESPONDENT_OUTCOMES
from panel_service.services.studies import MAX_TARGET_ENROLMENT
from panel_service.web.forms import SafeForm

TARGET_LIMIT = f"{MAX_TARGET_ENROLMENT:,}"


class StudyForm(SafeForm):
    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(message=_l("Enter a title.")),
            Length(max=200, message=_l("Keep the title to at most 200 characters.")),
        ],
    )
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=5000)])
    criteria = TextAreaField(
        _l("Eligibility criteria"),
        validators=[DataRequired(message=_l("Enter the criteria.")), Length(max=20000)],
        render_kw={"rows": 6, "spellcheck": "false", "data-criteria-editor": "1"},
    )
    invitation_text = TextAreaField(
        _l("Invitation text (what volunteers read)"),
        validators=[DataRequired(message=_l("Enter the invitation text.")), Length(max=10000)],
        render_kw={"rows": 6},
    )
    site_region = StringField(
        _l("Site region (ISO 3166-2, e.g. DK-84)"),
        validators=[DataRequired(message=_l("Enter the region where the study runs.")), Length(max=10)],
    )
    sites = TextAreaField(
        _l("Sites (what volunteers see: one a line, as Name; latitude; longitude)"),
        validators=[Optional(), Length(max=MAX_SITES * (MAX_SITE_NAME + 60))],
        render_kw={"rows": 4, "spellcheck": "false"},
    )
    target_enrolment = IntegerField(
        _l("Target enrolment"),
        validators=[
            DataRequired(message=_l("Enter the number of participants you aim to enrol.")),
            NumberRange(
                min=1,
                max=MAX_TARGET_ENROLMENT,
                message=_l("Enter a whole number from 1 to %(max)s.", max=TARGET_LIMIT),
            ),
        ],
    )


class ActionForm(SafeForm):
    """An empty form: a button that posts with its CSRF token."""


class CloseForm(SafeForm):
    """The confirmation page's form: only a POST carrying ``confirm=yes`` closes a study."""

    confirm = HiddenField()  # the page sets "yes"; absent on a bare POST


OUTCOME_NAMES = {
    "": _l("not recorded yet"),
    "screened": _l("screened"),
    "enrolled": _l("enrolled"),
    "not_enrolled": _l("not enrolled"),
}


class OutcomeForm(SafeForm):
    """What became of one respondent; the empty choice clears a recorded outcome."""

    outcome = SelectField(
        _l("Outcome"),
        choices=[SelectChoice(value, OUTCOME_NAMES[value]) for value in ("", *RESPONDENT_OUTCOMES)],
    )
