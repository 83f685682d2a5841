"""Removing identity from text that is stored or shown to an operator. An SMTP server's answer
often quotes the recipient ("550 5.1.1 <vera@example.org>: user unknown"): ``mail`` redacts it
before it becomes an invitation's ``last_error`` (so erasure has no copy to find, P6), and the
operator's views redact again for rows stored before that."""

from __future__ import annotations

import re

# Anything shaped like an address: a local part, an @, a domain (a dot not required: servers
# quote ``user@localhost`` too). Broad on purpose: hiding a non-address costs nothing, showing an
# address is a disclosure.
_ADDRESS = re.compile(r"[^\s<>()\[\]{}'\",;:@]+@[^\s<>()\[\]{}'\",;:@]+")
REDACTED = "[address]"


def redact_addresses(text: str | None) -> str:
    """``text`` with every email address replaced by ``[address]`` ('' for None)."""
    return _ADDRESS.sub(REDACTED, text or "")
