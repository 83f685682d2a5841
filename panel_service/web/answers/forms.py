from __future__ import annotations

from wtforms import RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from panel_service.web.forms import SafeForm

ANSWERS = {
    "interested": "Yes, I am interested: share my contact details with the study team",
    "not_interested": "No, thank you",
}


class AnswerForm(SafeForm):
    answer = RadioField(
        "Your answer",
        choices=[SelectChoice(value, label) for value, label in ANSWERS.items()],
        validators=[InputRequired(message="Choose yes or no.")],
    )
