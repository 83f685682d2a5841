"""Sign-in throttling that slows guessing without letting anyone lock a person out.

Three counters, all kept in the rate-limit storage (``RATELIMIT_STORAGE_URI``) and counted only
on failure:

- per (email, client): 5 failures are free, then each failure makes that client wait before
  its next try, doubling from 30 s up to 15 minutes. A client is its browser's device cookie
  for this email (see below) or else its address.
- per client address: 30 failures in 15 minutes, whatever the emails (one address trying many
  accounts).
- per email, from clients it does not know: after 20 failures in an hour from anywhere, such
  clients wait between tries, doubling from 15 s up to 60 s (many addresses trying one account).

A successful sign-in gives the browser a signed device cookie naming that email (by hash).
Attempts that present it are counted apart from the address and are exempt from the per-address
and per-email limits, so an attacker guessing someone's password — from one address or from
many, even behind the same NAT — slows down only the attacker and strangers' browsers; the owner
signs in from a browser they used before as usual. A new browser of the owner's waits at most a
minute between tries. Email keys are hashed (and kept for unknown emails too, so the limits say
nothing about who is registered).
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import time

from flask import request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import parse
from werkzeug.wrappers import Response

from panel_service.extensions import limiter, settings
from panel_service.services import accounts

DEVICE_COOKIE = "panel_device"
DEVICE_COOKIE_DAYS = 365
FAILURE_MEMORY_SECONDS = 3600


@dataclasses.dataclass(frozen=True)
class Backoff:
    scope: str
    free_failures: int
    first_wait_seconds: float
    longest_wait_seconds: float

    def wait_after(self, failures: int) -> float:
        over = failures - self.free_failures
        if over < 0:
            return 0.0
        return min(self.first_wait_seconds * 2 ** min(over, 20), self.longest_wait_seconds)


PER_CLIENT_AND_EMAIL = Backoff("pair", free_failures=5, first_wait_seconds=30, longest_wait_seconds=900)
PER_EMAIL_FROM_STRANGERS = Backoff("email", free_failures=20, first_wait_seconds=15, longest_wait_seconds=60)
FAILURES_PER_ADDRESS = parse("30 per 15 minutes")


@dataclasses.dataclass(frozen=True)
class Attempt:
    email_key: str
    client_key: str
    known_device: bool

    @property
    def backoffs(self) -> list[tuple[Backoff, str]]:
        keys = [(PER_CLIENT_AND_EMAIL, f"{self.email_key}:{self.client_key}")]
        if not self.known_device:
            keys.append((PER_EMAIL_FROM_STRANGERS, self.email_key))
        return keys


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings().secret_key, salt="panel.login-device")


def _address() -> str:
    return request.remote_addr or "-"


def attempt_for(email: str) -> Attempt:
    email_key = accounts.sha256(email.strip().lower())
    device = _device_id(email_key)
    if device is not None:
        return Attempt(email_key, f"device:{device}", known_device=True)
    return Attempt(email_key, f"ip:{_address()}", known_device=False)


def _device_id(email_key: str) -> str | None:
    raw = request.cookies.get(DEVICE_COOKIE, "")
    if not raw:
        return None
    try:
        value = _serializer().loads(raw, max_age=DEVICE_COOKIE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(value, dict) or value.get("email") != email_key:
        return None
    device = value.get("device")
    return device if isinstance(device, str) else None


def seconds_to_wait(attempt: Attempt) -> float:
    """0 when the attempt may go ahead, else how long this client must wait."""
    storage = limiter.storage
    now = time.time()
    waits = [
        storage.get_expiry(_wait_key(backoff, key)) - now
        for backoff, key in attempt.backoffs
        if storage.get(_wait_key(backoff, key)) > 0
    ]
    if not attempt.known_device and not limiter.limiter.test(FAILURES_PER_ADDRESS, "login-ip", _address()):
        reset_at, _remaining = limiter.limiter.get_window_stats(FAILURES_PER_ADDRESS, "login-ip", _address())
        waits.append(reset_at - now)
    return max([0.0, *waits])


def count_failure(attempt: Attempt) -> None:
    storage = limiter.storage
    for backoff, key in attempt.backoffs:
        failures = storage.incr(f"panel-login-failures:{backoff.scope}:{key}", FAILURE_MEMORY_SECONDS)
        wait = backoff.wait_after(failures)
        if wait:
            storage.clear(_wait_key(backoff, key))
            storage.incr(_wait_key(backoff, key), math.ceil(wait))
    if not attempt.known_device:
        limiter.limiter.hit(FAILURES_PER_ADDRESS, "login-ip", _address())


def count_success(attempt: Attempt, response: Response) -> None:
    """Forget this client's failures for the email and remember the browser for it."""
    storage = limiter.storage
    pair = f"{attempt.email_key}:{attempt.client_key}"
    storage.clear(f"panel-login-failures:{PER_CLIENT_AND_EMAIL.scope}:{pair}")
    storage.clear(_wait_key(PER_CLIENT_AND_EMAIL, pair))
    device = attempt.client_key.removeprefix("device:") if attempt.known_device else secrets.token_urlsafe(16)
    response.set_cookie(
        DEVICE_COOKIE,
        _serializer().dumps({"email": attempt.email_key, "device": device}),
        max_age=DEVICE_COOKIE_DAYS * 86400,
        path="/login",
        httponly=True,
        secure=settings().env == "production",
        samesite="Lax",
    )


def _wait_key(backoff: Backoff, key: str) -> str:
    return f"panel-login-wait:{backoff.scope}:{key}"
