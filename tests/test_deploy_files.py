"""The compose file and the image definition, checked by parsing them (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_services_and_roles() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"bot", "intake-local", "worker-local", "redis", "intake", "worker"}
    assert services["bot"].get("profiles") is None, "the embedded default must start without a profile"
    assert services["intake"]["environment"]["BOT_ROLE"] == "intake"
    assert services["worker"]["environment"]["BOT_ROLE"] == "worker"
    for name in ("intake", "worker"):
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert "redis" in services[name]["depends_on"]
    assert "--appendonly" in services["redis"]["command"]
    # One host without Redis: an intake and one worker on the same database.
    assert services["intake-local"]["environment"] == {"BOT_ROLE": "intake"}
    assert services["worker-local"]["environment"] == {"BOT_ROLE": "worker"}
    assert "deploy" not in services["worker-local"], "one delivering process per SQLite database"
    # Every process of one deployment shares the data volume (SQLite database and photo archive).
    for name in ("bot", "intake-local", "worker-local", "intake", "worker"):
        assert "data:/data" in services[name]["volumes"]
    assert set(compose["volumes"]) == {"data", "redis"}


def test_compose_environment_names_are_real_settings() -> None:
    known = {name.upper() for name in Settings.model_fields}
    for service in _compose()["services"].values():
        for name in service.get("environment", {}):
            assert name in known, name


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s?([A-Z_]+)=", text, flags=re.M))
    assert listed == {name.upper() for name in Settings.model_fields}


def test_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`{name.upper()}`" in readme, name


def test_dockerfile_runs_the_bot_from_the_locked_environment() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "uv sync --locked --no-dev" in dockerfile
    assert 'CMD ["python", "-m", "bot"]' in dockerfile
    for part in ("bot", "handlers", "storage", "locales"):
        assert f"COPY {part} ./{part}" in dockerfile


def test_compose_intake_is_checked_and_shares_one_webhook_secret() -> None:
    intake = _compose()["services"]["intake"]
    assert "/healthz" in " ".join(intake["healthcheck"]["test"])
    # Required from .env: compose refuses to start the intakes without it, naming the setting.
    assert intake["environment"]["WEBHOOK_SECRET"].startswith("${WEBHOOK_SECRET:?")
