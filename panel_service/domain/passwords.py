"""Password rules for volunteers and staff: length and a list of common passwords.

NIST SP 800-63B: at least 8 characters, allow at least 64, no composition rules, refuse
passwords known to be common. The list ships with Panel (``data/common-passwords.txt``).
"""

from __future__ import annotations

import functools
from importlib import resources

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


@functools.cache
def common_passwords() -> frozenset[str]:
    text = resources.files("panel_service.domain").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """The reason a password is refused, as a message key (see ``PASSWORD_MESSAGES``), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "too_short"
    if len(password) > MAX_PASSWORD_LENGTH:
        return "too_long"
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) <= 2:
        return "common"
    if email and lowered in {email.lower(), email.split("@", 1)[0].lower()}:
        return "common"
    return None
