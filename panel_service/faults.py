"""Fault injection for the crash tests: make the sending process die at a named window.

``PANEL_FAULT_INJECT=WINDOW[:RATE][,WINDOW[:RATE]...]`` — at each pass through ``WINDOW`` the
process SIGKILLs itself with probability ``RATE`` (default 1.0). The windows of one send:

* ``after_claim``  — the invitation is claimed (committed), SMTP not yet contacted;
* ``after_smtp``   — SMTP answered 250, the outcome not yet recorded (the window P3 calls ambiguous);
* ``after_record`` — ``sent`` is committed, the job not yet finished.

Before dying it writes one line to stderr (``panel-fault: died at WINDOW study=S participant=P``)
so a test can tell exactly which invitations a death interrupted.

It can never be on by accident: the setting is refused (``Settings`` raises at start-up) unless
``PANEL_ENV=test``, and ``point`` checks that again before it kills anything. Production code
calls ``point`` at each window; with the setting empty (always, outside tests) it returns at once.
"""

from __future__ import annotations

import functools
import os
import random
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

WINDOWS = ("after_claim", "after_smtp", "after_record")


class FaultInjectionRefused(RuntimeError):
    pass


@functools.cache
def parse(value: str) -> dict[str, float]:
    """``"after_smtp:0.3,after_claim"`` → ``{"after_smtp": 0.3, "after_claim": 1.0}``."""
    rates: dict[str, float] = {}
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        window, _, rate = part.partition(":")
        if window not in WINDOWS:
            raise ValueError(f"unknown fault window {window!r} (one of {', '.join(WINDOWS)})")
        try:
            probability = float(rate) if rate else 1.0
        except ValueError as exc:
            raise ValueError(f"not a probability: {rate!r}") from exc
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"not a probability: {rate!r}")
        rates[window] = probability
    return rates


def point(settings: Settings, window: str, *, study_id: int, participant_id: int) -> None:
    """Die here (SIGKILL, no cleanup) if the tests asked for it; otherwise nothing."""
    if not settings.fault_inject:
        return
    if settings.env != "test":  # Settings refuses this already; never kill a production process
        raise FaultInjectionRefused("PANEL_FAULT_INJECT is accepted only with PANEL_ENV=test")
    rate = parse(settings.fault_inject).get(window, 0.0)
    if rate and random.random() < rate:
        os.write(2, f"panel-fault: died at {window} study={study_id} participant={participant_id}\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)
