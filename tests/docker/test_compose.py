"""The production compose stack (docker/compose.yml, docker/compose.gpu.yml) and its env example.

These read the files only: no Docker engine, no database (no test here asks for the ``db``
fixture, so pytest-django blocks any query).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCKER_DIR = Path(__file__).resolve().parents[2] / "docker"

SERVICES = {"db", "redis", "ollama", "migrate", "web", "worker", "beat"}
ONE_SHOT = {"migrate"}
APP_SERVICES = {"migrate", "web", "worker", "beat"}
# Variables whose value is a secret: no default and no literal value anywhere.
SECRET_NAMES = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "POSTGRES_PASSWORD", "DATABASE_URL")
# Where each stateful service keeps its state.
STATE_PATHS = {
    "db": "/var/lib/postgresql/data",
    "redis": "/data",
    "ollama": "/root/.ollama",
    "web": "/app/var/media",
    "worker": "/app/var/media",
    "beat": "/app/var/celerybeat",
}
# Settings the app reads; DATABASE_URL is left out on purpose: compose builds it (tested below).
APP_SETTINGS = (
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "PUBLIC_HOST",
    "OLLAMA_BASE_URL",
    "EMAIL_URL",
    "DJANGO_LOG_LEVEL",
)
REQUIRED_INTERPOLATION = r"\$\{{{name}:?\?[^}}]*\}}"


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DOCKER_DIR / name).read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load("compose.yml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def gpu_override() -> dict[str, Any]:
    return _load("compose.gpu.yml")


@pytest.fixture(scope="module")
def env_example() -> dict[str, tuple[bool, str]]:
    """Each variable in the example: (commented out, value)."""
    lines = (DOCKER_DIR / ".env.production.example").read_text().splitlines()
    found = {}
    for line in lines:
        match = re.fullmatch(r"(#)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            found[match[2]] = (bool(match[1]), match[3])
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def _volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (volume name or host path), short and long syntax."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts[target] = source
    return mounts


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def test_compose_defines_every_service(services):
    assert services.keys() >= SERVICES


def test_stateful_services_keep_state_in_declared_named_volumes(compose, services):
    declared = compose.get("volumes") or {}
    for name, path in STATE_PATHS.items():
        source = _volume_mounts(services[name]).get(path)
        assert source, f"{name} keeps {path} in the container's writable layer"
        assert not source.startswith((".", "/", "~")), f"{name}: {source} is a host path"
        assert source in declared, f"{name}: volume {source!r} missing from top-level volumes"


def test_long_running_services_have_a_healthcheck(services):
    for name in SERVICES - ONE_SHOT:
        healthcheck = services[name].get("healthcheck") or {}
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"


def test_long_running_services_restart_unless_stopped(services):
    for name in SERVICES - ONE_SHOT:
        assert services[name].get("restart") == "unless-stopped", name


def test_migrate_runs_once(services):
    assert services["migrate"].get("restart") == "no"


def test_migrate_runs_shared_then_tenant_migrations(services):
    command = services["migrate"]["command"]
    command = command if isinstance(command, str) else " ".join(command)
    shared = command.index("migrate_schemas --shared")
    assert command.index("migrate_schemas --tenant") > shared
    assert _depends_on(services["migrate"]) == {"db": "service_healthy"}


def test_web_waits_for_healthy_db_and_redis_and_finished_migrations(services):
    depends = _depends_on(services["web"])
    assert depends["db"] == "service_healthy"
    assert depends["redis"] == "service_healthy"
    assert depends["migrate"] == "service_completed_successfully"


def test_workers_wait_for_finished_migrations(services):
    for name in ("worker", "beat"):
        assert _depends_on(services[name])["migrate"] == "service_completed_successfully", name


def test_web_health_is_readiness(services):
    test = services["web"]["healthcheck"]["test"]
    assert "/readyz" in (test if isinstance(test, str) else " ".join(test))


def test_app_services_reach_the_bundled_services(services):
    for name in APP_SERVICES:
        env = _environment(services[name])
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert "http://ollama:11434" in env["OLLAMA_BASE_URL"], name
        assert "@db:5432/" in env["DATABASE_URL"], name
        assert "redis://redis:6379" in env["REDIS_URL"], name
        assert services[name].get("env_file"), f"{name} does not read docker/.env"


def test_no_secret_has_a_default_in_any_compose_file():
    pattern = re.compile(r"\$\{\s*(" + "|".join(SECRET_NAMES) + r")\s*:?[-=]")
    for name in ("compose.yml", "compose.gpu.yml"):
        found = pattern.findall((DOCKER_DIR / name).read_text())
        assert not found, f"{name} gives {found} a default value"


def test_every_secret_value_is_a_required_interpolation(services):
    for service_name, service in services.items():
        env = _environment(service)
        for secret in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "POSTGRES_PASSWORD"):
            if secret in env:
                pattern = REQUIRED_INTERPOLATION.format(name=secret)
                assert re.fullmatch(pattern, env[secret]), f"{service_name}: {secret} literal"
        if service_name in APP_SERVICES:
            assert {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS"} <= env.keys(), service_name


def test_database_url_password_is_a_required_interpolation(services):
    for name in APP_SERVICES:
        url = _environment(services[name])["DATABASE_URL"]
        user = r"(?:\$\{[^}]*\}|[^:/@$]+)"
        match = re.fullmatch(rf"postgres(?:ql)?://{user}:(?P<password>.+)@db:5432/\S+", url)
        assert match, f"{name}: DATABASE_URL {url!r} has no password part"
        pattern = REQUIRED_INTERPOLATION.format(name="POSTGRES_PASSWORD")
        assert re.fullmatch(pattern, match["password"]), f"{name}: literal database password"


def test_database_password_is_required_for_the_db_service(services):
    password = _environment(services["db"])["POSTGRES_PASSWORD"]
    assert re.fullmatch(REQUIRED_INTERPOLATION.format(name="POSTGRES_PASSWORD"), password)


def test_gpu_override_reserves_nvidia_gpus_for_ollama(gpu_override):
    assert set(gpu_override["services"]) == {"ollama"}
    devices = gpu_override["services"]["ollama"]["deploy"]["resources"]["reservations"]["devices"]
    assert {
        "driver": "nvidia",
        "count": "all",
        "capabilities": ["gpu"],
    } in devices


def test_files_the_stack_refers_to_exist(services):
    build = services["web"]["build"]
    assert (DOCKER_DIR / build["context"] / build["dockerfile"]).is_file()
    init_dir = _volume_mounts(services["db"])["/docker-entrypoint-initdb.d"]
    init_sql = (DOCKER_DIR / init_dir / "01-extensions.sql").read_text()
    assert "CREATE SCHEMA IF NOT EXISTS extensions;" in init_sql
    assert "CREATE EXTENSION IF NOT EXISTS vector SCHEMA extensions;" in init_sql
    probe = services["web"]["healthcheck"]["test"]
    script = next(part for part in probe if part.startswith("/app/docker/"))
    assert (DOCKER_DIR / Path(script).name).is_file()


def test_env_example_leaves_every_secret_empty(env_example):
    for secret in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "POSTGRES_PASSWORD"):
        assert env_example.get(secret) == (False, ""), f"{secret}: list it uncommented, empty"


def test_env_example_lists_every_app_setting(env_example):
    missing = [name for name in APP_SETTINGS if name not in env_example]
    assert not missing


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_env_example_documents_every_compose_variable(compose, gpu_override, env_example):
    used = {
        name
        for text in (*_strings(compose), *_strings(gpu_override))
        # `$${NAME}` is expanded inside the container, not by compose.
        for name in re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text)
    }
    assert "SECRET_KEY" in used
    assert used - env_example.keys() == set()
