from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

ANSWERS = {
    "interested": "Yes, I am interested: share my contact details with the study team",
    "not_interested": "No, thank you",
}


class AnswerForm(FlaskForm):
    answer = RadioField(
        "Your answer",
        choices=[SelectChoice(value, label) for value, label in ANSWERS.items()],
        validators=[InputRequired(message="Choose yes or no.")],
    )
