"""Removing identity from text an operator is shown (ARCHITECTURE P8: operators see ids, not
people). An invitation's ``last_error`` keeps the SMTP server's answer, which often quotes the
recipient's address ("550 5.1.1 <vera@example.org>: user unknown")."""

from __future__ import annotations

import re

# Anything shaped like an address: a local part, an @, a domain with a dot. Broad on purpose:
# hiding a non-address costs nothing, showing an address is a disclosure.
_ADDRESS = re.compile(r"[^\s<>()\[\]\",;:@]+@[^\s<>()\[\]\",;:@]+\.[^\s<>()\[\]\",;:@]+")
REDACTED = "[address]"


def redact_addresses(text: str | None) -> str:
    """``text`` with every email address replaced by ``[address]`` ('' for None)."""
    return _ADDRESS.sub(REDACTED, text or "")
