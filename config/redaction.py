"""What logs must not hold: single-use link tokens, and query strings that say what a person
searched for or answered. Used by the app's log processors and by gunicorn's access log.

Token paths keep their shape (``/verify/[redacted]``) so that the route still shows; query
values are kept only for keys known to be harmless (paging, vocabulary system, wizard step).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote

REDACTED = "[redacted]"
# Links in emails carry a bearer token in the path (answers, unsubscribe, verify, reset); the
# volunteer's own invitation pages name the study they were invited to.
_TOKEN_PATH = re.compile(
    r"(/(?:invitations/answer|unsubscribe|verify|password/reset)/)(?!resend(?![\w-]))[^/?#\s\"'&]+"
)
_PRIVATE_ID_PATH = re.compile(r"(/me/invitations/)\d+")
_QUERY = re.compile(r"\?([^\s\"'#]*)")
HARMLESS_QUERY_KEYS = frozenset({"page", "system", "wizard", "from", "to", "section"})


def redact_query(query: str) -> str:
    """``q=insomnia&page=2`` → ``q=[redacted]&page=2``."""
    if not query:
        return query
    parts = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        shown = quote(value, safe="") if key in HARMLESS_QUERY_KEYS else REDACTED
        parts.append(f"{quote(key, safe='')}={shown}")
    return "&".join(parts) if parts else REDACTED


def redact(text: str) -> str:
    """Redact token paths and query strings wherever they appear in ``text`` (a path, a URL,
    an access-log request line, a message)."""
    if "/" not in text and "?" not in text:
        return text
    text = _TOKEN_PATH.sub(rf"\g<1>{REDACTED}", text)
    text = _PRIVATE_ID_PATH.sub(rf"\g<1>{REDACTED}", text)
    return _QUERY.sub(lambda found: "?" + redact_query(found.group(1)), text)
