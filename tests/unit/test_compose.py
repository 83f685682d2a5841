"""No Docker engine runs here, so the compose file is checked against the real entry points."""

from __future__ import annotations

import importlib
import secrets
import shlex
from pathlib import Path

import pytest
import yaml

from config.settings import ENV_NAMES, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def command_of(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_services_are_the_production_stack() -> None:
    services = compose()["services"]
    assert set(services) == {"web", "worker", "beat", "postgres", "redis", "mailcatcher"}
    for name in ("web", "worker", "postgres", "redis", "mailcatcher"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert services[name]["restart"] == "unless-stopped", f"{name} is not restarted (docs/operations.md)"
    for name in ("web", "worker", "beat"):
        assert services[name]["env_file"] == ".env"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_web_runs_migrations_then_gunicorn_on_the_app_factory() -> None:
    script = command_of(compose()["services"]["web"])[-1]
    assert script.startswith("panel db upgrade && exec gunicorn")
    target = shlex.split(script.split("exec ", 1)[1])[-1]
    module_name, call = target.split(":")
    assert call == "create_app()"
    assert callable(importlib.import_module(module_name).create_app)

    from panel_service.cli import main

    assert "upgrade" in main.commands["db"].commands  # type: ignore[attr-defined]


def test_worker_and_beat_use_the_workers_celery_app() -> None:
    services = compose()["services"]
    worker = command_of(services["worker"])
    beat = command_of(services["beat"])
    assert worker[:4] == ["celery", "-A", "workers", "worker"]
    assert beat[:4] == ["celery", "-A", "workers", "beat"]
    queues = worker[worker.index("-Q") + 1].split(",")
    from config.celery import QUEUES

    assert sorted(queues) == sorted(QUEUES)
    assert importlib.import_module("workers").app.main == "panel"


def test_redis_keeps_tasks() -> None:
    redis_command = command_of(compose()["services"]["redis"])
    assert "--appendonly" in redis_command and redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert redis_command[redis_command.index("--maxmemory-policy") + 1] == "noeviction"


def test_env_example_holds_valid_documented_settings() -> None:
    pairs = [
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    environ = {key: value for key, value in pairs}
    assert set(environ) <= set(ENV_NAMES), set(environ) - set(ENV_NAMES)
    with pytest.raises(SettingsError, match="placeholder"):
        load_settings(environ=environ)  # the example's SECRET_KEY must be replaced before use
    settings = load_settings(environ={**environ, "SECRET_KEY": secrets.token_urlsafe(48)})
    assert settings.env == "production"
    assert settings.database_url.startswith("postgresql+psycopg://")
    documented = (ROOT / "docs" / "configuration.md").read_text()
    for name in ENV_NAMES:
        assert f"`{name}`" in documented, f"{name} is not documented"
