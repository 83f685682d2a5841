"""Request and response schemas of the JSON API (marshmallow, through APIFlask).

Request schemas raise on unknown fields (marshmallow's default), so a body naming ``status``,
``id`` or ``organisation_id`` is refused with 422 naming that field: nothing the server owns
can be set by a request.
"""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Date, DateTime, Dict, Float, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import RAISE

from panel_service.domain.sites import MAX_SITE_NAME, MAX_SITES
from panel_service.domain.vocab import APPROVAL_KINDS
from panel_service.services.studies import MAX_TARGET_ENROLMENT

# What services.studies.REGION_PATTERN accepts, in either case (the service upper-cases it).
SITE_REGION_PATTERN = r"^[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?$"
COUNT_DESCRIPTION = (
    'A whole number from the small-cell threshold up; below it the words "fewer than 11"; "withheld"'
    " when the count is not smaller but would give away a difference below the threshold."
)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class SiteIn(StrictSchema):
    name = String(required=True, validate=Length(min=1, max=MAX_SITE_NAME))
    lat = Float(required=True, validate=Range(min=-90, max=90), metadata={"description": "Latitude"})
    lon = Float(required=True, validate=Range(min=-180, max=180), metadata={"description": "Longitude"})


SITES_DESCRIPTION = (
    "Where the study runs, each with coordinates (product contract §4a); shown to volunteers and covered"
    " by the approval. Optional: on PUT, leaving it out keeps the newest version's sites."
)


class SiteOut(Schema):
    name = String()
    lat = Float()
    lon = Float()


class StudyIn(StrictSchema):
    title = String(required=True, validate=Length(min=1, max=200))
    summary = String(load_default="", validate=Length(max=5000))
    criteria = Raw(
        required=True,
        metadata={
            "description": "Eligibility criteria: JSON (product contract §4) or a string in the text form.",
            "oneOf": [{"type": "object"}, {"type": "string"}],
        },
    )
    invitation_text = String(required=True, validate=Length(min=1, max=10000))
    site_region = String(
        required=True,
        validate=Regexp(
            SITE_REGION_PATTERN,
            error="must be an ISO 3166-2 code such as DK-84 (or a country code such as DK)",
        ),
        metadata={"description": "ISO 3166-2 subdivision (DK-84) or country (DK); shown to volunteers."},
    )
    target_enrolment = Integer(strict=True, required=True, validate=Range(min=1, max=MAX_TARGET_ENROLMENT))
    sites = List(Nested(SiteIn), validate=Length(max=MAX_SITES), metadata={"description": SITES_DESCRIPTION})


class CriteriaIn(StrictSchema):
    criteria = Raw(
        required=True,
        metadata={
            "description": "Criteria to check: JSON (product contract §4) or a string in the text form.",
            "oneOf": [{"type": "object"}, {"type": "string"}],
        },
    )


class CriteriaOut(Schema):
    criteria = Dict(metadata={"description": "The canonical JSON form."})
    criteria_text = String()
    criteria_hash = String()


class ApprovalIn(StrictSchema):
    committee = String(required=True, validate=Length(min=1, max=200))
    kind = String(required=True, validate=OneOf(APPROVAL_KINDS))
    reference = String(required=True, validate=Length(min=1, max=100))
    approved_on = Date(required=True)
    expires_on = Date(required=True)
    letter_sha256 = String(
        required=True, validate=Regexp(r"^[0-9a-fA-F]{64}$", error="must be 64 hexadecimal digits")
    )
    version = Integer(
        strict=True,
        validate=Range(min=1, max=1_000_000),
        metadata={
            "description": "Optional: the version number you reviewed; anything else is refused (409)."
        },
    )


class RejectIn(StrictSchema):
    reason = String(required=True, validate=Length(min=1, max=2000))
    version = Integer(strict=True, validate=Range(min=1, max=1_000_000))


class PageQuery(Schema):
    page = Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = Integer(load_default=20, validate=Range(min=1, max=100))


class RespondentsQuery(Schema):
    page = Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = Integer(load_default=100, validate=Range(min=1, max=1000))


class DiffQuery(StrictSchema):
    from_version = Integer(required=True, data_key="from", validate=Range(min=1, max=1_000_000))
    to_version = Integer(required=True, data_key="to", validate=Range(min=1, max=1_000_000))


