"""The production files agree with the code: every setting documented, every compose command a real role."""

import re

import pytest

from tests.live import ROOT

yaml = pytest.importorskip("yaml")

SETTING = re.compile(r'env_(?:str|int|bool)\("([A-Z0-9_]+)"')
DOCUMENTED = re.compile(r"`([A-Z][A-Z0-9_]+)`")
APP_SERVICES = {"migrate", "web", "worker", "beat"}


def config_settings():
    return set(SETTING.findall((ROOT / "webapp" / "config.py").read_text()))


def documented():
    return set(DOCUMENTED.findall((ROOT / "docs" / "operations.md").read_text()))


def script_roles():
    script = (ROOT / "scripts" / "serve-prod.sh").read_text()
    case = script[script.index('case "${1:-all}" in') :]
    return set(re.findall(r"^\s+([a-z]+)\)", case, flags=re.MULTILINE))


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_setting_in_config_is_documented():
    assert config_settings() - documented() == set()


def test_every_variable_in_env_example_is_documented():
    names = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert names and names - documented() == set()


def test_compose_runs_every_role_of_the_script_and_nothing_else():
    services = compose()["services"]
    assert {"postgres", "redis", "mailpit"} | APP_SERVICES <= set(services)
    for name in APP_SERVICES:
        command = services[name]["command"]
        assert command[:1] == ["scripts/serve-prod.sh"] and command[1] == name and name in script_roles()
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_compose_settings_are_real_settings():
    environment = compose()["x-app"]["environment"]
    unknown = set(environment) - config_settings() - documented()
    assert unknown == set()
    assert environment["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["CELERY_BROKER_URL"].startswith("redis://")
