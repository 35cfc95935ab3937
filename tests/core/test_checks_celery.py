"""Trap 1 of issue 14: exports sent through Celery's unconfigured default app.

A project whose package never imports its Celery app (no ``from .celery import
app as celery_app`` in its ``__init__.py``) sends perfkit's tasks through the
app Celery makes up on first use: broker ``amqp://localhost``, where no worker
listens, so export jobs stay pending forever. ``check`` warns and ``health/``
fails, while a project that imports its app hears nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, _state, current_app
from django.contrib.auth.models import User
from django.test import Client

from perfkit.exports.checks import check_default_celery_app
from tests.core.projects import IMPORT_CELERY_APP, PERF_MIDDLEWARE, Project, exports_settings

IMPORT_LINE = "from .celery import app as celery_app"
state: Any = _state  # Celery's internal state module (not in celery-types' stubs)


@pytest.fixture
def no_project_app() -> Iterator[None]:
    """This process as if the project had never imported its Celery app; restored after."""
    saved = (state.default_app, state._tls.current_app)
    state.default_app = None
    state._tls.current_app = None
    try:
        yield
    finally:
        state.default_app, state._tls.current_app = saved


def exports_project(directory: Path, package_init: str) -> Project:
    return Project(
        apps=["perfkit", "perfkit.metrics", "perfkit.exports"],
        middleware=[PERF_MIDDLEWARE, *Project(apps=[]).middleware],
        settings=exports_settings(directory),
        package_init=package_init,
        debug=True,  # no rate-limit warning: only Celery's wiring is under test
    )


def test_check_warns_when_the_project_never_imports_its_celery_app(tmp_path: Path) -> None:
    run = exports_project(tmp_path, package_init="").check(tmp_path)
    assert run.returncode == 0, run.output
    assert run.perfkit_ids == ["perfkit_exports.W003"], run.output
    assert IMPORT_LINE in run.output and "docs/getting-started.md" in run.output


def test_check_is_silent_when_the_project_imports_its_celery_app(tmp_path: Path) -> None:
    run = exports_project(tmp_path, package_init=IMPORT_CELERY_APP).check(tmp_path)
    assert run.returncode == 0, run.output
    assert run.perfkit_ids == [], run.output


def test_the_test_suites_own_app_is_not_the_default() -> None:
    assert current_app.main == "perfkit_tests"
    assert check_default_celery_app() == []


@pytest.mark.usefixtures("no_project_app")
def test_no_app_yet_and_the_fallback_both_warn() -> None:
    """Before first use (no app at all) and after (Celery's own 'default' app)."""
    assert [m.id for m in check_default_celery_app()] == ["perfkit_exports.W003"]
    assert current_app.main == "default"  # what perfkit's next send_task would use
    assert [m.id for m in check_default_celery_app()] == ["perfkit_exports.W003"]


@pytest.mark.usefixtures("no_project_app")
def test_a_configured_default_app_is_fine() -> None:
    """Celery's default app configured (celeryconfig, CELERY_BROKER_URL) reaches a worker."""
    fallback = Celery("default", fixups=[], set_as_current=False, broker="memory://")
    state.default_app = fallback
    assert check_default_celery_app() == []


@pytest.mark.usefixtures("no_project_app")
def test_an_app_current_in_one_thread_only_warns() -> None:
    """Made current here but not the default: request threads would get the fallback."""
    app = Celery("proj", fixups=[], broker="memory://")  # current in this thread only
    assert state._tls.current_app is app and state.default_app is None
    assert [m.id for m in check_default_celery_app()] == ["perfkit_exports.W003"]
    app.set_default()
    assert check_default_celery_app() == []


@pytest.mark.django_db(databases=["default", "other"])
def test_health_reports_the_default_app_as_a_failure(
    client: Client, admin_user: User, no_project_app: None
) -> None:
    response = client.get("/perfkit/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail" and body["failing"] == ["celery_app"]
    assert "celery_broker" not in body["checks"]  # it would test amqp://localhost
    client.force_login(admin_user)
    detail = client.get("/perfkit/health/").json()["checks"]["celery_app"]["detail"]
    assert IMPORT_LINE in detail


@pytest.mark.django_db(databases=["default", "other"])
def test_health_passes_with_the_projects_app(client: Client) -> None:
    body = client.get("/perfkit/health/").json()
    assert body["status"] == "ok", body
    assert body["checks"]["celery_app"]["ok"] and body["checks"]["celery_broker"]["ok"]


def test_a_broker_set_on_the_projects_app_only_is_enough(tmp_path: Path) -> None:
    """No CELERY_BROKER_URL, but the app the project imports has its broker: no W001."""
    project = exports_project(tmp_path, package_init=IMPORT_CELERY_APP)
    project.settings = project.settings.replace('CELERY_BROKER_URL = "redis://127.0.0.1:1/0"', "")
    project.modules["proj/celery.py"] = (
        "from celery import Celery\n\napp = Celery('proj', broker='redis://127.0.0.1:1/0')\n"
    )
    run = project.check(tmp_path)
    assert "CELERY_BROKER_URL" not in project.settings
    assert run.perfkit_ids == [], run.output


def test_no_broker_anywhere_still_warns(tmp_path: Path) -> None:
    project = exports_project(tmp_path, package_init=IMPORT_CELERY_APP)
    project.settings = project.settings.replace('CELERY_BROKER_URL = "redis://127.0.0.1:1/0"', "")
    run = project.check(tmp_path)
    assert run.perfkit_ids == ["perfkit_exports.W001"], run.output
