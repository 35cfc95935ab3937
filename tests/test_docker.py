"""docker/compose.yaml agrees with the demo's settings (no Docker engine needed)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _demo_env():  # type: ignore[no-untyped-def]
    """demo_project/env.py alone: importing the demo package would make its Celery app
    the current one for the rest of the test session."""
    spec = importlib.util.spec_from_file_location("demo_env", ROOT / "demo_project" / "env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_env = _demo_env()
cache_from_url, database_from_url = _env.cache_from_url, _env.database_from_url
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
DEMO_ENV = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def test_services_and_their_commands() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"web", "worker", "beat", "postgres", "redis"}
    assert "gunicorn demo_project.wsgi:application" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A demo_project worker")
    assert services["beat"]["command"].startswith("celery -A demo_project beat")


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_app_services_get_the_demo_env_vars_and_they_parse(name: str, tmp_path: Path) -> None:
    env = COMPOSE["services"][name]["environment"]
    assert set(DEMO_ENV) <= set(env)
    database = database_from_url(env["DATABASE_URL"], tmp_path / "unused.sqlite3")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["HOST"] == "postgres" and database["CONN_MAX_AGE"] == 0
    assert "pool" in database["OPTIONS"]
    postgres = COMPOSE["services"]["postgres"]["environment"]
    assert (database["USER"], database["PASSWORD"], database["NAME"]) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    cache = cache_from_url(env["REDIS_URL"], tmp_path)
    assert cache["BACKEND"] == "django_redis.cache.RedisCache"
    assert env["CELERY_BROKER_URL"].startswith("redis://redis:")


def test_dockerfile_installs_the_extras_the_demo_needs() -> None:
    text = (ROOT / "docker" / "Dockerfile").read_text()
    for extra in ("redis", "celery", "postgres"):
        assert extra in text.split("pip install", 1)[1].split("\n", 1)[0]


@pytest.mark.skipif(
    not shutil.which("docker")
    or subprocess.run(["docker", "compose", "version"], check=False, capture_output=True).returncode
    != 0,
    reason="no docker compose plugin on this machine (the YAML is checked above)",
)
def test_docker_compose_config_accepts_the_file() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker" / "compose.yaml"), "config", "--quiet"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_web_and_worker_share_the_export_files_and_postgres_preloads_statements() -> None:
    services = COMPOSE["services"]
    mounts = {name: services[name].get("volumes", []) for name in ("web", "worker", "beat")}
    assert all("perfkit-var:/app/var" in found for found in mounts.values()), mounts
    assert "perfkit-var" in COMPOSE["volumes"]
    assert "shared_preload_libraries=pg_stat_statements" in services["postgres"]["command"]
    assert "ensure_admin()" in services["web"]["command"]
