from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from panel_service.domain.vocab import APPROVAL_KINDS
from panel_service.web.forms import SafeForm


class ApprovalForm(SafeForm):
    committee = StringField(
        "Committee", validators=[DataRequired(message="Enter the committee."), Length(max=200)]
    )
    kind = SelectField("Kind", choices=list(APPROVAL_KINDS))
    reference = StringField(
        "Reference number", validators=[DataRequired(message="Enter the reference number."), Length(max=100)]
    )
    approved_on = DateField("Decision date", validators=[DataRequired(message="Enter the decision date.")])
    expires_on = DateField("Expiry date", validators=[DataRequired(message="Enter the expiry date.")])
    version = HiddenField()
    letter = FileField("Approval letter", validators=[FileRequired(message="Upload the approval letter.")])


class RejectForm(SafeForm):
    version = HiddenField()
    reason = TextAreaField(
        "Reason", validators=[DataRequired(message="Say why the study is rejected."), Length(max=2000)]
    )
