from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from panel_service.domain.vocab import APPROVAL_KINDS
from panel_service.web.forms import SafeForm

KIND_NAMES = {
    "IRB": _l("IRB (institutional review board)"),
    "IEC": _l("IEC (independent ethics committee)"),
    "REC": _l("REC (research ethics committee)"),
}


class ApprovalForm(SafeForm):
    committee = StringField(
        _l("Committee"), validators=[DataRequired(message=_l("Enter the committee.")), Length(max=200)]
    )
    kind = SelectField(
        _l("Kind of committee"),
        # No default: the reviewer says which kind of committee decided.
        choices=[
            SelectChoice("", _l("Choose the kind of committee")),
            *(SelectChoice(kind, KIND_NAMES[kind]) for kind in APPROVAL_KINDS),
        ],
        default="",
        validators=[DataRequired(message=_l("Choose the kind of committee: IRB, IEC or REC."))],
    )
    reference = StringField(
        _l("Reference number"),
        validators=[DataRequired(message=_l("Enter the reference number.")), Length(max=100)],
    )
    approved_on = DateField(
        _l("Decision date"), validators=[DataRequired(message=_l("Enter the decision date."))]
    )
    expires_on = DateField(_l("Expiry date"), validators=[DataRequired(message=_l("Enter the expiry date."))])
    version = HiddenField()
    letter = FileField(
        _l("Approval letter"), validators=[FileRequired(message=_l("Upload the approval letter."))]
    )


class RejectForm(SafeForm):
    version = HiddenField()
    reason = TextAreaField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Say why the study is rejected.")), Length(max=2000)],
    )