class ApprovalOut(Schema):
    committee = String()
    kind = String()
    reference = String()
    approved_on = Date()
    expires_on = Date()
    letter_sha256 = String()
    letter_filename = String(allow_none=True)


class VersionOut(Schema):
    number = Integer()
    review_state = String()
    title = String()
    summary = String()
    organisation_name = String(
        metadata={"description": "The organisation's name when this version was made."}
    )
    sites = List(Nested(SiteOut))
    criteria = Dict()
    criteria_text = String()
    invitation_text = String()
    site_region = String()
    target_enrolment = Integer()
    content_hash = String()
    created_at = DateTime()
    submitted_at = DateTime(allow_none=True)
    rejected_at = DateTime(allow_none=True)
    rejection_reason = String(allow_none=True)
    approval = Nested(ApprovalOut, allow_none=True)


class StudyOut(Schema):
    id = Integer()
    organisation_id = Integer()
    title = String(metadata={"description": "Of the newest version (volunteers see the active one's)."})
    summary = String()
    organisation_name = String()
    sites = List(Nested(SiteOut))
    status = String()
    criteria = Dict(metadata={"description": "Criteria of the newest version, canonical JSON form."})
    criteria_text = String()
    invitation_text = String()
    site_region = String()
    target_enrolment = Integer()
    version = Integer(metadata={"description": "Number of the newest version."})
    active_version = Nested(VersionOut, allow_none=True)
    pending_version = Nested(VersionOut, allow_none=True)
    created_at = DateTime()
    updated_at = DateTime(allow_none=True)


class StudyList(Schema):
    items = List(Nested(StudyOut))
    total = Integer()
    page = Integer()
    per_page = Integer()


class VersionList(Schema):
    items = List(Nested(VersionOut))
    total = Integer()
    page = Integer()
    per_page = Integer()


class DiffOut(Schema):
    from_version = Integer(data_key="from")
    to_version = Integer(data_key="to")
    diff = List(String())


class AttritionOut(Schema):
    criterion = String()
    remaining = Raw(metadata={"description": COUNT_DESCRIPTION})


class FeasibilityOut(Schema):
    study_id = Integer()
    version = Integer()
    criteria = String(metadata={"description": "The criteria counted, in the text form."})
    criteria_hash = String()
    on = String(metadata={"description": "The day counted (YYYY-MM-DD, PANEL_TIMEZONE)."})
    matching = Raw(metadata={"description": COUNT_DESCRIPTION})
    attrition = List(Nested(AttritionOut))


class ProgressOut(Schema):
    kind = String()
    started_at = String()
    finished = Boolean()
    chunks_done = Integer()
    chunks_total = Integer()
    percent_done = Integer()


class FunnelOut(Schema):
    study_id = Integer()
    status = String()
    target_enrolment = Integer(allow_none=True)
    invitations = Raw(metadata={"description": COUNT_DESCRIPTION})
    by_status = Dict(keys=String(), values=Raw())
    by_reason = Dict(keys=String(), values=Raw())
    responses = Dict(keys=String(), values=Raw())
    answers_per_day = List(Dict())
    matching_progress = Nested(ProgressOut, allow_none=True)


class RespondentOut(Schema):
    name = String(allow_none=True)
    email = String(allow_none=True)
    phone = String(allow_none=True)
    preferred_channel = String()
    answered_at = String(allow_none=True)


class RespondentList(Schema):
    items = List(Nested(RespondentOut))
    total = Integer()
    page = Integer()
    per_page = Integer()


class QuestionOptionOut(Schema):
    key = String()
    wording = Dict(keys=String(), values=String())


class QuestionOut(Schema):
    """A catalogue question (ARCHITECTURE §4a), with the criteria ops its type takes."""

    key = String()
    type = String()
    section = String()
    section_title = Dict(keys=String(), values=String())
    wording = Dict(keys=String(), values=String())
    help = Dict(keys=String(), values=String())
    options = List(Nested(QuestionOptionOut))
    unit = String(allow_none=True)
    min = Float(allow_none=True)
    max = Float(allow_none=True)
    applies_to = Dict(allow_none=True)
    value_for_others = Raw(allow_none=True)
    items = List(String())
    scoring = Dict(keys=String(), values=Integer())
    ops = List(String())
    retired = Boolean()


class QuestionList(Schema):
    items = List(Nested(QuestionOut))
    total = Integer()
    page = Integer()
    per_page = Integer()
