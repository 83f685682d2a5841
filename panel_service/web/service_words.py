"""Messages made below the web layer, in the page's language (issue 13 item 3, staff pages).

The domain and the services speak English (they import no Flask, and the JSON API answers in
English with its paths). A staff page shows some of their messages as they are: a criteria
error at its line, a refused transition, a refused approval. ``in_words`` finds the sentence
among the known shapes below and gives it through gettext with its parts filled in, so a
Danish page reads Danish; a message of no known shape is shown as it came (still in words,
never a 500). Quoted values (``"XX-99"``), keys and codes stay as written: they are what the
coordinator typed or will type.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

# The domain's status and action words (domain.lifecycle.STATUS_WORDS / ACTION_WORDS).
STATUS = {
    "a draft": _l("a draft"),
    "in review": _l("in ethics review"),
    "approved": _l("approved"),
    "recruiting": _l("recruiting volunteers"),
    "paused": _l("paused"),
    "closed": _l("closed"),
    "rejected": _l("rejected"),
}
ACTIONS = {
    "submit for review": _l("submit it for review"),
    "edit": _l("edit it"),
    "approve": _l("approve it"),
    "reject": _l("reject it"),
    "start recruiting": _l("start recruiting"),
    "pause": _l("pause it"),
    "expire": _l("let it expire"),
    "close": _l("close it"),
}
FOUND = {"the end of the text": _l("the end of the text")}
CRITERION_EXAMPLE = "'age >= 18', 'has condition G25.8', 'takes A12CC' or 'not ...'"


def _part(table: dict[str, LazyString]) -> Callable[[str], str]:
    return lambda value: str(table[value]) if value in table else value


# (pattern over the whole English message, the same sentence for gettext, how to show parts)
SHAPES: list[tuple[re.Pattern[str], LazyString, dict[str, Callable[[str], str]]]] = [
    # criteria values (domain.criteria.json_form and .questions)
    (
        re.compile(r"(?P<field>\w+) takes a number from (?P<low>\S+) to (?P<high>\S+), got (?P<value>.+)"),
        _l("%(field)s takes a number from %(low)s to %(high)s, got %(value)s"),
        {},
    ),
    (
        re.compile(r"(?P<field>\w+) takes a number, got (?P<value>.+)"),
        _l("%(field)s takes a number, got %(value)s"),
        {},
    ),
    (
        re.compile(r"age takes whole years from 0 to (?P<high>\d+), got (?P<value>.+)"),
        _l("age takes whole years from 0 to %(high)s, got %(value)s"),
        {},
    ),
    (
        re.compile(r"(?P<field>\w+) takes whole numbers, got (?P<value>.+)"),
        _l("%(field)s takes whole numbers, got %(value)s"),
        {},
    ),
    (
        re.compile(r"(?P<field>\w+) takes true or false, got (?P<value>.+)"),
        _l("%(field)s takes true or false, got %(value)s"),
        {},
    ),
    (
        re.compile(r"(?P<field>\w+) takes a date as YYYY-MM-DD, got (?P<value>.+)"),
        _l("%(field)s takes a date as YYYY-MM-DD, got %(value)s"),
        {},
    ),
    (
        re.compile(r"sex takes one of (?P<values>.+), got (?P<value>.+)"),
        _l("sex takes one of %(values)s, got %(value)s"),
        {},
    ),
    (
        re.compile(r"unknown region (?P<value>.+): not an ISO 3166 country or subdivision"),
        _l("unknown region %(value)s: not an ISO 3166 country or subdivision"),
        {},
    ),
    (
        re.compile(r"unknown field (?P<value>.+); fields are (?P<fields>.+)"),
        _l("unknown field %(value)s; the fields are %(fields)s"),
        {},
    ),
    (
        re.compile(r"op (?P<op>\S+) does not apply to field (?P<field>.+)"),
        _l("the test %(op)s does not apply to %(field)s"),
        {},
    ),
    (
        re.compile(r"between needs low <= high, got (?P<value>.+)"),
        _l("between needs the lower value first, got %(value)s"),
        {},
    ),
    (
        re.compile(r"between takes exactly two values \[low, high\], got (?P<value>.+)"),
        _l("between takes exactly two values, got %(value)s"),
        {},
    ),
    (
        re.compile(r"in takes a non-empty list of values, got (?P<value>.+)"),
        _l("in takes a list of at least one value, got %(value)s"),
        {},
    ),
    (
        re.compile(r'not a well-formed ICD-10 code: (?P<value>.+) \(expected e\.g\. "G25\.8"\)'),
        _l('not a well-formed ICD-10 code: %(value)s (for example "G25.8")'),
        {},
    ),
    (
        re.compile(
            r'not a well-formed ICD-10 range: (?P<value>.+) \(expected two categories, e\.g\. "N17-N19"\)'
        ),
        _l('not a well-formed ICD-10 range: %(value)s (two categories, for example "N17-N19")'),
        {},
    ),
    (
        re.compile(r'not a well-formed ATC code: (?P<value>.+) \(expected e\.g\. "A12CC" or "A12CC05"\)'),
        _l('not a well-formed ATC code: %(value)s (for example "A12CC" or "A12CC05")'),
        {},
    ),
    (re.compile(r"criteria are empty"), _l("the criteria are empty"), {}),
    (
        re.compile(r'"(?P<kind>all|any)" must not be empty'),
        _l("“%(kind)s” must hold at least one criterion"),
        {},
    ),
    (
        re.compile(
            r"(?P<key>within|for at least|current) is already given for this code, found (?P<found>.+)"
        ),
        _l("%(key)s is already given for this code, found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"expected a duration such as P3M after (?P<after>.+), found (?P<found>.+)"),
        _l("expected a duration such as P3M after %(after)s, found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"ICD-10 range (?P<value>.+) runs backwards: (?P<low>\S+) comes after (?P<high>\S+)"),
        _l("the ICD-10 range %(value)s runs backwards: %(low)s comes after %(high)s"),
        {},
    ),
    (
        re.compile(r'a medication is an ATC code such as "A12CC", got (?P<value>.+)'),
        _l('a medicine is an ATC code such as "A12CC", got %(value)s'),
        {},
    ),
    (
        re.compile(r"unknown question (?P<value>.+); see GET /api/v1/questions"),
        _l("unknown question %(value)s: no question in the catalogue has this key"),
        {},
    ),
    (
        re.compile(
            r"op (?P<op>\S+) does not apply to the (?P<type>\w+) question (?P<key>\S+); its ops are (?P<ops>.+)"
        ),
        _l("the test %(op)s does not apply to the question %(key)s; its tests are %(ops)s"),
        {},
    ),
    (
        re.compile(r"(?P<value>.+) is not an option of (?P<key>\w+); its options are (?P<options>.+)"),
        _l("%(value)s is not an answer to %(key)s; its answers are %(options)s"),
        {},
    ),
    (
        re.compile(r"expected an ISO 8601 duration like (?P<example>P\w+) \(.*\), got (?P<value>.+)"),
        _l("expected a duration such as %(example)s (P#D, P#W, P#M or P#Y; at most P100Y), got %(value)s"),
        {},
    ),
    (
        re.compile(r'for_at_least means current, so it cannot be combined with "current": false'),
        _l("“for at least” means current, so it cannot be combined with “formerly”"),
        {},
    ),
    (re.compile(r"nested too deeply.*"), _l("the criteria are nested too deeply"), {}),
    # the text form's syntax (domain.criteria.text_form)
    (
        re.compile(
            r"expected a criterion such as " + re.escape(CRITERION_EXAMPLE) + r", found (?P<found>.+)"
        ),
        _l("expected a criterion such as %(example)s, found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"expected 'and', 'or' or the end of the criteria, found (?P<found>.+)"),
        _l("expected 'and', 'or' or the end of the criteria, found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"expected '\)' to close the '\(' opened earlier, found (?P<found>.+)"),
        _l("expected ')' to close the '(' opened earlier, found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(
            r"expected a comparison \(=, !=, <, <=, >, >=, between, in\) after (?P<after>.+), found (?P<found>.+)"
        ),
        _l("expected a comparison (=, !=, <, <=, >, >=, between, in) after %(after)s, found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"expected a value after (?P<after>.+), found (?P<found>.+)"),
        _l("expected a value after %(after)s, found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"expected an ICD-10 code or range after 'has condition', found (?P<found>.+)"),
        _l("expected an ICD-10 code or range after 'has condition', found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"expected an ATC code after 'takes', found (?P<found>.+)"),
        _l("expected an ATC code after 'takes', found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"expected a question key after 'answer', found (?P<found>.+)"),
        _l("expected a question key after 'answer', found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"expected (?P<keyword>'\w+') after (?P<after>.+), found (?P<found>.+)"),
        _l("expected %(keyword)s after %(after)s, found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (
        re.compile(r"expected criteria, found (?P<found>.+)"),
        _l("expected criteria, found %(found)s"),
        {"found": _part(FOUND)},
    ),
    (re.compile(r"unexpected character (?P<value>.+)"), _l("unexpected character %(value)s"), {}),
    # a study's fields (services.studies.clean_fields, domain.sites), shown beside the field
    (re.compile(r"must not be empty"), _l("must not be empty"), {}),
    (re.compile(r"must be at most (?P<n>\d+) characters"), _l("must be at most %(n)s characters"), {}),
    (
        re.compile(r"must be an ISO 3166-2 code such as DK-84 \(or a country code such as DK\)"),
        _l("must be an ISO 3166-2 code such as DK-84 (or a country code such as DK)"),
        {},
    ),
    (re.compile(r"must be a whole number"), _l("must be a whole number"), {}),
    (re.compile(r"must be a number"), _l("must be a number"), {}),
    (
        re.compile(r"must be between (?P<low>-?[\d.]+) and (?P<high>-?[\d.]+)"),
        _l("must be between %(low)s and %(high)s"),
        {},
    ),
    (re.compile(r"must list at most (?P<n>\d+) sites"), _l("must list at most %(n)s sites"), {}),
    (re.compile(r"must not contain control characters"), _l("must not contain control characters"), {}),
    (re.compile(r"is required"), _l("is required"), {}),
    (
        re.compile(r"must be a text of 1 to (?P<n>\d+) characters"),
        _l("must be a text of 1 to %(n)s characters"),
        {},
    ),
    (
        re.compile(r"write one site a line as: Name; latitude; longitude"),
        _l("write one site a line as: Name; latitude; longitude"),
        {},
    ),
    # the question catalogue (domain.questions.QuestionDataError, services.questions), admins only
    (
        re.compile(r"question key (?P<key>.+): lower-case letters, digits and _, starting with a letter"),
        _l("question key %(key)s: use lower-case letters, digits and _, starting with a letter"),
        {},
    ),
    (
        re.compile(r"(?P<key>\w+): type must be one of (?P<types>.+)"),
        _l("%(key)s: the type must be one of %(types)s"),
        {},
    ),
    (
        re.compile(r"(?P<key>\w+): an option needs a key of lower-case letters, digits and _"),
        _l("%(key)s: an option needs a key of lower-case letters, digits and _"),
        {},
    ),
    (
        re.compile(r"(?P<key>\w+): (?P<option>\w+) cannot be an option key"),
        _l("%(key)s: %(option)s cannot be an option key"),
        {},
    ),
    (
        re.compile(r"(?P<key>\w+): a (?P<type>\w+) question needs options"),
        _l("%(key)s: a %(type)s question needs options"),
        {},
    ),
    (
        re.compile(r"a question with the key (?P<key>\w+) already exists"),
        _l("a question with the key %(key)s already exists"),
        {},
    ),
    (
        re.compile(
            r"(?P<key>\w+) has been answered, so its key and type can no longer change;"
            r" retire it and add a new question"
        ),
        _l(
            "%(key)s has been answered, so its key and type can no longer change; retire it and add a new question"
        ),
        {},
    ),
    (
        re.compile(r"a question's key cannot change; retire it and add a new question"),
        _l("a question's key cannot change; retire it and add a new question"),
        {},
    ),
    # refused study steps (domain.lifecycle, services.studies)
    (
        re.compile(
            r"Cannot (?P<action>.+?) a study that is (?P<status>.+?) \(allowed from: [^)]*\)\."
            r" Edit the study to make a new version to submit\."
        ),
        _l(
            "You cannot %(action)s while the study is %(status)s."
            " Edit the study to make a new version to submit."
        ),
        {"action": _part(ACTIONS), "status": _part(STATUS)},
    ),
    (
        re.compile(r"Cannot (?P<action>.+?) a study that is (?P<status>.+?) \(allowed from: [^)]*\)\."),
        _l("You cannot %(action)s while the study is %(status)s."),
        {"action": _part(ACTIONS), "status": _part(STATUS)},
    ),
    (
        re.compile(
            r"Cannot start recruiting: the approved version has no ethics approval in force today\."
            r" Submit a new version for review\."
        ),
        _l(
            "Recruiting cannot start: the approved version has no ethics approval in force today."
            " Submit a new version for review."
        ),
        {},
    ),
    (
        re.compile(r"Study (?P<study>\d+) has no version awaiting review \(it is (?P<status>.+)\)\."),
        _l("This study has no version awaiting review (it is %(status)s)."),
        {"status": _part(STATUS)},
    ),
    (
        re.compile(
            r"Version (?P<old>\d+) is no longer the one awaiting review; version (?P<new>\d+) is\."
            r" Read it before deciding\."
        ),
        _l(
            "Version %(old)s is no longer the one awaiting review; version %(new)s is. Read it before deciding."
        ),
        {},
    ),
]


def in_words(message: str) -> str:
    """``message`` in the page's language when it has a known shape, else as it came."""
    text = message.strip()
    for pattern, sentence, parts in SHAPES:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = {name: parts.get(name, str)(value) for name, value in found.groupdict().items()}
        return str(sentence) % {"example": CRITERION_EXAMPLE, **values}
    return message
