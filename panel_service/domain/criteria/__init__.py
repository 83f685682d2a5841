"""The eligibility criteria language of the product contract §4: one tree, two evaluators that agree.

Pure Python: no Flask, no Celery, no models, no session. The SQL compiler lives in the query
layer (``panel_service.queries.criteria_sql``) and is held to these evaluators by property tests.
"""

from panel_service.domain.criteria.errors import CriteriaError, CriteriaIssue, CriteriaSyntaxError
from panel_service.domain.criteria.evaluate import (
    Facts,
    compile_criteria,
    evaluate,
    evaluate_many,
    profile_facts,
)
from panel_service.domain.criteria.explain import Explanation, LeafExplanation, explain
from panel_service.domain.criteria.json_form import canonical_json, criteria_hash, parse_json, to_json
from panel_service.domain.criteria.model import (
    All,
    Any,
    Condition,
    FieldLeaf,
    Medication,
    Node,
    Not,
    Truth,
)
from panel_service.domain.criteria.text_form import parse_any, parse_text, to_text

__all__ = [
    "All",
    "Any",
    "Condition",
    "CriteriaError",
    "CriteriaIssue",
    "CriteriaSyntaxError",
    "Explanation",
    "Facts",
    "FieldLeaf",
    "LeafExplanation",
    "Medication",
    "Node",
    "Not",
    "Truth",
    "canonical_json",
    "compile_criteria",
    "criteria_hash",
    "evaluate",
    "evaluate_many",
    "explain",
    "parse_any",
    "parse_json",
    "parse_text",
    "profile_facts",
    "to_json",
    "to_text",
]
