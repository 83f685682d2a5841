"""Settings that guard production: the secret key, the session lifetimes, the metrics networks."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets

import pytest

from config.settings import SettingsError, load_settings

PRODUCTION = {"PANEL_ENV": "production", "DATABASE_URL": "postgresql://panel@db/panel"}
HOW_TO_MAKE_ONE = "secrets.token_urlsafe(48)"


@pytest.mark.parametrize(
    "key",
    [
        "change-me-to-a-long-random-string",  # the .env.example value
        "CHANGE-ME-TO-A-LONG-RANDOM-STRING",
        "your-secret-key-here",
    ],
)
def test_production_refuses_published_placeholders(key: str) -> None:
    with pytest.raises(SettingsError, match="placeholder") as refused:
        load_settings(environ={**PRODUCTION, "SECRET_KEY": key})
    assert "SECRET_KEY" in str(refused.value) and HOW_TO_MAKE_ONE in str(refused.value)


@pytest.mark.parametrize(
    "key",
    [
        "a-sixteen-char-k",  # under 32 bytes
        secrets.token_hex(16),  # 32 characters but 16 bytes of randomness
        secrets.token_urlsafe(24),  # 192 bits
        "x" * 64,
        "ab" * 32,
        "0123456789" * 4,
    ],
)
def test_production_refuses_keys_under_32_bytes_of_entropy(key: str) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY") as refused:
        load_settings(environ={**PRODUCTION, "SECRET_KEY": key})
    assert HOW_TO_MAKE_ONE in str(refused.value)


@pytest.mark.parametrize(
    "make",
    [lambda: secrets.token_urlsafe(48), lambda: secrets.token_urlsafe(32), lambda: secrets.token_hex(32)],
)
def test_production_accepts_random_keys_of_32_bytes_or_more(make: object) -> None:
    for _ in range(200):
        key = make()  # type: ignore[operator]
        assert load_settings(environ={**PRODUCTION, "SECRET_KEY": key}).secret_key == key


def test_development_keeps_its_default_key() -> None:
    assert load_settings(environ={}).secret_key == "dev-only-insecure-secret-key"


def test_session_lifetimes_default_to_a_week_for_volunteers_and_12_hours_for_staff() -> None:
    settings = load_settings(environ={})
    assert settings.session_max_age("participant") == dt.timedelta(days=7)
    for role in ("coordinator", "reviewer", "admin"):
        assert settings.session_max_age(role) == dt.timedelta(hours=12)
    custom = load_settings(
        environ={"PANEL_SESSION_MAX_AGE_VOLUNTEER_HOURS": "24", "PANEL_SESSION_MAX_AGE_STAFF_HOURS": "2"}
    )
    assert custom.session_max_age("participant") == dt.timedelta(hours=24)
    assert custom.session_max_age("admin") == dt.timedelta(hours=2)
    with pytest.raises(SettingsError, match="PANEL_SESSION_MAX_AGE_STAFF_HOURS"):
        load_settings(environ={"PANEL_SESSION_MAX_AGE_STAFF_HOURS": "0"})


def test_metrics_networks_default_to_loopback_and_bad_ones_are_named() -> None:
    assert load_settings(environ={}).metrics_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1"),
    )
    with pytest.raises(SettingsError, match="PANEL_METRICS_ALLOW"):
        load_settings(environ={"PANEL_METRICS_ALLOW": "10.0.0.0/8,prometheus"})
    with pytest.raises(SettingsError, match="PANEL_METRICS_TOKEN"):
        load_settings(environ={"PANEL_METRICS_TOKEN": "short"})
